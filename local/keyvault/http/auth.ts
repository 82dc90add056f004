/**
 * Authentication as Key Vault does it: a request without a bearer token gets 401 with a challenge that
 * names the authority (the vault's tenant) and the resource; a token must be signed by the vault's
 * issuer (keys found by OIDC discovery), be unexpired, and be meant for Key Vault.
 */
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { unauthorized, KeyVaultError } from './errors.js';
import type { TrustedFetch } from './trusted-fetch.js';

export const KEY_VAULT_RESOURCE = 'https://vault.azure.net';
/** What Key Vault accepts as `aud`: its resource URI (v1 tokens, with or without slash) or its application id (v2). */
export const KEY_VAULT_AUDIENCES = [
  KEY_VAULT_RESOURCE,
  `${KEY_VAULT_RESOURCE}/`,
  'cfa8b339-82a2-471a-a3c9-0fc0be7a4093',
];

/** Entra's default tolerance for clock skew. */
const CLOCK_TOLERANCE_SECONDS = 300;
/**
 * Validated tokens are remembered until they expire: a token's signature, issuer and audience cannot
 * change, and checking them again on every request would cost more than most operations.
 */
const MAX_CACHED_TOKENS = 1000;

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
  const issuer = options.issuer;
  const challenge = `Bearer authorization="${authorityOf(issuer)}", resource="${KEY_VAULT_RESOURCE}"`;
  let keys: Promise<JWTVerifyGetKey> | undefined;
  const validated = new Map<string, { caller: Caller; expiresAtMs: number }>();

  async function discoverKeys(): Promise<JWTVerifyGetKey> {
    const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const response = await options.fetch(url);
    if (response.status !== 200) throw new Error(`OIDC discovery of ${issuer} answered ${response.status}`);
    const document = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
    if (document.issuer !== issuer || typeof document.jwks_uri !== 'string') {
      throw new Error(`OIDC discovery of ${issuer} does not describe that issuer`);
    }
    return createRemoteJWKSet(new URL(document.jwks_uri), {
      [customFetch]: (url: string, init: { signal?: AbortSignal }) =>
        options.fetch(url, { ...(init.signal ? { signal: init.signal } : {}) }),
    });
  }

  function keySet(): Promise<JWTVerifyGetKey> {
    if (!keys) {
      keys = discoverKeys();
      keys.catch(() => (keys = undefined)); // a failed discovery is retried by the next request
    }
    return keys;
  }

  return {
    challenge,
    async authenticate(authorization) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
      if (!match) throw unauthorized('AKV10000: Request is missing a Bearer or PoP token.', challenge);
      const token = match[1]!;
      const cached = validated.get(token);
      if (cached && cached.expiresAtMs > Date.now()) return cached.caller;
      if (cached) validated.delete(token);
      let getKey: JWTVerifyGetKey;
      try {
        getKey = await keySet();
      } catch (cause) {
        throw new KeyVaultError(
          503,
          'ServiceUnavailable',
          `The token issuer could not be reached to verify the token: ${(cause as Error).message}`,
          undefined,
          { 'Retry-After': '5' },
        );
      }
      try {
        const { payload } = await jwtVerify(token, getKey, {
          issuer,
          audience: KEY_VAULT_AUDIENCES,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ['exp'],
        });
        if (typeof payload.oid !== 'string' || payload.oid === '') {
          throw unauthorized(
            "The token has no oid claim: Key Vault needs the caller's object id.",
            challenge,
          );
        }
        const caller: Caller = {
          oid: payload.oid,
          ...(typeof payload.tid === 'string' ? { tid: payload.tid } : {}),
          ...(typeof payload.azp === 'string'
            ? { appId: payload.azp }
            : typeof payload.appid === 'string'
              ? { appId: payload.appid }
              : {}),
        };
        if (validated.size >= MAX_CACHED_TOKENS) validated.delete(validated.keys().next().value!);
        validated.set(token, { caller, expiresAtMs: (payload.exp! + CLOCK_TOLERANCE_SECONDS) * 1000 });
        return caller;
      } catch (error) {
        if (error instanceof KeyVaultError) throw error;
        throw unauthorized(tokenErrorMessage(error, token), challenge);
      }
    },
  };
}

function tokenErrorMessage(error: unknown, token: string): string {
  if (error instanceof errors.JWTExpired) return 'Token validation failed: the token has expired.';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') {
      return `AKV10022: Invalid audience. Expected ${KEY_VAULT_RESOURCE}, found: ${audienceOf(token)}.`;
    }
    if (error.claim === 'iss') return 'Token validation failed: invalid issuer.';
    return `Token validation failed: claim ${error.claim} is not valid.`;
  }
  return 'Token validation failed: the token is malformed or its signature is not valid.';
}

function audienceOf(token: string): string {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      aud?: unknown;
    };
    return Array.isArray(payload.aud) ? payload.aud.join(',') : String(payload.aud);
  } catch {
    return 'unknown';
  }
}
