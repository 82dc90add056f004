/**
 * Entra ID (OAuth) access to the namespace, as Service Bus grants it: a token of the namespace's tenant
 * meant for `https://servicebus.azure.net`, whose caller (`oid`) holds Azure Service Bus data roles
 * (Owner, Sender, Receiver) at the namespace or at the entity. A valid token turns into the same Grant a
 * SAS token gives, so links and management requests are checked one way whichever token came.
 */
import {
  IssuerUnreachableError,
  TokenValidationError,
  type TokenValidator,
} from '../../entra/token-validator.js';
import type { NamespaceRoleAssignments } from '../rbac/namespace-role-assignments.js';
import type { Grant } from './sas.js';

export const SERVICE_BUS_RESOURCE = 'https://servicebus.azure.net';
/** What Service Bus accepts as `aud`: its resource URI, with or without the slash the SDK's scope has. */
export const SERVICE_BUS_AUDIENCES = [SERVICE_BUS_RESOURCE, `${SERVICE_BUS_RESOURCE}/`];

/** A refused token: `status` 401 (the caller's fault) or 503 (the issuer could not be reached). */
export class EntraAccessError extends Error {
  constructor(
    readonly status: 401 | 503,
    message: string,
  ) {
    super(message);
    this.name = 'EntraAccessError';
  }
}

/** Service Bus's wording of a token it refuses (the codes it puts before the message). */
function refusal(error: TokenValidationError): string {
  switch (error.reason) {
    case 'expired':
      return 'ExpiredToken: The token is expired.';
    case 'audience':
      return `InvalidAudience: The token audience '${error.audience}' is not valid; expected '${SERVICE_BUS_RESOURCE}'.`;
    case 'issuer':
      return "InvalidIssuer: The token issuer is not the namespace's tenant.";
    case 'noOid':
      return "InvalidToken: The token has no oid claim (the caller's object id).";
    default:
      return `InvalidSignature: The token is not valid: ${error.message}.`;
  }
}

export class EntraAccess {
  constructor(
    private readonly validator: TokenValidator,
    readonly assignments: NamespaceRoleAssignments,
  ) {}

  /**
   * What `token` grants on `path` (the audience's entity path, lower case; '' for the namespace), whose
   * queue is `queue`. Refused when the token is invalid, or when its caller holds no data role there.
   */
  async grantFor(token: string, path: string, queue: string | undefined): Promise<Grant> {
    let caller;
    try {
      caller = await this.validator.validate(token);
    } catch (error) {
      if (error instanceof TokenValidationError) throw new EntraAccessError(401, refusal(error));
      if (error instanceof IssuerUnreachableError) throw new EntraAccessError(503, error.message);
      throw error;
    }
    const rights = this.assignments.rightsOn(caller.oid, queue);
    if (rights.size === 0) {
      throw new EntraAccessError(
        401,
        `Unauthorized access. The principal '${caller.oid}' holds no Azure Service Bus data role (Owner, Sender or Receiver) on '${path || '/'}' or on its namespace.`,
      );
    }
    return { scope: path, rights, expiresAt: caller.expiresAt, keyName: `oid:${caller.oid}` };
  }
}
