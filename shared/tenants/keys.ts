/**
 * A tenant's two Key Vault keys (docs/wire.md), through the official KeyClient: `writeback-{t}-enc`
 * (RSA 2048) and `writeback-{t}-sig` (EC P-256), hardware-protected unless WRITEBACK_KEY_PROTECTION
 * says `software`. Idempotent: an enabled latest version is used as it is; a missing key is created;
 * a disabled one (after a disable) gets a new version, so a re-enabled tenant never reuses the keys
 * its old agent held.
 */
import type { KeyClient, KeyVaultKey } from '@azure/keyvault-keys';
import { isoDurationToMs } from '../domain/index.js';
import { encryptionKeyName, signatureKeyName } from '../wire/index.js';

export type KeyProtection = 'hsm' | 'software';

export interface TenantKeyIds {
  /** Versioned key ids. */
  encryptionKeyId: string;
  signatureKeyId: string;
  encryptionKeyCreatedAt?: string;
  encryptionKeyExpiresAt?: string;
  signatureKeyCreatedAt?: string;
  signatureKeyExpiresAt?: string;
}

/** Key Vault's rotation policy for the tenant's keys (see shared/rollover): expiry and Notify only. */
export interface KeyExpiryPolicy {
  /** ISO-8601 duration, e.g. P396D. */
  expiresIn: string;
  notifyBefore: string;
}

export interface EnsuredKeys {
  ids: TenantKeyIds;
  /** Whether a new version was made (a first enable, or a re-enable after a disable). */
  created: boolean;
}

function httpStatusOf(error: unknown): number | undefined {
  const rest = error as { name?: string; statusCode?: number } | undefined;
  return rest?.name === 'RestError' ? rest.statusCode : undefined;
}

async function latestVersion(keys: KeyClient, name: string): Promise<KeyVaultKey | undefined> {
  try {
    return await keys.getKey(name);
  } catch (error) {
    if (httpStatusOf(error) === 404) return undefined;
    throw error;
  }
}

function versionedId(key: KeyVaultKey): string {
  if (!key.id || !key.properties.version) throw new Error(`Key Vault returned ${key.name} without a version`);
  return key.id;
}

async function ensureKey(
  keys: KeyClient,
  name: string,
  policy: KeyExpiryPolicy,
  create: (expiresOn: Date) => Promise<KeyVaultKey>,
): Promise<{ key: KeyVaultKey; created: boolean }> {
  const latest = await latestVersion(keys, name);
  if (latest && latest.properties.enabled !== false) return { key: latest, created: false };
  const key = await create(new Date(Date.now() + isoDurationToMs(policy.expiresIn)));
  // The rotation policy gives every later version (made by the rollover's rotateKey) its expiry.
  await keys.updateKeyRotationPolicy(name, {
    expiresIn: policy.expiresIn,
    lifetimeActions: [{ action: 'Notify', timeBeforeExpiry: policy.notifyBefore }],
  });
  return { key, created: true };
}

function iso(date: Date | undefined): string | undefined {
  return date?.toISOString();
}

export async function ensureTenantKeys(
  keys: KeyClient,
  tenantId: string,
  protection: KeyProtection,
  policy: KeyExpiryPolicy,
): Promise<EnsuredKeys> {
  const hsm = protection === 'hsm';
  const tags = { tenant: tenantId, purpose: 'writeback' };
  const encName = encryptionKeyName(tenantId);
  const sigName = signatureKeyName(tenantId);
  const enc = await ensureKey(keys, encName, policy, (expiresOn) =>
    keys.createRsaKey(encName, {
      keySize: 2048,
      hsm,
      keyOps: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
      tags,
      expiresOn,
    }),
  );
  const sig = await ensureKey(keys, sigName, policy, (expiresOn) =>
    keys.createEcKey(sigName, { curve: 'P-256', hsm, keyOps: ['sign', 'verify'], tags, expiresOn }),
  );
  const optional = (name: keyof TenantKeyIds, value: string | undefined) => (value ? { [name]: value } : {});
  return {
    ids: {
      encryptionKeyId: versionedId(enc.key),
      signatureKeyId: versionedId(sig.key),
      ...optional('encryptionKeyCreatedAt', iso(enc.key.properties.createdOn)),
      ...optional('encryptionKeyExpiresAt', iso(enc.key.properties.expiresOn)),
      ...optional('signatureKeyCreatedAt', iso(sig.key.properties.createdOn)),
      ...optional('signatureKeyExpiresAt', iso(sig.key.properties.expiresOn)),
    },
    created: enc.created || sig.created,
  };
}

/**
 * Disables every version of the tenant's keys: the old agent can no longer decrypt or sign, while
 * the keys stay (Key Vault keeps them for audit; a re-enable adds a new version).
 */
export async function disableTenantKeys(keys: KeyClient, tenantId: string): Promise<void> {
  for (const name of [encryptionKeyName(tenantId), signatureKeyName(tenantId)]) {
    const versions: string[] = [];
    try {
      for await (const properties of keys.listPropertiesOfKeyVersions(name)) {
        if (properties.enabled !== false && properties.version) versions.push(properties.version);
      }
    } catch (error) {
      if (httpStatusOf(error) === 404) continue;
      throw error;
    }
    for (const version of versions) await keys.updateKeyProperties(name, version, { enabled: false });
  }
}
