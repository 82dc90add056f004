/**
 * When a tenant's keys roll, how long a replaced version stays usable, and what Key Vault's own
 * rotation policy says. Pure functions of the settings and the tenant's row: every instance
 * computes the same answer.
 */
import { createHash } from 'node:crypto';
import { msToIsoDuration } from '../domain/index.js';
import type { TenantRecord } from './tenant-registry.js';
import { parseKeyId } from '../wire/index.js';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** Tenants due in the same period are spread over at most a week (or a tenth of a short period). */
const MAX_SPREAD_MS = 7 * DAY_MS;
/** Key Vault refuses a rotation policy whose expiry is shorter than 28 days. */
const MIN_EXPIRY_MS = 28 * DAY_MS;
/** The near-expiry notification: 30 days before expiry (7 days when the expiry itself is short). */
const NOTIFY_BEFORE_MS = 30 * DAY_MS;
const SHORT_NOTIFY_BEFORE_MS = 7 * DAY_MS;
/**
 * Beyond TTL + sync wait + the expiry grace of pending operations: the verifier's clock skew
 * (2 minutes) and a timer that runs a little late.
 */
const GRACE_MARGIN_MS = 2 * MINUTE_MS;
/** A claimed rollover that has not finished by then was abandoned (its instance stopped). */
export const ROLLOVER_CLAIM_TIMEOUT_MS = 2 * MINUTE_MS;
/** Past nextRolloverAt by more than this, the keys are `overdue` (the timer is not doing its job). */
export const OVERDUE_AFTER_MS = DAY_MS;

export interface RolloverPolicy {
  /** KEY_ROLLOVER_AFTER. */
  periodMs: number;
  /**
   * How long a replaced version stays enabled: a request sealed just before the roll can still be
   * opened and answered (message TTL + sync wait + the operations' expiry grace + margin), and a
   * reply signed just before it still verifies.
   */
  graceMs: number;
  /** How long the agent may take to acknowledge new SAS keys before the status says `overdue`. */
  credentialsOverdueMs: number;
  /** Key Vault rotation policy: expiry of each new version, and when to notify before it. */
  expiresIn: string;
  notifyBefore: string;
}

export function rolloverPolicy(settings: {
  keyRolloverAfterMs: number;
  messageTtlMs: number;
  syncWaitMs: number;
}): RolloverPolicy {
  const periodMs = settings.keyRolloverAfterMs;
  const expiryGraceMs = Math.min(MINUTE_MS, settings.messageTtlMs);
  // A little over two periods: a timer that missed a whole period still leaves a period to notice.
  const expiryMs = Math.max(MIN_EXPIRY_MS, 2 * periodMs + Math.ceil(periodMs / 10));
  const notifyMs = expiryMs > 2 * NOTIFY_BEFORE_MS ? NOTIFY_BEFORE_MS : SHORT_NOTIFY_BEFORE_MS;
  return {
    periodMs,
    graceMs: settings.messageTtlMs + settings.syncWaitMs + expiryGraceMs + GRACE_MARGIN_MS,
    credentialsOverdueMs: Math.min(DAY_MS, periodMs),
    expiresIn: msToIsoDuration(expiryMs),
    notifyBefore: msToIsoDuration(notifyMs),
  };
}

/**
 * A fixed offset per tenant in [0, spread): tenants enabled on the same day fall due on different
 * nights. Derived from the tenant id, so every instance agrees and it never changes.
 */
export function tenantOffsetMs(tenantId: string, periodMs: number): number {
  const spread = Math.min(MAX_SPREAD_MS, Math.floor(periodMs / 10));
  const hash = createHash('sha256').update(tenantId).digest().readUInt32BE(0);
  return Math.floor((hash / 2 ** 32) * spread);
}

/** When the oldest current key reaches the period, less the tenant's offset; undefined without keys. */
export function nextRolloverAt(record: TenantRecord, periodMs: number): Date | undefined {
  const created = [record.encryptionKeyCreatedAt, record.signatureKeyCreatedAt]
    .filter((at): at is string => at !== undefined)
    .map((at) => Date.parse(at));
  if (created.length === 0) return undefined;
  return new Date(Math.min(...created) + periodMs - tenantOffsetMs(record.tenantId, periodMs));
}

/** Replaced versions whose grace has not passed at `now`. */
export function inGrace(record: TenantRecord, graceMs: number, now: Date) {
  return (record.replacedKeys ?? []).filter((k) => Date.parse(k.replacedAt) + graceMs > now.getTime());
}

function sameKey(a: string, b: string): boolean {
  try {
    const x = parseKeyId(a);
    const y = parseKeyId(b);
    return x.name === y.name && x.version === y.version;
  } catch {
    return false;
  }
}

/**
 * Whether a reply signed with `kid` may count: the tenant's current `-sig` version, or a replaced
 * one still in grace. Anything else — an older or disabled version, a random one — is refused
 * before any Key Vault lookup, so forged replies cannot drive the vault's request rate.
 */
export function acceptsSigningKey(record: TenantRecord, kid: string, graceMs: number, now: Date): boolean {
  if (record.signatureKeyId && sameKey(record.signatureKeyId, kid)) return true;
  return inGrace(record, graceMs, now).some((k) => sameKey(k.keyId, kid));
}
