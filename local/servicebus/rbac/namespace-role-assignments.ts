/**
 * Who holds which Service Bus data role where: at the namespace (`/`) or at one queue (`/queues/{name}`),
 * as in Azure, where a role is assigned on the namespace's resource id or on one entity's. The rights an
 * identity has on an entity are those its roles at either scope grant.
 */
import {
  grants,
  InvalidAssignmentError,
  RoleAssignments,
  type RoleAssignmentInput,
} from '../../entra/role-assignments.js';
import type { AccessRight } from '../auth/sas.js';
import { RIGHT_ACTIONS, ROLES } from './roles.js';

const QUEUE_SCOPE = /^\/queues\/(.+)$/i;

export function normalizeScope(scope: string | undefined): string {
  const s = (scope ?? '/').trim().replace(/\/+$/, '');
  if (s === '') return '/';
  const match = QUEUE_SCOPE.exec(s);
  if (!match) {
    throw new InvalidAssignmentError(`scope must be "/" or "/queues/{name}", not ${JSON.stringify(scope)}`);
  }
  return `/queues/${match[1]!.toLowerCase()}`;
}

export class NamespaceRoleAssignments extends RoleAssignments {
  constructor(initial: readonly RoleAssignmentInput[] = []) {
    super({ roles: ROLES, normalizeScope }, initial);
  }

  /**
   * The rights `principalId` holds on queue `queue` (undefined: the namespace itself); an empty set
   * when it holds no Service Bus data role there at all.
   */
  rightsOn(principalId: string, queue: string | undefined): Set<AccessRight> {
    const scopes = queue === undefined ? ['/'] : ['/', `/queues/${queue.toLowerCase()}`];
    const roles = this.rolesAt(principalId, scopes);
    const rights = new Set<AccessRight>();
    for (const [right, action] of Object.entries(RIGHT_ACTIONS) as [AccessRight, string][]) {
      if (roles.some((role) => grants(role, action))) rights.add(right);
    }
    return rights;
  }
}
