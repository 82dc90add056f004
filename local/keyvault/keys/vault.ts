/**
 * The vault's keys: versions, attributes, rotation, soft delete, recovery and purge, over a KeyStore.
 * Changes to one key are serialized, so that two concurrent rotations both add a version.
 */
import { randomBytes } from 'node:crypto';
import { generateKeyMaterial, importKeyMaterial, isRsa, privateKeyOf } from '../crypto/material.js';
import {
  badParameter,
  deletedKeyNotFound,
  keyInDeletedState,
  keyNameTaken,
  keyNotFound,
} from '../http/errors.js';
import {
  latestVersion,
  nowSeconds,
  type KeyOperation,
  type KeyType,
  type KeyVersionAttributes,
  type StoredKey,
  type StoredKeyVersion,
} from './model.js';
import {
  checkOperations,
  defaultOperations,
  durationSeconds,
  type CreateKeyRequest,
  type ImportKeyRequest,
  type RotationPolicyInput,
  type UpdateKeyRequest,
} from './requests.js';
import type { KeyStore } from './store.js';
import { openKeyBackup, sealKeyBackup } from './key-backup.js';

export const KEY_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const VERSION = /^[0-9a-f]{32}$/;

export interface KeyVersionRef {
  key: StoredKey;
  version: StoredKeyVersion;
}

type RequestedAttributes = CreateKeyRequest['attributes'];

export class KeyVault {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: KeyStore,
    readonly retentionDays: number,
    /** Seals key backups (keys/key-backup.ts). */
    private readonly backupKey: Buffer,
  ) {}

  /** The active key `name` and its version (the current one when `version` is empty). */
  find(name: string, version?: string): KeyVersionRef {
    const key = this.active(name);
    if (!version) return { key, version: latestVersion(key) };
    const found = VERSION.test(version) ? key.versions.find((v) => v.version === version) : undefined;
    if (!found) throw keyNotFound(name, version);
    return { key, version: found };
  }

  /**
   * The type and RSA size of the active key `name`'s current version, if there is one (for throttling,
   * before any other check).
   */
  peekKey(name: string): { kty: KeyType; rsaBits?: number } | undefined {
    const key = this.store.get(name);
    if (!key || key.deleted) return undefined;
    const current = latestVersion(key);
    const n = current.privateJwk.n;
    // base64url without padding: 4 characters carry 3 bytes.
    return n ? { kty: current.kty, rsaBits: Math.floor((n.length * 6) / 8) * 8 } : { kty: current.kty };
  }

  listKeys(): StoredKey[] {
    return this.store.list().filter((key) => !key.deleted);
  }

  listVersions(name: string): StoredKeyVersion[] {
    return [...this.active(name).versions];
  }

  listDeletedKeys(): StoredKey[] {
    this.purgeExpired();
    return this.store.list().filter((key) => key.deleted);
  }

  createKey(name: string, request: CreateKeyRequest): Promise<KeyVersionRef> {
    return this.locked(name, async () => {
      const existing = this.existingForNewVersion(name);
      const keyOps = checkOperations(request.kty, request.key_ops ?? defaultOperations(request.kty));
      const jwk = await generateKeyMaterial(request.kty, {
        ...(request.key_size !== undefined ? { keySize: request.key_size } : {}),
        ...(request.public_exponent !== undefined ? { publicExponent: request.public_exponent } : {}),
        ...(request.crv !== undefined ? { curve: request.crv } : {}),
      });
      const version = newVersion(request.kty, keyOps, jwk, request.attributes, request.tags);
      return this.addVersion(name, existing, version);
    });
  }

  importKey(name: string, request: ImportKeyRequest): Promise<KeyVersionRef> {
    return this.locked(name, async () => {
      const existing = this.existingForNewVersion(name);
      const base = request.key.kty.replace(/-HSM$/, '') as KeyType;
      const kty: KeyType =
        request.Hsm || request.key.kty.endsWith('-HSM') ? (`${base}-HSM` as KeyType) : base;
      const jwk = importKeyMaterial(kty, request.key);
      const keyOps = checkOperations(kty, request.key.key_ops ?? defaultOperations(kty));
      const version = newVersion(kty, keyOps, jwk, request.attributes, request.tags);
      return this.addVersion(name, existing, version);
    });
  }

  updateKey(name: string, versionId: string | undefined, request: UpdateKeyRequest): Promise<KeyVersionRef> {
    return this.locked(name, async () => {
      const { key, version } = this.find(name, versionId);
      const requested = request.attributes;
      if (requested?.exportable) throw badParameter('Property attributes.exportable cannot be changed.');
      const attributes: KeyVersionAttributes = {
        ...version.attributes,
        ...(requested?.enabled !== undefined ? { enabled: requested.enabled } : {}),
        updated: nowSeconds(),
      };
      applyValidity(attributes, requested);
      const updated: StoredKeyVersion = {
        ...version,
        attributes,
        ...(request.key_ops ? { keyOps: checkOperations(version.kty, request.key_ops) } : {}),
        ...(request.tags ? { tags: { ...request.tags } } : {}),
      };
      const next: StoredKey = {
        ...key,
        versions: key.versions.map((v) => (v.version === version.version ? updated : v)),
      };
      await this.store.save(next);
      return { key: next, version: updated };
    });
  }

  /** A new version with the current version's type, size or curve, operations and tags. */
  rotateKey(name: string): Promise<KeyVersionRef> {
    return this.locked(name, async () => {
      const key = this.active(name);
      const current = latestVersion(key);
      const jwk = await generateKeyMaterial(
        current.kty,
        isRsa(current.kty)
          ? { keySize: privateKeyOf(current).asymmetricKeyDetails?.modulusLength ?? 2048 }
          : { curve: current.privateJwk.crv ?? 'P-256' },
      );
      const expiryTime = key.rotationPolicy?.expiryTime;
      const exp = expiryTime ? nowSeconds() + durationSeconds(expiryTime) : undefined;
      const version = newVersion(
        current.kty,
        [...current.keyOps],
        jwk,
        exp ? { exp } : undefined,
        current.tags,
      );
      return this.addVersion(name, key, version);
    });
  }

  rotationPolicy(name: string): StoredKey['rotationPolicy'] {
    return this.active(name).rotationPolicy;
  }

  setRotationPolicy(name: string, input: RotationPolicyInput): Promise<StoredKey> {
    return this.locked(name, async () => {
      const key = this.active(name);
      const now = nowSeconds();
      const next: StoredKey = {
        ...key,
        rotationPolicy: {
          lifetimeActions: input.lifetimeActions,
          ...(input.expiryTime ? { expiryTime: input.expiryTime } : {}),
          created: key.rotationPolicy?.created ?? now,
          updated: now,
        },
      };
      await this.store.save(next);
      return next;
    });
  }

  deleteKey(name: string): Promise<KeyVersionRef> {
    return this.locked(name, async () => {
      const key = this.active(name);
      const now = nowSeconds();
      const next: StoredKey = {
        ...key,
        deleted: { deletedDate: now, scheduledPurgeDate: now + this.retentionDays * 86_400 },
      };
      await this.store.save(next);
      return { key: next, version: latestVersion(next) };
    });
  }

  findDeleted(name: string): KeyVersionRef {
    this.purgeExpired();
    const key = this.store.get(name);
    if (!key?.deleted) throw deletedKeyNotFound(name);
    return { key, version: latestVersion(key) };
  }

  purgeDeletedKey(name: string): Promise<void> {
    return this.locked(name, async () => {
      this.findDeleted(name);
      await this.store.remove(name);
    });
  }

  recoverDeletedKey(name: string): Promise<KeyVersionRef> {
    return this.locked(name, async () => {
      const { key } = this.findDeleted(name);
      const next: StoredKey = {
        name: key.name,
        versions: key.versions,
        ...(key.rotationPolicy ? { rotationPolicy: key.rotationPolicy } : {}),
      };
      await this.store.save(next);
      return { key: next, version: latestVersion(next) };
    });
  }

  /** The backup blob of the active key `name`: every version, its attributes, tags and policy. */
  backup(name: string): Buffer {
    return sealKeyBackup(this.active(name), this.backupKey);
  }

  /**
   * Restores a backup under the name it was made with, versions and ids unchanged. As in Key Vault,
   * only into a free name: a key of that name, active or soft-deleted, makes it 409.
   */
  restore(blob: Buffer): Promise<KeyVersionRef> {
    const backedUp = openKeyBackup(blob, this.backupKey);
    return this.locked(backedUp.name, async () => {
      this.purgeExpired();
      const existing = this.store.get(backedUp.name);
      if (existing) throw keyNameTaken(existing.name, existing.deleted !== undefined);
      await this.store.save(backedUp);
      return { key: backedUp, version: latestVersion(backedUp) };
    });
  }

  private active(name: string): StoredKey {
    const key = this.store.get(name);
    if (!key || key.deleted) throw keyNotFound(name);
    return key;
  }

  /** The key a new version goes to; a soft-deleted name cannot be reused (Key Vault's 409). */
  private existingForNewVersion(name: string): StoredKey | undefined {
    this.purgeExpired();
    const key = this.store.get(name);
    if (key?.deleted) throw keyInDeletedState(key.name);
    return key;
  }

  private async addVersion(
    name: string,
    existing: StoredKey | undefined,
    version: StoredKeyVersion,
  ): Promise<KeyVersionRef> {
    const key: StoredKey = existing
      ? { ...existing, versions: [...existing.versions, version] }
      : { name, versions: [version] };
    await this.store.save(key);
    return { key, version };
  }

  /** Deleted keys whose retention has passed are purged, as Key Vault does on schedule. */
  private purgeExpired(): void {
    const now = nowSeconds();
    for (const key of this.store.list()) {
      // The store forgets the key at once; a failure to delete its file only leaves the file behind.
      if (key.deleted && key.deleted.scheduledPurgeDate <= now)
        this.store.remove(key.name).catch(() => undefined);
    }
  }

  private locked<T>(name: string, work: () => Promise<T>): Promise<T> {
    const id = name.toLowerCase();
    const previous = this.locks.get(id) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.locks.set(id, next);
    void next
      .finally(() => {
        if (this.locks.get(id) === next) this.locks.delete(id);
      })
      .catch(() => undefined);
    return next;
  }
}

function applyValidity(attributes: KeyVersionAttributes, requested: RequestedAttributes): void {
  if (requested?.nbf !== undefined) {
    if (requested.nbf === null) delete attributes.nbf;
    else attributes.nbf = requested.nbf;
  }
  if (requested?.exp !== undefined) {
    if (requested.exp === null) delete attributes.exp;
    else attributes.exp = requested.exp;
  }
  if (attributes.nbf !== undefined && attributes.exp !== undefined && attributes.nbf > attributes.exp) {
    throw badParameter('Property attributes has invalid value: nbf must not be later than exp.');
  }
}

function newVersion(
  kty: KeyType,
  keyOps: KeyOperation[],
  privateJwk: StoredKeyVersion['privateJwk'],
  requested: RequestedAttributes,
  tags: Readonly<Record<string, string>> | undefined,
): StoredKeyVersion {
  if (requested?.exportable) {
    throw badParameter(
      'Property attributes.exportable has invalid value: exportable keys need a release policy, which this vault does not offer.',
    );
  }
  const now = nowSeconds();
  const attributes: KeyVersionAttributes = {
    enabled: requested?.enabled ?? true,
    created: now,
    updated: now,
    exportable: false,
  };
  applyValidity(attributes, requested);
  return {
    version: randomBytes(16).toString('hex'),
    kty,
    keyOps,
    privateJwk,
    attributes,
    ...(tags ? { tags: { ...tags } } : {}),
  };
}
