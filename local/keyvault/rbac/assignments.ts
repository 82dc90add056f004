/**
 * Role assignments: an identity (`oid`) holds a role at the vault's scope (`/`) or at one key's
 * (`/keys/{name}`), as in Azure where the scope is the vault's resource id with or without `/keys/{name}`.
 */
import { randomUUID } from 'node:crypto';
import { findRole, grants } from './roles.js';

export interface RoleAssignmentInput {
  /** The identity's object id (`oid` of its tokens). */
  principalId: string;
  /** A role name (e.g. "Key Vault Crypto User") or role definition id. */
  role: string;
  /** `/` (the vault) or `/keys/{name}`. Default `/`. */
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

const KEY_SCOPE = /^\/keys\/([0-9a-zA-Z-]{1,127})$/;

export class InvalidAssignmentError extends Error {}

export function normalizeScope(scope: string | undefined): string {
  const s = (scope ?? '/').trim();
  if (s === '/' || s === '') return '/';
  const match = KEY_SCOPE.exec(s.replace(/\/+$/, ''));
  if (!match)
    throw new InvalidAssignmentError(`scope must be "/" or "/keys/{name}", not ${JSON.stringify(scope)}`);
  return `/keys/${match[1]!.toLowerCase()}`;
}

export class RoleAssignments {
  private readonly assignments = new Map<string, RoleAssignment>();

  constructor(initial: readonly RoleAssignmentInput[] = []) {
    for (const input of initial) this.assign(input);
  }

  /** Adds (or replaces, for the same id) an assignment. Throws InvalidAssignmentError for an unknown role or bad scope. */
  assign(input: RoleAssignmentInput): RoleAssignment {
    const role = findRole(input.role);
    if (!role) throw new InvalidAssignmentError(`unknown role ${JSON.stringify(input.role)}`);
    if (typeof input.principalId !== 'string' || input.principalId.trim() === '') {
      throw new InvalidAssignmentError('principalId is required');
    }
    const assignment: RoleAssignment = {
      id: input.id ?? randomUUID(),
      principalId: input.principalId.trim().toLowerCase(),
      roleDefinitionName: role.name,
      roleDefinitionId: role.id,
      scope: normalizeScope(input.scope),
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

  /** Whether `principalId` may perform `action` on the vault (`keyName` undefined) or on key `keyName`. */
  isAllowed(principalId: string, action: string, keyName?: string): boolean {
    const oid = principalId.toLowerCase();
    const keyScope = keyName === undefined ? undefined : `/keys/${keyName.toLowerCase()}`;
    for (const assignment of this.assignments.values()) {
      if (assignment.principalId !== oid) continue;
      if (assignment.scope !== '/' && assignment.scope !== keyScope) continue;
      const role = findRole(assignment.roleDefinitionId);
      if (role && grants(role, action)) return true;
    }
    return false;
  }
}
