/**
 * Minting of access tokens shaped like Microsoft Entra ID v2 access tokens, so the functions validate
 * them on the same code path as Entra's (issuer per tenant, `tid`, `oid`, `roles`, RS256 with `kid`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import { TenantId } from '../../shared/api/schemas.js';
import { SIGNING_ALGORITHM, type SigningKey } from './signing-key.js';

/** The audience callers' tokens carry by default (AUTH_AUDIENCE of local.settings.sample.json). */
export const DEFAULT_AUDIENCE = 'api://writeback';

/** The default lifetime, as Entra's (60 to 90 minutes). */
export const DEFAULT_LIFETIME_SECONDS = 3600;

/** The client id of "the portal" that user tokens are issued to (`azp`) unless told otherwise. */
export const DEVELOPMENT_PORTAL_APP_ID = '4b3f2f7e-6c1d-4a51-9a40-0d3c8e7f5a11';

/** The application role that admin routes require (docs/api.md). */
export const ADMIN_ROLE = 'Writeback.Admin';

export interface MintOptions {
  tenant: string;
  /** The user's UPN (`upn` and `preferred_username`). A user needs a UPN or an oid. */
  upn?: string;
  /** Object id; defaults to a UUID derived from tenant and UPN, so a user always has the same one. */
  oid?: string;
  /** On-premises SID (`onprem_sid`), e.g. S-1-5-21-…. */
  onPremisesSid?: string;
  /** Display name (`name`). */
  name?: string;
  roles?: string[];
  /** `aud`; defaults to api://writeback. */
  audience?: string;
  lifetimeSeconds?: number;
  /** `nbf`; defaults to now. A date in the past with a short lifetime makes an expired token. */
  notBefore?: Date;
  /** The client the token was issued to (`azp`). */
  appId?: string;
  /** Delegated scopes (`scp`, space-separated in the token). */
  scopes?: string[];
  /** Overrides `iss`: only for tests of tokens from a foreign issuer. */
  issuer?: string;
}

/** A token for a service identity (client credentials grant). */
export interface AppTokenOptions {
  tenant: string;
  clientId: string;
  /** The service principal's object id; defaults to a UUID derived from tenant and client id. */
  objectId?: string;
  audience: string;
  roles?: string[];
  lifetimeSeconds?: number;
}

/** An OpenID Connect ID token for a signed-in user, as Entra ID v2 issues it to the client. */
export interface IdTokenOptions {
  tenant: string;
  upn: string;
  name?: string;
  /** The client it is issued to (`aud`). */
  clientId: string;
  /** The authorization request's nonce, echoed so that the client can bind the token to its request. */
  nonce?: string;
  roles?: string[];
}

export interface TokenMinter {
  /** The issuer of a tenant: `{baseUrl}/{tenant}/v2.0`. */
  issuer(tenant: string): string;
  mintToken(opts: MintOptions): Promise<string>;
  mintAppToken(opts: AppTokenOptions): Promise<string>;
  mintIdToken(opts: IdTokenOptions): Promise<string>;
}

/** The object id of a user: derived from tenant and UPN, so a user always has the same one. */
export function userObjectId(tenant: string, upn: string): string {
  return stableUuid(`user\n${tenant}\n${upn.toLowerCase()}`);
}

/** Whether `tenant` is a valid tenant id (the one pattern, docs/wire.md). */
export function isTenantId(tenant: string): boolean {
  return TenantId.safeParse(tenant).success;
}

/** A minter signing with `key` for issuers under `baseUrl` (e.g. http://127.0.0.1:7072). */
export function createTokenMinter(key: SigningKey, baseUrl: string): TokenMinter {
  const base = baseUrl.replace(/\/+$/, '');
  const issuer = (tenant: string): string => {
    assertTenant(tenant);
    return `${base}/${tenant}/v2.0`;
  };

  const sign = async (claims: JWTPayload, nbf: number, lifetimeSeconds: number): Promise<string> => {
    if (!Number.isFinite(lifetimeSeconds) || lifetimeSeconds <= 0) {
      throw new RangeError('lifetimeSeconds must be a positive number.');
    }
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ ...claims, uti: randomBytes(16).toString('base64url'), ver: '2.0' })
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, typ: 'JWT', kid: key.kid })
      .setIssuedAt(Math.min(now, nbf))
      .setNotBefore(nbf)
      .setExpirationTime(nbf + Math.floor(lifetimeSeconds))
      .sign(key.privateKey);
  };

  return {
    issuer,

    async mintToken(opts) {
      const iss = opts.issuer ?? issuer(opts.tenant);
      assertTenant(opts.tenant);
      if (!opts.upn && !opts.oid) throw new TypeError('A user token needs a upn or an oid.');
      const oid = opts.oid ?? userObjectId(opts.tenant, opts.upn!);
      const appId = opts.appId ?? DEVELOPMENT_PORTAL_APP_ID;
      const nbf = Math.floor((opts.notBefore?.getTime() ?? Date.now()) / 1000);
      const claims: JWTPayload = {
        iss,
        aud: opts.audience ?? DEFAULT_AUDIENCE,
        // Entra's `sub` is pairwise: the same user has a different subject in every application.
        sub: pairwiseSubject(oid, appId),
        oid,
        tid: opts.tenant,
        azp: appId,
        azpacr: '0',
        idtyp: 'user',
        ...(opts.upn ? { upn: opts.upn, preferred_username: opts.upn } : {}),
        ...(opts.name ? { name: opts.name } : {}),
        ...(opts.onPremisesSid ? { onprem_sid: opts.onPremisesSid } : {}),
        ...(opts.roles?.length ? { roles: [...opts.roles] } : {}),
        ...(opts.scopes?.length ? { scp: opts.scopes.join(' ') } : {}),
      };
      return sign(claims, nbf, opts.lifetimeSeconds ?? DEFAULT_LIFETIME_SECONDS);
    },

    async mintAppToken(opts) {
      const oid = opts.objectId ?? stableUuid(`app\n${opts.tenant}\n${opts.clientId}`);
      const claims: JWTPayload = {
        iss: issuer(opts.tenant),
        aud: opts.audience,
        sub: oid, // app-only tokens: sub is the service principal's object id, as in Entra
        oid,
        tid: opts.tenant,
        azp: opts.clientId,
        azpacr: '1', // authenticated with a client secret
        idtyp: 'app',
        ...(opts.roles?.length ? { roles: [...opts.roles] } : {}),
      };
      return sign(claims, Math.floor(Date.now() / 1000), opts.lifetimeSeconds ?? DEFAULT_LIFETIME_SECONDS);
    },

    async mintIdToken(opts) {
      const oid = userObjectId(opts.tenant, opts.upn);
      const claims: JWTPayload = {
        iss: issuer(opts.tenant),
        aud: opts.clientId,
        sub: pairwiseSubject(oid, opts.clientId),
        oid,
        tid: opts.tenant,
        preferred_username: opts.upn,
        ...(opts.name ? { name: opts.name } : {}),
        ...(opts.nonce ? { nonce: opts.nonce } : {}),
        ...(opts.roles?.length ? { roles: [...opts.roles] } : {}),
      };
      return sign(claims, Math.floor(Date.now() / 1000), DEFAULT_LIFETIME_SECONDS);
    },
  };
}

function assertTenant(tenant: string): void {
  if (!isTenantId(tenant)) {
    throw new RangeError(
      'The tenant id must be 1-63 letters, digits or hyphens, starting with a letter or digit.',
    );
  }
}

/** Namespace of the name-based UUIDs below (a random constant, fixed forever). */
const ID_NAMESPACE = Buffer.from('8c0f1b52d6a94e3f9b7e2a41c5d3e690', 'hex');

/**
 * A name-based UUID (RFC 9562 version 5: SHA-1 over namespace and name). Hand-written because it is a
 * few lines and node:crypto only makes random UUIDs.
 */
export function stableUuid(name: string): string {
  const hash = createHash('sha1').update(ID_NAMESPACE).update(name, 'utf8').digest().subarray(0, 16);
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function pairwiseSubject(oid: string, appId: string): string {
  return createHash('sha256').update(`${oid}\n${appId}`).digest().subarray(0, 32).toString('base64url');
}
