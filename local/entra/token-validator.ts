/**
 * Entra ID access tokens as an Azure resource checks them, for the emulators that accept them (Key Vault
 * on HTTPS, Service Bus on `$cbs` and its management API): signed by the one issuer the resource trusts
 * (keys found by OIDC discovery of that issuer), unexpired within Entra's clock skew, meant for the
 * resource (`aud`), and naming the caller (`oid`). Each emulator words its own refusals.
 */
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { TrustedFetch } from './trusted-fetch.js';

/** Entra's default tolerance for clock skew. */
export const CLOCK_TOLERANCE_SECONDS = 300;
/**
 * Validated tokens are remembered until they expire: a token's signature, issuer and audience cannot
 * change, and checking them again on every request would cost more than most operations.
 */
const MAX_CACHED_TOKENS = 1000;

export interface TokenCaller {
  oid: string;
  tid?: string;
  appId?: string;
  /** When the token expires (ms since the epoch), without the skew tolerance. */
  expiresAt: number;
}

export type TokenRefusal = 'expired' | 'audience' | 'issuer' | 'claims' | 'noOid' | 'malformed';

export class TokenValidationError extends Error {
  constructor(
    readonly reason: TokenRefusal,
    message: string,
    /** The token's `aud`, for messages that name it. */
    readonly audience?: string,
  ) {
    super(message);
    this.name = 'TokenValidationError';
  }
}

/** The issuer's keys could not be had (discovery or JWKS failed): the caller is not at fault. */
export class IssuerUnreachableError extends Error {
  constructor(cause: unknown) {
    super(`the token issuer could not be reached to verify the token: ${(cause as Error).message}`);
    this.name = 'IssuerUnreachableError';
  }
}

export interface TokenValidator {
  /** The caller of a valid token; throws TokenValidationError or IssuerUnreachableError otherwise. */
  validate(token: string): Promise<TokenCaller>;
}

export function createTokenValidator(options: {
  issuer: string;
  audiences: readonly string[];
  fetch: TrustedFetch;
}): TokenValidator {
  const { issuer } = options;
  let keys: Promise<JWTVerifyGetKey> | undefined;
  const validated = new Map<string, TokenCaller>();

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
    async validate(token) {
      const cached = validated.get(token);
      if (cached && cached.expiresAt + CLOCK_TOLERANCE_SECONDS * 1000 > Date.now()) return cached;
      if (cached) validated.delete(token);
      let getKey: JWTVerifyGetKey;
      try {
        getKey = await keySet();
      } catch (cause) {
        throw new IssuerUnreachableError(cause);
      }
      let payload;
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          issuer,
          audience: [...options.audiences],
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ['exp'],
        }));
      } catch (error) {
        throw refusal(error, token);
      }
      if (typeof payload.oid !== 'string' || payload.oid === '') {
        throw new TokenValidationError('noOid', "the token has no oid claim (the caller's object id)");
      }
      const caller: TokenCaller = {
        oid: payload.oid,
        expiresAt: payload.exp! * 1000,
        ...(typeof payload.tid === 'string' ? { tid: payload.tid } : {}),
        ...(typeof payload.azp === 'string'
          ? { appId: payload.azp }
          : typeof payload.appid === 'string'
            ? { appId: payload.appid }
            : {}),
      };
      if (validated.size >= MAX_CACHED_TOKENS) validated.delete(validated.keys().next().value!);
      validated.set(token, caller);
      return caller;
    },
  };
}

function refusal(error: unknown, token: string): TokenValidationError {
  if (error instanceof errors.JWTExpired) return new TokenValidationError('expired', 'the token has expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') {
      const audience = audienceOf(token);
      return new TokenValidationError('audience', `the token is meant for ${audience}`, audience);
    }
    if (error.claim === 'iss') return new TokenValidationError('issuer', 'the token has another issuer');
    return new TokenValidationError('claims', `claim ${error.claim} is not valid`);
  }
  return new TokenValidationError('malformed', 'the token is malformed or its signature is not valid');
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
