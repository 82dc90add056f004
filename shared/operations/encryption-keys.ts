/**
 * The public parts of the tenants' `writeback-{t}-enc` keys, for sealing requests (docs/wire.md): one
 * Key Vault GET per key version and instance, then none, so a reset costs no Key Vault call. A key
 * version never changes (rollover makes a new version, recorded in the tenant's row), so entries are
 * kept for the life of the instance; the map is bounded so that many tenants cannot grow it forever.
 */
import type { KeyClient } from '@azure/keyvault-keys';
import { isTransientKeyVaultError } from '../azure/index.js';
import { importEncryptionKey, parseKeyId, type EncryptionKey } from '../wire/index.js';

const DEFAULT_CAPACITY = 1_000;

/** Key Vault refused a key version for good (disabled, deleted, not RSA): no retry helps. */
export class UnusableEncryptionKey extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = 'UnusableEncryptionKey';
  }
}

export class EncryptionKeys {
  private readonly cache = new Map<string, Promise<EncryptionKey>>();

  constructor(
    private readonly keys: KeyClient,
    private readonly capacity = DEFAULT_CAPACITY,
  ) {}

  /** The public key of a versioned `writeback-{t}-enc` id. */
  get(keyId: string): Promise<EncryptionKey> {
    const cached = this.cache.get(keyId);
    if (cached) {
      // Most recently used last, so the oldest entry is the first to go.
      this.cache.delete(keyId);
      this.cache.set(keyId, cached);
      return cached;
    }
    const key = this.fetch(keyId);
    this.cache.set(keyId, key);
    if (this.cache.size > this.capacity) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    // A failed fetch is not kept: the next request asks Key Vault again.
    key.catch(() => {
      if (this.cache.get(keyId) === key) this.cache.delete(keyId);
    });
    return key;
  }

  private async fetch(keyId: string): Promise<EncryptionKey> {
    const { name, version } = parseKeyId(keyId);
    let bundle;
    try {
      bundle = await this.keys.getKey(name, { version });
    } catch (error) {
      if (isTransientKeyVaultError(error)) throw error;
      const status = (error as { statusCode?: number }).statusCode;
      throw new UnusableEncryptionKey(
        `Key Vault refused key ${name} version ${version} (HTTP ${String(status)})`,
      );
    }
    if (bundle.properties.enabled === false) {
      throw new UnusableEncryptionKey(`key ${name} version ${version} is disabled`);
    }
    if (!bundle.key) throw new UnusableEncryptionKey(`Key Vault returned no public key for ${name}`);
    return importEncryptionKey(bundle.key);
  }
}
