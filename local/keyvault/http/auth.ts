/**
 * Authentication as Key Vault does it: a request without a bearer token gets 401 with a challenge that
 * names the authority (the vault's tenant) and the resource; a token must be signed by the vault's
 * issuer (keys found by OIDC discovery), be unexpired, and be meant for Key Vault.
 */
import {
  createTokenValidator,
  IssuerUnreachableError,
  TokenValidationError,
} from '../../entra/token-validator.js';
import type { TrustedFetch } from '../../entra/trusted-fetch.js';
import { unauthorized, KeyVaultError } from './errors.js';

export const KEY_VAULT_RESOURCE = 'https://vault.azure.net';
/** What Key Vault accepts as `aud`: its resource URI (v1 tokens, with or without slash) or its application id (v2). */
export const KEY_VAULT_AUDIENCES = [
  KEY_VAULT_RESOURCE,
  `${KEY_VAULT_RESOURCE}/`,
  'cfa8b339-82a2-471a-a3c9-0fc0be7a4093',
];

export interface Caller {
  oid: string;
  tid?: string;
  appId?: string;
}

export interface Authenticator {
  /** The challenge header value of every 401. */
  readonly challenge: string;
  /** The caller of a request with this Authorization header; throws KeyVaultError 401 otherwise. */
  authenticate(authorization: string | undefined): Promise<Caller>;
}

/**
 * The challenge's authority: the issuer without Entra's `/v2.0` suffix, i.e. `{authority host}/{tenant}`,
 * because the SDK takes the tenant from the authority's path.
 */
export function authorityOf(issuer: string): string {
  return issuer.replace(/\/+$/, '').replace(/\/v2\.0$/, '');
}

export function createAuthenticator(options: { issuer: string; fetch: TrustedFetch }): Authenticator {
  const challenge = `Bearer authorization="${authorityOf(options.issuer)}", resource="${KEY_VAULT_RESOURCE}"`;
  const validator = createTokenValidator({ ...options, audiences: KEY_VAULT_AUDIENCES });

  return {
    challenge,
    async authenticate(authorization) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
      if (!match) throw unauthorized('AKV10000: Request is missing a Bearer or PoP token.', challenge);
      try {
        const { oid, tid, appId } = await validator.validate(match[1]!);
        return { oid, ...(tid ? { tid } : {}), ...(appId ? { appId } : {}) };
      } catch (error) {
        if (error instanceof IssuerUnreachableError) {
          throw new KeyVaultError(503, 'ServiceUnavailable', capitalized(error.message), undefined, {
            'Retry-After': '5',
          });
        }
        if (error instanceof TokenValidationError) throw unauthorized(refusalMessage(error), challenge);
        throw error;
      }
    },
  };
}

/** Key Vault's wording of each refusal. */
function refusalMessage(error: TokenValidationError): string {
  switch (error.reason) {
    case 'audience':
      return `AKV10022: Invalid audience. Expected ${KEY_VAULT_RESOURCE}, found: ${error.audience}.`;
    case 'issuer':
      return 'Token validation failed: invalid issuer.';
    case 'noOid':
      return "The token has no oid claim: Key Vault needs the caller's object id.";
    default:
      return `Token validation failed: ${error.message}.`;
  }
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
