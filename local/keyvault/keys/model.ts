/**
 * What the vault stores about a key. Stored objects are never mutated: every change stores a new
 * object, so caches keyed by a version object (parsed key material) stay correct.
 */
import type { JsonWebKey } from 'node:crypto';

export const KEY_TYPES = ['RSA', 'RSA-HSM', 'EC', 'EC-HSM'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export const KEY_OPERATIONS = [
  'encrypt',
  'decrypt',
  'sign',
  'verify',
  'wrapKey',
  'unwrapKey',
  'import',
  'export',
] as const;
export type KeyOperation = (typeof KEY_OPERATIONS)[number];

export interface KeyVersionAttributes {
  enabled: boolean;
  /** Unix seconds. */
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
  exportable: boolean;
}

export interface StoredKeyVersion {
  /** 32 lower-case hex digits, as Key Vault's. */
  readonly version: string;
  readonly kty: KeyType;
  readonly keyOps: readonly KeyOperation[];
  /** The private key as a JWK (node:crypto's export): secret material, never logged or returned. */
  readonly privateJwk: Readonly<JsonWebKey>;
  readonly attributes: Readonly<KeyVersionAttributes>;
  readonly tags?: Readonly<Record<string, string>>;
}

export interface LifetimeAction {
  trigger: { timeAfterCreate?: string; timeBeforeExpiry?: string };
  action: { type: 'Rotate' | 'Notify' };
}

export interface RotationPolicy {
  lifetimeActions: readonly LifetimeAction[];
  /** ISO-8601 duration: the expiry of versions made by rotation. */
  expiryTime?: string;
  created: number;
  updated: number;
}

export interface DeletionState {
  deletedDate: number;
  scheduledPurgeDate: number;
}

export interface StoredKey {
  /** The name as first created (Key Vault names are case-insensitive but keep their spelling). */
  readonly name: string;
  /** Oldest first; the last one is the current version. */
  readonly versions: readonly StoredKeyVersion[];
  readonly rotationPolicy?: Readonly<RotationPolicy>;
  readonly deleted?: Readonly<DeletionState>;
}

export function isHsm(kty: KeyType): boolean {
  return kty.endsWith('-HSM');
}

export function latestVersion(key: StoredKey): StoredKeyVersion {
  const latest = key.versions[key.versions.length - 1];
  if (!latest) throw new Error(`key ${key.name} has no versions`);
  return latest;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
