/**
 * Azure RBAC as the emulators check it: built-in roles (by name or role definition id) grant data
 * actions (`*` matches any rest of an action), and an identity (`oid`) holds roles at scopes. A request
 * is allowed when a role held at any scope that covers its resource grants its action. Each emulator
 * brings its roles and says which scopes exist (Key Vault: the vault and its keys; Service Bus: the
 * namespace and its entities).
 */
import { randomUUID } from 'node:crypto';

export interface RoleDefinition {
  name: string;
  id: string;
  dataActions: readonly string[];
}

export interface RoleAssignmentInput {
  /** The identity's object id (`oid` of its tokens). */
  principalId: string;
  /** A role name or role definition id. */
  role: string;
  /** Default `/`: the whole resource (vault, namespace). */
  scope?: string;
  /** Default: a new UUID. */
  id?: string;
}

export interface RoleAssignment {
  id: string;
  principalId: string;
  roleDefinitionName: string;
  roleDefinitionId: string;
  scope: string;
}

export class InvalidAssignmentError extends Error {}

/** The role named `nameOrId` among `roles` (its name, case-insensitive, or its role definition id). */
export function findRole(roles: readonly RoleDefinition[], nameOrId: string): RoleDefinition | undefined {
  const wanted = nameOrId.trim().toLowerCase();
  return roles.find((role) => role.name.toLowerCase() === wanted || role.id === wanted);
}

function matches(pattern: string, action: string): boolean {
  const p = pattern.toLowerCase();
  const a = action.toLowerCase();
  if (!p.includes('*')) return p === a;
  const [head, tail] = [p.slice(0, p.indexOf('*')), p.slice(p.indexOf('*') + 1)];
  return a.startsWith(head) && a.endsWith(tail) && a.length >= head.length + tail.length;
}

export function grants(role: RoleDefinition, action: string): boolean {
  return role.dataActions.some((pattern) => matches(pattern, action));
}

export interface RoleCatalog {
  roles: readonly RoleDefinition[];
  /** The canonical form of a scope; throws InvalidAssignmentError for one that does not exist. */
  normalizeScope(scope: string | undefined): string;
}

export class RoleAssignments {
  private readonly assignments = new Map<string, RoleAssignment>();

  constructor(
    private readonly catalog: RoleCatalog,
    initial: readonly RoleAssignmentInput[] = [],
  ) {
    for (const input of initial) this.assign(input);
  }

  /** Adds (or replaces, for the same id) an assignment. Throws InvalidAssignmentError for an unknown role or bad scope. */
  assign(input: RoleAssignmentInput): RoleAssignment {
    const role = findRole(this.catalog.roles, input.role);
    if (!role) throw new InvalidAssignmentError(`unknown role ${JSON.stringify(input.role)}`);
    if (typeof input.principalId !== 'string' || input.principalId.trim() === '') {
      throw new InvalidAssignmentError('principalId is required');
    }
    const assignment: RoleAssignment = {
      id: input.id ?? randomUUID(),
      principalId: input.principalId.trim().toLowerCase(),
      roleDefinitionName: role.name,
      roleDefinitionId: role.id,
      scope: this.catalog.normalizeScope(input.scope),
    };
    this.assignments.set(assignment.id, assignment);
    return assignment;
  }

  remove(id: string): boolean {
    return this.assignments.delete(id);
  }

  list(): RoleAssignment[] {
    return [...this.assignments.values()];
  }

  /** The roles `principalId` holds at any of `scopes` (canonical forms). */
  rolesAt(principalId: string, scopes: readonly string[]): RoleDefinition[] {
    const oid = principalId.toLowerCase();
    const found: RoleDefinition[] = [];
    for (const assignment of this.assignments.values()) {
      if (assignment.principalId !== oid || !scopes.includes(assignment.scope)) continue;
      const role = findRole(this.catalog.roles, assignment.roleDefinitionId);
      if (role) found.push(role);
    }
    return found;
  }

  /** Whether a role of `principalId` at one of `scopes` grants `action`. */
  allows(principalId: string, action: string, scopes: readonly string[]): boolean {
    return this.rolesAt(principalId, scopes).some((role) => grants(role, action));
  }
}
