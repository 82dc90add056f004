/** The authenticated caller of an HTTP function, as its verified token describes it. */
import { UserPrincipalName } from '../api/index.js';
import { ForbiddenError, UnauthenticatedError } from '../errors/index.js';
import { SID_PATTERN, type UserIdentifier } from '../domain/index.js';

export interface Caller {
  /** `tid`: always equal to the route's tenant id. */
  tenantId: string;
  /** `oid`: the user's (or service principal's) object id in the tenant. */
  objectId: string;
  /** `upn`, when the token carries it. */
  upn?: string;
  /** `onprem_sid`: the on-premises SID of a synchronised user. */
  onPremisesSid?: string;
  /** `roles`: application roles granted to the caller. */
  roles: string[];
  /** `azp`: the client application the token was issued to. */
  appId?: string;
}

/** Who made a change, for records and the audit trail: the object id, and the upn when there is one. */
export function actorOf(caller: Pick<Caller, 'objectId' | 'upn'>): { objectId: string; upn?: string } {
  return { objectId: caller.objectId, ...(caller.upn ? { upn: caller.upn } : {}) };
}

/** Throws 403 unless the caller holds `role`. */
export function requireRole(caller: Caller, role: string): void {
  if (!caller.roles.includes(role)) throw new ForbiddenError(`This operation requires the role ${role}.`);
}

/**
 * The on-premises user a `me/` route acts on (docs/api.md): the SID if the token carries one (it
 * survives renames), else the UPN. A token with neither (an application's) cannot use those routes,
 * nor can one whose claim is not a SID or a UPN: the request envelope could not carry it.
 */
export function onPremisesUserOf(caller: Caller): UserIdentifier {
  if (caller.onPremisesSid) {
    if (!SID_PATTERN.test(caller.onPremisesSid)) {
      throw new UnauthenticatedError("The token's onprem_sid is not a security identifier (S-1-…).");
    }
    return { kind: 'sid', value: caller.onPremisesSid };
  }
  if (caller.upn) {
    if (!UserPrincipalName.safeParse(caller.upn).success) {
      throw new UnauthenticatedError(
        "The token's upn is not a user principal name (name@suffix, at most 1024 bytes).",
      );
    }
    return { kind: 'upn', value: caller.upn };
  }
  throw new UnauthenticatedError(
    'The token identifies no on-premises user: it has neither onprem_sid nor upn.',
  );
}

/** The same, as one string (the SID or the UPN). */
export function userIdentifierOf(caller: Caller): string {
  return onPremisesUserOf(caller).value;
}
