/**
 * Validation of callers' bearer tokens against OIDC discovery, the same way for Microsoft Entra ID in
 * Azure and for the development identity provider locally: only AUTH_ISSUER differs.
 *
 * The issuer depends on the token's tenant (`{tenantId}` in the template), so the token's claims are
 * first decoded without trust to learn `tid`; the signature, issuer, audience and lifetime are then
 * verified with that tenant's keys, and only then is `tid` compared with the route's tenant.
 */
import { createHash } from 'node:crypto';
import { RETRY_AFTER_SECONDS } from '../domain/index.js';
import {
  createRemoteJWKSet,
  decodeJwt,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { z } from 'zod';
import { TenantId } from '../api/index.js';
import { ForbiddenError, ProblemError, UnauthenticatedError } from '../errors/index.js';
import { settings } from '../config/index.js';
import type { Caller } from './caller.js';

export interface TokenValidatorOptions {
  /** AUTH_ISSUER: the issuer, where `{tenantId}` stands for the token's `tid`. */
  issuerTemplate: string;
  /** AUTH_AUDIENCE: the `aud` every token must carry. */
  audience: string;
  /** Allowed clock skew for `exp` and `nbf`. Default 60 s. */
  clockToleranceSeconds?: number;
  /** How long a discovery document is used before it is fetched again. Default 12 h. */
  discoveryCacheMs?: number;
  /** Timeout of each discovery or JWKS request. Default 5 s. */
  fetchTimeoutMs?: number;
}

export interface TokenValidator {
  /**
   * The caller behind an `Authorization` header on a route of tenant `routeTenantId`.
   * Throws UnauthenticatedError (401), ForbiddenError (403, token of another tenant) or
   * ProblemError 'ServiceUnavailable' (503, the identity provider cannot be reached).
   */
  authenticate(authorizationHeader: string | null | undefined, routeTenantId: string): Promise<Caller>;
}

const DEFAULT_CLOCK_TOLERANCE_SECONDS = 60;
const DEFAULT_DISCOVERY_CACHE_MS = 12 * 3_600_000; // Microsoft.IdentityModel refreshes every 12 h too
const DEFAULT_FETCH_TIMEOUT_MS = 5_000;
/** A tenant the identity provider does not know is remembered this long, so it is not asked per request. */
const UNKNOWN_TENANT_CACHE_MS = 60_000;
/** Bound on cached issuers: tenant ids come from callers, so the cache must not grow without limit. */
const MAX_CACHED_ISSUERS = 1_000;
/**
 * A token that verified is remembered by its SHA-256 for this long at most (never past its `exp`), so a
 * portal that sends the same token with every call pays for one signature check, not one per call.
 * Only tokens that passed every check are remembered; the route's tenant is compared on every call.
 */
const VERIFIED_TOKEN_CACHE_MS = 5 * 60_000;
const MAX_VERIFIED_TOKENS = 10_000;

const DiscoveryDocument = z.object({
  issuer: z.string(),
  jwks_uri: z.url({ protocol: /^https?$/ }),
});

interface IssuerEntry {
  expiresAt: number;
  keys: Promise<IssuerKeys>;
}

interface IssuerKeys {
  jwksUri: string;
  getKey: JWTVerifyGetKey;
}

export function createTokenValidator(opts: TokenValidatorOptions): TokenValidator {
  const clockTolerance = opts.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  const discoveryCacheMs = opts.discoveryCacheMs ?? DEFAULT_DISCOVERY_CACHE_MS;
  const fetchTimeoutMs = opts.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const issuers = new Map<string, IssuerEntry>();
  const verified = new Map<string, { until: number; payload: JWTPayload }>();

  function remembered(digest: string, now: number): JWTPayload | undefined {
    const entry = verified.get(digest);
    if (!entry) return undefined;
    if (entry.until > now) return entry.payload;
    verified.delete(digest);
    return undefined;
  }

  function remember(digest: string, payload: JWTPayload, now: number): void {
    const until = Math.min(now + VERIFIED_TOKEN_CACHE_MS, (payload.exp ?? 0) * 1000);
    if (until <= now) return;
    verified.set(digest, { until, payload });
    if (verified.size > MAX_VERIFIED_TOKENS) verified.delete(verified.keys().next().value!);
  }

  /** The verification keys of `issuer`, from a cached discovery document (one fetch at a time). */
  function keysOf(issuer: string): Promise<IssuerKeys> {
    const now = Date.now();
    const cached = issuers.get(issuer);
    if (cached && cached.expiresAt > now) return cached.keys;

    // On expiry, keep jose's key set (and its own JWKS cache) if the document still names the same URI.
    const previous = cached?.keys.catch(() => undefined);
    const keys = discover(issuer).then(async (jwksUri) => {
      const before = await previous;
      if (before?.jwksUri === jwksUri) return before;
      return { jwksUri, getKey: createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: fetchTimeoutMs }) };
    });
    const entry: IssuerEntry = { expiresAt: now + discoveryCacheMs, keys };
    issuers.delete(issuer);
    issuers.set(issuer, entry);
    if (issuers.size > MAX_CACHED_ISSUERS) issuers.delete(issuers.keys().next().value!);
    keys.catch((error: unknown) => {
      if (issuers.get(issuer) !== entry) return;
      // An unknown tenant is the caller's problem and will stay so for a while; a fault is retried.
      if (error instanceof UnauthenticatedError) entry.expiresAt = Date.now() + UNKNOWN_TENANT_CACHE_MS;
      else issuers.delete(issuer);
    });
    return keys;
  }

  /** Fetches the OIDC discovery document of `issuer` and returns its `jwks_uri`. */
  async function discover(issuer: string): Promise<string> {
    const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { accept: 'application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(fetchTimeoutMs),
      });
    } catch (cause) {
      throw unavailable('The identity provider could not be reached to verify the token.', cause);
    }
    if (response.status === 400 || response.status === 404) {
      await response.body?.cancel();
      // Entra answers 400 for a tenant that does not exist: no token of that tenant can be valid.
      throw new UnauthenticatedError("The token's tenant is not known to the identity provider.");
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw unavailable(`The identity provider answered ${response.status} to the discovery request.`);
    }
    let document: z.infer<typeof DiscoveryDocument>;
    try {
      document = DiscoveryDocument.parse(await response.json());
    } catch (cause) {
      throw unavailable("The identity provider's discovery document is malformed.", cause);
    }
    // OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was fetched for.
    if (document.issuer !== issuer) {
      throw unavailable("The identity provider's discovery document names another issuer than AUTH_ISSUER.");
    }
    return document.jwks_uri;
  }

  return {
    async authenticate(authorizationHeader, routeTenantId) {
      const token = bearerTokenOf(authorizationHeader);
      const digest = createHash('sha256').update(token).digest('base64url');
      const known = remembered(digest, Date.now());
      if (known) return callerOf(known, routeTenantId);

      let unverified: JWTPayload;
      try {
        unverified = decodeJwt(token);
      } catch {
        throw new UnauthenticatedError('The bearer token is malformed: it is not a JWT.');
      }
      const tid = unverified.tid;
      if (typeof tid !== 'string' || !TenantId.safeParse(tid).success) {
        throw new UnauthenticatedError('The token carries no valid tenant id (tid).');
      }
      const issuer = opts.issuerTemplate.replaceAll('{tenantId}', tid);
      const { getKey } = await keysOf(issuer);

      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          issuer,
          audience: opts.audience,
          algorithms: ['RS256'],
          clockTolerance,
          requiredClaims: ['exp', 'tid', 'oid'],
        }));
      } catch (error) {
        throw verificationProblem(error);
      }
      const caller = callerOf(payload, routeTenantId);
      remember(digest, payload, Date.now());
      return caller;
    },
  };
}

/** The caller of a verified token, on a route of `routeTenantId`. */
function callerOf(payload: JWTPayload, routeTenantId: string): Caller {
  if (payload.tid !== routeTenantId) {
    throw new ForbiddenError('The token was issued for another tenant than the one in the route.');
  }
  if (typeof payload.oid !== 'string' || !payload.oid) {
    throw new UnauthenticatedError('The token has no valid object id (oid).');
  }
  return callerFrom(routeTenantId, payload.oid, payload);
}

function bearerTokenOf(header: string | null | undefined): string {
  const parts = header?.trim().split(/\s+/) ?? [];
  if (!parts[0])
    throw new UnauthenticatedError('No bearer token: send the header Authorization: Bearer <token>.');
  // The scheme name is case-insensitive (RFC 9110 §11.1).
  if (parts[0].toLowerCase() !== 'bearer') {
    throw new UnauthenticatedError('The Authorization header must use the Bearer scheme.');
  }
  if (parts.length !== 2)
    throw new UnauthenticatedError('The Authorization header must be "Bearer <token>".');
  return parts[1]!;
}

/** Maps a jose verification failure to the caller's 401, or to 503 when the keys could not be fetched. */
function verificationProblem(error: unknown): ProblemError {
  if (error instanceof ProblemError) return error;
  if (error instanceof errors.JWTExpired) return new UnauthenticatedError('The token has expired.');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing')
      return new UnauthenticatedError(`The token lacks the "${error.claim}" claim.`);
    switch (error.claim) {
      case 'nbf':
        return new UnauthenticatedError('The token is not valid yet (nbf is in the future).');
      case 'aud':
        return new UnauthenticatedError('The token was issued for another audience.');
      case 'iss':
        return new UnauthenticatedError('The token was issued by another issuer.');
      default:
        return new UnauthenticatedError(`The token's "${error.claim}" claim is invalid.`);
    }
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new UnauthenticatedError('The token signature is invalid.');
  }
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return new UnauthenticatedError('The token is not signed with a key the issuer publishes.');
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return new UnauthenticatedError(
      'The token is signed with an algorithm that is not allowed (RS256 only).',
    );
  }
  if (
    error instanceof errors.JWSInvalid ||
    error instanceof errors.JWTInvalid ||
    error instanceof errors.JOSENotSupported
  ) {
    return new UnauthenticatedError('The bearer token is malformed.');
  }
  // What is left is fetching the key set: a timeout, a network error, a non-200 answer or a bad key set.
  return unavailable("The identity provider's signing keys could not be fetched.", error);
}

function unavailable(detail: string, cause?: unknown): ProblemError {
  return new ProblemError(
    'ServiceUnavailable',
    detail,
    { retryAfterSeconds: RETRY_AFTER_SECONDS },
    { cause },
  );
}

function callerFrom(tenantId: string, objectId: string, payload: JWTPayload): Caller {
  const text = (value: unknown) => (typeof value === 'string' && value ? value : undefined);
  const upn = text(payload.upn);
  const onPremisesSid = text(payload.onprem_sid);
  const appId = text(payload.azp) ?? text(payload.appid);
  const roles = Array.isArray(payload.roles)
    ? payload.roles.filter((r): r is string => typeof r === 'string')
    : [];
  return {
    tenantId,
    objectId,
    roles,
    ...(upn ? { upn } : {}),
    ...(onPremisesSid ? { onPremisesSid } : {}),
    ...(appId ? { appId } : {}),
  };
}

let processValidator: TokenValidator | undefined;

/** The validator of this process, configured from AUTH_ISSUER and AUTH_AUDIENCE (settings()). */
export function defaultTokenValidator(): TokenValidator {
  processValidator ??= createTokenValidator(settings().auth);
  return processValidator;
}

/** `defaultTokenValidator().authenticate(…)`: what the HTTP functions call. */
export function authenticate(
  authorizationHeader: string | null | undefined,
  routeTenantId: string,
): Promise<Caller> {
  return defaultTokenValidator().authenticate(authorizationHeader, routeTenantId);
}
