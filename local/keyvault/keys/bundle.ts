/** The keys API's wire format: KeyBundle, KeyItem, DeletedKeyBundle, KeyRotationPolicy. */
import { publicJwkMembers } from '../crypto/material.js';
import type { RotationPolicy, StoredKey, StoredKeyVersion } from './model.js';
import { DEFAULT_NOTIFY_ACTION } from './requests.js';

export interface Retention {
  days: number;
}

function recoveryLevel(retention: Retention): string {
  return retention.days >= 90 ? 'Recoverable+Purgeable' : 'CustomizedRecoverable+Purgeable';
}

export function attributesOf(version: StoredKeyVersion, retention: Retention): Record<string, unknown> {
  const a = version.attributes;
  return {
    enabled: a.enabled,
    ...(a.nbf !== undefined ? { nbf: a.nbf } : {}),
    ...(a.exp !== undefined ? { exp: a.exp } : {}),
    created: a.created,
    updated: a.updated,
    recoveryLevel: recoveryLevel(retention),
    recoverableDays: retention.days,
    exportable: a.exportable,
  };
}

export function keyId(vaultUrl: string, name: string, version?: string): string {
  return `${vaultUrl}/keys/${name}${version ? `/${version}` : ''}`;
}

export function keyBundle(
  vaultUrl: string,
  key: StoredKey,
  version: StoredKeyVersion,
  retention: Retention,
): Record<string, unknown> {
  return {
    key: {
      kid: keyId(vaultUrl, key.name, version.version),
      kty: version.kty,
      key_ops: [...version.keyOps],
      ...publicJwkMembers(version),
    },
    attributes: attributesOf(version, retention),
    ...(version.tags ? { tags: { ...version.tags } } : {}),
  };
}

function deletion(vaultUrl: string, key: StoredKey): Record<string, unknown> {
  return {
    recoveryId: `${vaultUrl}/deletedkeys/${key.name}`,
    deletedDate: key.deleted?.deletedDate,
    scheduledPurgeDate: key.deleted?.scheduledPurgeDate,
  };
}

export function deletedKeyBundle(
  vaultUrl: string,
  key: StoredKey,
  version: StoredKeyVersion,
  retention: Retention,
): Record<string, unknown> {
  return { ...keyBundle(vaultUrl, key, version, retention), ...deletion(vaultUrl, key) };
}

/** An item of a key list: versionless `kid` for the keys list, versioned for a key's versions. */
export function keyItem(
  vaultUrl: string,
  key: StoredKey,
  version: StoredKeyVersion,
  retention: Retention,
  versioned: boolean,
): Record<string, unknown> {
  return {
    kid: keyId(vaultUrl, key.name, versioned ? version.version : undefined),
    attributes: attributesOf(version, retention),
    ...(version.tags ? { tags: { ...version.tags } } : {}),
  };
}

export function deletedKeyItem(
  vaultUrl: string,
  key: StoredKey,
  version: StoredKeyVersion,
  retention: Retention,
): Record<string, unknown> {
  return { ...keyItem(vaultUrl, key, version, retention, false), ...deletion(vaultUrl, key) };
}

/**
 * A key's rotation policy as Key Vault answers it. A key without a policy of its own gets Key Vault's
 * default: Notify 30 days before expiry, with no id, no expiryTime and no timestamps (which is also what
 * the SDK reports: `id`, `createdOn` and `updatedOn` undefined until a policy is set).
 */
export function rotationPolicyBody(
  vaultUrl: string,
  name: string,
  policy?: RotationPolicy,
): Record<string, unknown> {
  if (!policy) {
    return {
      lifetimeActions: [
        { trigger: { ...DEFAULT_NOTIFY_ACTION.trigger }, action: { ...DEFAULT_NOTIFY_ACTION.action } },
      ],
      attributes: {},
    };
  }
  return {
    id: `${vaultUrl}/keys/${name}/rotationpolicy`,
    lifetimeActions: policy.lifetimeActions.map((a) => ({
      trigger: { ...a.trigger },
      action: { ...a.action },
    })),
    attributes: {
      ...(policy.expiryTime ? { expiryTime: policy.expiryTime } : {}),
      created: policy.created,
      updated: policy.updated,
    },
  };
}
