/**
 * Names of a tenant's Service Bus queues and Key Vault keys (docs/wire.md), and the parsing of
 * versioned Key Vault key ids. One place, so that the pipeline, the agent and the key rollover
 * timer can never disagree about a name.
 */
import { createHash } from 'node:crypto';
import { TenantId } from '../api/index.js';

/** The shared queue the result-correlation function reads; every tenant's replies queue forwards into it. */
export const SHARED_REPLIES_QUEUE = 'writeback-replies';

/**
 * The one session of a tenant's request queue (a session queue): every message the cloud sends there
 * carries it. The tenant's agents compete for its lock, so exactly one of them (the active agent)
 * receives requests at a time, and its session state holds the exactly-once record they share
 * (docs/architecture.md, "Two agents per tenant").
 */
export const REQUEST_SESSION_ID = 'requests';

/**
 * The session of one agent on its tenant's request queue: key rollover control messages addressed to
 * that agent, so that every agent of the tenant (the standby too) gets its new SAS keys. Session ids
 * are at most 128 characters: a long agent id is shortened with a hash of it.
 */
export function agentSessionId(agentId: string): string {
  const id = `agent:${agentId}`;
  if (id.length <= 128) return id;
  const hash = createHash('sha256').update(agentId).digest('hex').slice(0, 32);
  return `agent:${agentId.slice(0, 89)}~${hash}`;
}

export type KeyPurpose = 'enc' | 'sig';

/**
 * A tenant id that is safe to build queue and key names from. On top of the API's `TenantId`
 * pattern (reused, not repeated) two rules keep tenants apart on shared infrastructure:
 * - lower case only: Service Bus entity names and Key Vault key names are case-insensitive, so
 *   `Contoso` and `contoso` would share one queue and one key;
 * - not `replies` and not ending in `-replies`: tenant `x-replies` would have the request queue
 *   `writeback-x-replies`, which is tenant `x`'s replies queue, and tenant `replies` would read the
 *   shared `writeback-replies`.
 * Returns the id unchanged, or throws a RangeError that says why (a tenant id is not secret).
 */
export function wireTenantId(tenantId: string): string {
  const parsed = TenantId.safeParse(tenantId);
  if (!parsed.success)
    throw new RangeError(`Invalid tenant id: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return tenantId;
}

/** Whether `tenantId` passes {@link wireTenantId}. */
export function isWireTenantId(tenantId: string): boolean {
  try {
    wireTenantId(tenantId);
    return true;
  } catch {
    return false;
  }
}

/** `writeback-{t}`: requests, cloud → agent (the agent listens only). */
export function requestQueueName(tenantId: string): string {
  return `writeback-${wireTenantId(tenantId)}`;
}

/** `writeback-{t}-replies`: results and heartbeats, agent → cloud (the agent sends only); forwards to the shared queue. */
export function repliesQueueName(tenantId: string): string {
  return `writeback-${wireTenantId(tenantId)}-replies`;
}

/** `writeback-{t}-enc` (RSA 2048) or `writeback-{t}-sig` (EC P-256). */
export function keyName(tenantId: string, purpose: KeyPurpose): string {
  return `writeback-${wireTenantId(tenantId)}-${purpose}`;
}

export function encryptionKeyName(tenantId: string): string {
  return keyName(tenantId, 'enc');
}

export function signatureKeyName(tenantId: string): string {
  return keyName(tenantId, 'sig');
}

/**
 * The tenant whose key of `purpose` this is, or undefined when `name` is no such key name. The
 * suffix is fixed, so `writeback-a-enc-sig` is tenant `a-enc`'s signature key, never ambiguous.
 */
export function tenantOfKeyName(name: string, purpose: KeyPurpose): string | undefined {
  const prefix = 'writeback-';
  const suffix = `-${purpose}`;
  if (!name.startsWith(prefix) || !name.endsWith(suffix)) return undefined;
  const tenantId = name.slice(prefix.length, name.length - suffix.length);
  return isWireTenantId(tenantId) ? tenantId : undefined;
}

export interface KeyId {
  /** The vault's origin without a trailing slash, e.g. `https://myvault.vault.azure.net`. */
  vaultUrl: string;
  name: string;
  version: string;
}

/** Key Vault: key names are 1-127 letters, digits and hyphens. */
const KEY_NAME = /^[0-9A-Za-z-]{1,127}$/;
/** Key Vault versions are 32 hex digits; accept any short alphanumeric token so other stores work too. */
const KEY_VERSION = /^[0-9A-Za-z]{1,64}$/;

/**
 * Parses a versioned key id, `https://{vault}/keys/{name}/{version}`. Versionless ids, other
 * paths, query strings, fragments, credentials, non-canonical spellings and non-HTTPS schemes are refused
 * (RangeError): a key id decides which vault gets our token and which key version decrypts.
 */
export function parseKeyId(keyId: string): KeyId {
  let url: URL;
  try {
    url = new URL(keyId);
  } catch {
    throw new RangeError('Invalid key id: not a URL');
  }
  if (url.protocol !== 'https:') throw new RangeError('Invalid key id: not https');
  const segments = url.pathname.split('/');
  // ['', 'keys', name, version]
  if (segments.length !== 4 || segments[0] !== '' || segments[1] !== 'keys') {
    throw new RangeError('Invalid key id: expected /keys/{name}/{version}');
  }
  const name = segments[2] ?? '';
  const version = segments[3] ?? '';
  if (!KEY_NAME.test(name)) throw new RangeError('Invalid key id: bad key name');
  if (!KEY_VERSION.test(version)) throw new RangeError('Invalid key id: missing or bad key version');
  // Canonical form only: no credentials, query, fragment, default port, dot segments or escapes.
  if (keyId !== `${url.origin}/keys/${name}/${version}`)
    throw new RangeError('Invalid key id: not canonical');
  return { vaultUrl: url.origin, name, version };
}

/** Builds a versioned key id; `vaultUrl` may carry a trailing slash (as KEYVAULT_URI often does). */
export function formatKeyId(vaultUrl: string, name: string, version: string): string {
  const keyId = `${new URL(vaultUrl).origin}/keys/${name}/${version}`;
  parseKeyId(keyId);
  return keyId;
}
