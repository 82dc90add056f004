/**
 * Replies from the agent (docs/wire.md): results and heartbeats, each a compact JWS (ES256) signed
 * with the tenant's `writeback-{t}-sig` EC P-256 key, sent on `writeback-{t}-replies`.
 *
 * Signing: the private key stays in Key Vault, whose `sign` takes a SHA-256 digest and returns the
 * raw signature r || s (IEEE P1363, 64 bytes for P-256), not DER (observed by the Key Vault SDK
 * teams: Azure/azure-keyvault-java#58, Azure/azure-sdk-for-js#16487). That is exactly the JWS
 * ES256 signature (RFC 7518 §3.4), so the JWS is assembled here around `sign`: jose only signs
 * with keys it holds locally.
 *
 * Verification (cloud side) uses jose with the cached public key of the versioned `kid`.
 *
 * Freshness: every reply is a JWT with `iat` (when it was signed) and `exp`.
 * - results: exp = iat + 24 h. A duplicate or replayed result changes nothing anyway (results are
 *   recorded once per operation); the expiry only bounds how long a captured reply stays usable.
 * - heartbeats: exp = iat + 11 min by default (2 × the 5-minute interval + 1 minute, the cloud's
 *   staleness threshold): an older heartbeat could not make the agent look online.
 * The verifier allows 2 minutes of clock skew and refuses anything issued more than 24 h ago or
 * in the future. The cloud should record a heartbeat's signed `now`, not the time it received it.
 */
import { OPERATION_ID_PATTERN } from '../domain/index.js';
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { base64url, decodeProtectedHeader, errors, jwtVerify, type CryptoKey, type JWK } from 'jose';
import { z } from 'zod';
import {
  OPERATION_OUTCOMES,
  POLICY_REASONS,
  type DirectoryPolicy,
  type OperationOutcome,
  type PolicyReason,
} from '../domain/index.js';
import { ReplyError } from './errors.js';
import { parseKeyId, tenantOfKeyName, wireTenantId } from './names.js';

export const REPLY_ALGORITHM = 'ES256';
export type ReplyAlgorithm = typeof REPLY_ALGORITHM;

export const RESULT_TYPE = 'writeback-result+jwt';
export const HEARTBEAT_TYPE = 'writeback-heartbeat+jwt';
export const CREDENTIALS_ACK_TYPE = 'writeback-credentials-ack+jwt';

export const RESULT_LIFETIME_SECONDS = 24 * 60 * 60;
export const DEFAULT_HEARTBEAT_LIFETIME_SECONDS = 11 * 60;
/** Oldest `iat` the verifier accepts, whatever `exp` says. */
const MAX_REPLY_AGE_SECONDS = 24 * 60 * 60;
const CLOCK_TOLERANCE_SECONDS = 120;

export interface ResultReply {
  tenantId: string;
  operationId: string;
  outcome: OperationOutcome;
  /** With PasswordPolicy, and only then: which rule failed. */
  reason?: PolicyReason;
  /** Short and non-secret: never a password, never AD's raw text. */
  detail?: string;
  finishedAt: Date;
}

/**
 * `online`: the agent holds the tenant's request session and applies requests (the active agent);
 * `standby`: it runs and can reach the queues, but another agent holds the session; it takes over
 * when that one stops or dies; `going-offline`: the last heartbeat of a graceful stop.
 */
export const AGENT_STATES = ['online', 'standby', 'going-offline'] as const;
export type AgentState = (typeof AGENT_STATES)[number];

export interface HeartbeatReply {
  tenantId: string;
  agentId: string;
  agentVersion: string;
  startedAt: Date;
  now: Date;
  policy: DirectoryPolicy;
  /** See {@link AgentState}. */
  state: AgentState;
}

/**
 * The agent's answer to a key rollover's control message: it now receives and sends with the new
 * SAS keys (this reply itself went out on the new Send key), so the cloud may retire the old ones.
 */
export interface CredentialsAck {
  tenantId: string;
  /** The control message's operation id. */
  rolloverId: string;
  agentId: string;
  acknowledgedAt: Date;
}

export type VerifiedReply = (
  | { kind: 'result'; result: ResultReply }
  | { kind: 'heartbeat'; heartbeat: HeartbeatReply }
  | { kind: 'credentialsAck'; credentialsAck: CredentialsAck }
) & {
  /** The versioned key id that signed it. */
  keyId: string;
  issuedAt: Date;
  expiresAt: Date;
};

/**
 * The agent's signing key in Key Vault: an adapter over `CryptographyClient.sign('ES256', digest)`
 * of one version of `writeback-{t}-sig`. `kid` is that versioned key id.
 */
export interface ReplySigner {
  readonly kid: string;
  sign(algorithm: ReplyAlgorithm, digest: Buffer): Promise<Buffer>;
}

/** The public key of a versioned `kid`, fetched once per version and cached by the caller. */
export type ReplyKeyResolver = (kid: string) => Promise<KeyObject | CryptoKey | JWK>;

// ---- schemas ----------------------------------------------------------------------------------

const Tenant = z.string().refine((value) => {
  try {
    wireTenantId(value);
    return true;
  } catch {
    return false;
  }
}, 'not a valid tenant id');

const Instant = z.iso.datetime();
const Seconds = z.number().int().nonnegative();

const ResultClaims = z
  .object({
    tenantId: Tenant,
    operationId: z.string().regex(OPERATION_ID_PATTERN),
    outcome: z.enum(OPERATION_OUTCOMES),
    reason: z.enum(POLICY_REASONS).optional(),
    detail: z.string().max(500).optional(),
    finishedAt: Instant,
    iat: Seconds,
    exp: Seconds,
  })
  .refine((claims) => (claims.outcome === 'PasswordPolicy') === (claims.reason !== undefined), {
    message: 'reason goes with PasswordPolicy, and only with it',
  });

const CredentialsAckClaims = z.object({
  tenantId: Tenant,
  rolloverId: z.string().regex(OPERATION_ID_PATTERN),
  agentId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/),
  acknowledgedAt: Instant,
  iat: Seconds,
  exp: Seconds,
});

const Count = z.number().int().nonnegative().max(1_000_000);

const HeartbeatClaims = z.object({
  tenantId: Tenant,
  agentId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/),
  agentVersion: z.string().min(1).max(64),
  startedAt: Instant,
  now: Instant,
  policy: z.object({
    minLength: Count,
    complexity: z.boolean(),
    historyLength: Count,
    minimumAgeSeconds: z.number().int().nonnegative(),
    lockoutThreshold: Count,
  }),
  state: z.enum(AGENT_STATES),
  iat: Seconds,
  exp: Seconds,
});

// ---- signing (agent side) ---------------------------------------------------------------------

function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/** Signs `claims` as a compact JWS of type `typ` through the signer (also used by record-seal.ts). */
export async function signClaims(
  typ: string,
  claims: { tenantId: string } & Record<string, unknown>,
  signer: ReplySigner,
): Promise<string> {
  let keyTenant: string | undefined;
  try {
    keyTenant = tenantOfKeyName(parseKeyId(signer.kid).name, 'sig');
  } catch {
    keyTenant = undefined;
  }
  if (keyTenant !== claims.tenantId) {
    throw new ReplyError('wrongKey', `the signer's kid is not tenant ${claims.tenantId}'s signature key`);
  }
  const header = { alg: REPLY_ALGORITHM, kid: signer.kid, typ };
  const signingInput = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(claims))}`;
  const digest = createHash('sha256').update(signingInput).digest();
  const signature = await signer.sign(REPLY_ALGORITHM, digest);
  if (signature.length !== 64) {
    throw new ReplyError('badSignature', 'the signer returned a signature that is not 64 bytes of r || s');
  }
  return `${signingInput}.${base64url.encode(signature)}`;
}

function schemaError(error: z.ZodError): ReplyError {
  const detail = error.issues
    .map((issue) => `${issue.path.join('.') || 'payload'} ${issue.message}`)
    .join('; ');
  return new ReplyError('malformed', detail);
}

/** Signs a result; `now` is the signing time (a recorded result re-sent later keeps its finishedAt). */
export async function signResult(
  result: ResultReply,
  signer: ReplySigner,
  now: Date = new Date(),
): Promise<string> {
  const iat = seconds(now);
  const claims = {
    tenantId: result.tenantId,
    operationId: result.operationId,
    outcome: result.outcome,
    ...(result.reason !== undefined ? { reason: result.reason } : {}),
    ...(result.detail !== undefined ? { detail: result.detail } : {}),
    finishedAt: result.finishedAt.toISOString(),
    iat,
    exp: iat + RESULT_LIFETIME_SECONDS,
  };
  const checked = ResultClaims.safeParse(claims);
  if (!checked.success) throw schemaError(checked.error);
  return signClaims(RESULT_TYPE, claims, signer);
}

/** Signs a credentials acknowledgement, issued at `ack.acknowledgedAt`, valid like a result. */
export async function signCredentialsAck(ack: CredentialsAck, signer: ReplySigner): Promise<string> {
  const iat = seconds(ack.acknowledgedAt);
  const claims = {
    tenantId: ack.tenantId,
    rolloverId: ack.rolloverId,
    agentId: ack.agentId,
    acknowledgedAt: ack.acknowledgedAt.toISOString(),
    iat,
    exp: iat + RESULT_LIFETIME_SECONDS,
  };
  const checked = CredentialsAckClaims.safeParse(claims);
  if (!checked.success) throw schemaError(checked.error);
  return signClaims(CREDENTIALS_ACK_TYPE, claims, signer);
}

/** Signs a heartbeat, issued at `heartbeat.now`. */
export async function signHeartbeat(
  heartbeat: HeartbeatReply,
  signer: ReplySigner,
  lifetimeSeconds: number = DEFAULT_HEARTBEAT_LIFETIME_SECONDS,
): Promise<string> {
  const iat = seconds(heartbeat.now);
  const claims = {
    tenantId: heartbeat.tenantId,
    agentId: heartbeat.agentId,
    agentVersion: heartbeat.agentVersion,
    startedAt: heartbeat.startedAt.toISOString(),
    now: heartbeat.now.toISOString(),
    policy: { ...heartbeat.policy },
    state: heartbeat.state,
    iat,
    exp: iat + lifetimeSeconds,
  };
  const checked = HeartbeatClaims.safeParse(claims);
  if (!checked.success) throw schemaError(checked.error);
  return signClaims(HEARTBEAT_TYPE, claims, signer);
}

// ---- verification (cloud side) ----------------------------------------------------------------

/**
 * Parses the public JWK of one version of a `writeback-{t}-sig` key, as `KeyClient.getKey(...).key`
 * returns it (bytes) or as plain JSON (base64url), into a KeyObject for {@link verifyReply}.
 */
export function importSignatureKey(jwk: {
  kty?: string;
  crv?: string;
  x?: Uint8Array | string;
  y?: Uint8Array | string;
}): KeyObject {
  if ((jwk.kty !== 'EC' && jwk.kty !== 'EC-HSM') || jwk.crv !== 'P-256' || !jwk.x || !jwk.y) {
    throw new ReplyError('wrongKey', 'not an EC P-256 public key');
  }
  const coordinate = (value: Uint8Array | string) =>
    typeof value === 'string' ? value : Buffer.from(value).toString('base64url');
  return createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: coordinate(jwk.x), y: coordinate(jwk.y) },
    format: 'jwk',
  });
}

function joseFailure(error: unknown): ReplyError {
  if (error instanceof ReplyError) return error;
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new ReplyError('badSignature', 'the signature does not verify');
  }
  if (error instanceof errors.JWTExpired) return new ReplyError('expired', 'the reply has expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    // A timestamp that fails its check is a matter of time; a missing or non-numeric one, of form.
    const timing = ['iat', 'exp', 'nbf'].includes(error.claim) && error.reason === 'check_failed';
    return new ReplyError(
      timing ? 'expired' : 'malformed',
      `claim ${error.claim} is not acceptable (${error.reason})`,
    );
  }
  if (error instanceof errors.JOSEAlgNotAllowed)
    return new ReplyError('wrongAlgorithm', 'only ES256 is accepted');
  return new ReplyError('malformed', 'not a valid compact JWS');
}

/** The tenant whose `writeback-{t}-sig` key a `kid` names, or undefined for anything else. */
export function signingTenantOf(kid: unknown): string | undefined {
  try {
    return typeof kid === 'string' ? tenantOfKeyName(parseKeyId(kid).name, 'sig') : undefined;
  } catch {
    return undefined;
  }
}

/** The public key of `kid` from the resolver; a resolver failure is ReplyError('unknownKey'). */
export async function signingKeyOf(
  kid: string,
  resolveKey: ReplyKeyResolver,
): Promise<KeyObject | CryptoKey | JWK> {
  try {
    return await resolveKey(kid);
  } catch (error) {
    throw new ReplyError('unknownKey', `no public key for ${kid}`, { cause: error });
  }
}

/**
 * Verifies a reply (cloud side) and returns it typed. Refuses, with a ReplyError whose `reason`
 * says why: anything but a compact JWS with alg ES256; a `kid` that is not a versioned
 * `writeback-{t}-sig` key; a key the resolver cannot provide; a bad signature; a payload that
 * fails the schema; a payload naming another tenant than the signing key's; an expired reply.
 * The resolver only ever sees well-formed `writeback-{t}-sig` key ids; it should fetch from the
 * configured vault only.
 */
export async function verifyReply(
  jws: unknown,
  resolveKey: ReplyKeyResolver,
  options: { now: Date },
): Promise<VerifiedReply> {
  if (typeof jws !== 'string' && !(jws instanceof Uint8Array)) throw new ReplyError('malformed', 'not text');
  const token = typeof jws === 'string' ? jws : Buffer.from(jws).toString('utf8');
  const parts = token.split('.');
  if (parts.length !== 3) throw new ReplyError('malformed', 'not a compact JWS');
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new ReplyError('malformed', 'the protected header does not decode');
  }
  if (header.alg === 'none' || parts[2] === '') throw new ReplyError('unsigned', 'the reply is not signed');
  if (header.alg !== REPLY_ALGORITHM) throw new ReplyError('wrongAlgorithm', 'only ES256 is accepted');
  const kid = header.kid;
  const keyTenant = signingTenantOf(kid);
  if (!keyTenant || typeof kid !== 'string') {
    throw new ReplyError('wrongKey', 'kid is not a versioned writeback-{tenant}-sig key id');
  }
  const kind =
    header.typ === RESULT_TYPE
      ? 'result'
      : header.typ === HEARTBEAT_TYPE
        ? 'heartbeat'
        : header.typ === CREDENTIALS_ACK_TYPE
          ? 'credentialsAck'
          : undefined;
  if (!kind) throw new ReplyError('malformed', 'unknown typ');

  const key = await signingKeyOf(kid, resolveKey);

  let payload;
  try {
    ({ payload } = await jwtVerify(token, key, {
      algorithms: [REPLY_ALGORITHM],
      typ: header.typ,
      currentDate: options.now,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      maxTokenAge: MAX_REPLY_AGE_SECONDS,
      requiredClaims: ['iat', 'exp'],
    }));
  } catch (error) {
    throw joseFailure(error);
  }

  const envelope = { keyId: kid, issuedAt: new Date(0), expiresAt: new Date(0) };
  if (kind === 'result') {
    const claims = ResultClaims.safeParse(payload);
    if (!claims.success) throw schemaError(claims.error);
    if (claims.data.tenantId !== keyTenant) {
      throw new ReplyError(
        'wrongTenant',
        `a reply of tenant ${claims.data.tenantId} signed with ${keyTenant}'s key`,
      );
    }
    const { iat, exp, finishedAt, reason, detail, ...rest } = claims.data;
    return {
      ...envelope,
      issuedAt: new Date(iat * 1000),
      expiresAt: new Date(exp * 1000),
      kind,
      result: {
        ...rest,
        ...(reason !== undefined ? { reason } : {}),
        ...(detail !== undefined ? { detail } : {}),
        finishedAt: new Date(finishedAt),
      },
    };
  }
  if (kind === 'credentialsAck') {
    const claims = CredentialsAckClaims.safeParse(payload);
    if (!claims.success) throw schemaError(claims.error);
    if (claims.data.tenantId !== keyTenant) {
      throw new ReplyError(
        'wrongTenant',
        `a reply of tenant ${claims.data.tenantId} signed with ${keyTenant}'s key`,
      );
    }
    const { iat, exp, acknowledgedAt, ...rest } = claims.data;
    return {
      ...envelope,
      issuedAt: new Date(iat * 1000),
      expiresAt: new Date(exp * 1000),
      kind,
      credentialsAck: { ...rest, acknowledgedAt: new Date(acknowledgedAt) },
    };
  }
  const claims = HeartbeatClaims.safeParse(payload);
  if (!claims.success) throw schemaError(claims.error);
  if (claims.data.tenantId !== keyTenant) {
    throw new ReplyError(
      'wrongTenant',
      `a reply of tenant ${claims.data.tenantId} signed with ${keyTenant}'s key`,
    );
  }
  const { iat, exp, startedAt, now, ...rest } = claims.data;
  return {
    ...envelope,
    issuedAt: new Date(iat * 1000),
    expiresAt: new Date(exp * 1000),
    kind,
    heartbeat: { ...rest, startedAt: new Date(startedAt), now: new Date(now) },
  };
}
