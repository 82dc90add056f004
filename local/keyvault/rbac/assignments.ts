/**
 * Key Vault's role assignments: an identity (`oid`) holds a role at the vault's scope (`/`) or at one key's
 * (`/keys/{name}`), as in Azure where the scope is the vault's resource id with or without `/keys/{name}`.
 * The assignments themselves are the shared RBAC model (local/entra/role-assignments.ts).
 */
import {
  InvalidAssignmentError,
  RoleAssignments,
  type RoleAssignmentInput,
} from '../../entra/role-assignments.js';
import { ROLES } from './roles.js';

export {
  InvalidAssignmentError,
  type RoleAssignment,
  type RoleAssignmentInput,
} from '../../entra/role-assignments.js';

const KEY_SCOPE = /^\/keys\/([0-9a-zA-Z-]{1,127})$/;

export function normalizeScope(scope: string | undefined): string {
  const s = (scope ?? '/').trim();
  if (s === '/' || s === '') return '/';
  const match = KEY_SCOPE.exec(s.replace(/\/+$/, ''));
  if (!match)
    throw new InvalidAssignmentError(`scope must be "/" or "/keys/{name}", not ${JSON.stringify(scope)}`);
  return `/keys/${match[1]!.toLowerCase()}`;
}

export class VaultRoleAssignments extends RoleAssignments {
  constructor(initial: readonly RoleAssignmentInput[] = []) {
    super({ roles: ROLES, normalizeScope }, initial);
  }

  /** Whether `principalId` may perform `action` on the vault (`keyName` undefined) or on key `keyName`. */
  isAllowed(principalId: string, action: string, keyName?: string): boolean {
    const scopes = keyName === undefined ? ['/'] : ['/', `/keys/${keyName.toLowerCase()}`];
    return this.allows(principalId, action, scopes);
  }
}
