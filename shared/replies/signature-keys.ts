/**
 * The public keys replies are verified with: one version of a tenant's `writeback-{t}-sig`, fetched
 * from the configured vault only (a kid naming any other vault is refused, never fetched: the kid
 * comes from the message) and cached per version in the instance, so a reply costs no Key Vault call
 * after the first of its key version. Entries are looked up again after an hour, so a version that
 * was disabled since (key rollover, tenant disabled) stops verifying in every instance in time.
 *
 * A version Key Vault refuses (missing, disabled, not EC P-256) is remembered as refused for
 * REFUSED_KEY_CACHE_MS, so forged replies naming it cost one Key Vault call, not one each; transient
 * failures are not remembered. The cache holds at most MAX_CACHED_VERSIONS entries, oldest out first,
 * so replies naming ever new versions cannot grow it (the processor only looks up versions the
 * tenant's row lists, which bounds them already).
 */
import type { KeyObject } from 'node:crypto';
import type { KeyClient } from '@azure/keyvault-keys';
import { isTransientKeyVaultError, vaultOrigin } from '../azure/index.js';
import { importSignatureKey, parseKeyId } from '../wire/index.js';

export const SIGNATURE_KEY_CACHE_MS = 60 * 60_000;
export const REFUSED_KEY_CACHE_MS = 5 * 60_000;
export const MAX_CACHED_VERSIONS = 1_000;

/** A key id this vault will never verify with: another vault, a disabled or missing version, not EC P-256. */
export class UnusableSignatureKey extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = 'UnusableSignatureKey';
  }
}

/** Whether a failure to resolve a key may pass (Key Vault unreachable, throttled, 5xx): retry the reply later. */
export function isTransientKeyFailure(error: unknown): boolean {
  return !(error instanceof UnusableSignatureKey) && isTransientKeyVaultError(error);
}

export class SignatureKeys {
  private readonly origin: string;
  private readonly cache = new Map<string, { at: number; ttl: number; key: Promise<KeyObject> }>();

  constructor(
    private readonly keys: KeyClient,
    vaultUrl: string,
    private readonly cacheMs = SIGNATURE_KEY_CACHE_MS,
  ) {
    this.origin = vaultOrigin(new URL(vaultUrl).origin);
  }

  /** A ReplyKeyResolver for verifyReply. */
  readonly resolve = (kid: string): Promise<KeyObject> => {
    const at = Date.now();
    const cached = this.cache.get(kid);
    if (cached && at - cached.at < cached.ttl) return cached.key;
    this.cache.delete(kid);
    const key = this.fetch(kid);
    const entry = { at, ttl: this.cacheMs, key };
    this.cache.set(kid, entry);
    while (this.cache.size > MAX_CACHED_VERSIONS) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    key.catch((error: unknown) => {
      if (this.cache.get(kid) !== entry) return;
      // A refusal is Key Vault's answer about this version: keep it a while. A fault may pass: forget it.
      if (error instanceof UnusableSignatureKey) entry.ttl = Math.min(this.cacheMs, REFUSED_KEY_CACHE_MS);
      else this.cache.delete(kid);
    });
    return key;
  };

  private async fetch(kid: string): Promise<KeyObject> {
    const { vaultUrl, name, version } = parseKeyId(kid);
    if (vaultUrl !== this.origin) throw new UnusableSignatureKey(`the key is not in the configured vault`);
    let bundle;
    try {
      bundle = await this.keys.getKey(name, { version });
    } catch (error) {
      if (!isTransientKeyVaultError(error)) {
        const status = (error as { statusCode?: number }).statusCode;
        throw new UnusableSignatureKey(`Key Vault refused the key version (HTTP ${String(status)})`);
      }
      throw error;
    }
    if (bundle.properties.enabled === false) throw new UnusableSignatureKey('the key version is disabled');
    if (!bundle.key) throw new UnusableSignatureKey('Key Vault returned no public key');
    try {
      return importSignatureKey(bundle.key);
    } catch {
      throw new UnusableSignatureKey('the key is not an EC P-256 key');
    }
  }

  /** How many versions are cached (for tests and diagnostics). */
  get size(): number {
    return this.cache.size;
  }
}
