/**
 * Key Vault's private-key operations for the agent, over the official `CryptographyClient`:
 * - `KeyVaultRequestCrypto` implements the wire contract's `RequestKeyVault` (unwrapKey and decrypt
 *   with RSA-OAEP-256 on whichever version of `writeback-{t}-enc` a request names);
 * - `KeyVaultReplySigner` implements `ReplySigner` (ES256 over a digest with `writeback-{t}-sig`).
 *
 * Each `new CryptographyClient(kid)` costs a challenge round trip and a GET of the key before its
 * first operation, so clients are kept per versioned kid and reused. The SDK's challenge names
 * `https://vault.azure.net`; its resource check is only relaxed for a vault outside
 * `*.vault.azure.net` (the local emulator).
 *
 * Clients are built here rather than in clients.ts because they are built from an explicit vault
 * URL and credential (the agent's own configuration), not from the Functions settings convention.
 */
import type { TokenCredential } from '@azure/identity';
import {
  CryptographyClient,
  KeyClient,
  type CryptographyClientOptions,
  type KeyClientOptions,
} from '@azure/keyvault-keys';
import type { KeyObject } from 'node:crypto';
import type { KeyEncryptionAlgorithm, ReplyAlgorithm, ReplySigner, RequestKeyVault } from '../wire/index.js';
import { formatKeyId, importSignatureKey, parseKeyId, signatureKeyName } from '../wire/index.js';

/** Options shared by every client of one vault (retries, TLS trust for a local vault). */
export type VaultClientOptions = CryptographyClientOptions & KeyClientOptions;

/** The vault's origin, without a trailing slash; throws RangeError for anything but an https URL. */
export function vaultOrigin(vaultUrl: string): string {
  let url: URL;
  try {
    url = new URL(vaultUrl);
  } catch {
    throw new RangeError('Invalid vault URL: not a URL');
  }
  if (url.protocol !== 'https:') throw new RangeError('Invalid vault URL: not https');
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    throw new RangeError('Invalid vault URL: expected https://{vault host}[:port] only');
  }
  return url.origin;
}

function isAzureVault(origin: string): boolean {
  return new URL(origin).hostname.toLowerCase().endsWith('.vault.azure.net');
}

function withChallengeRule(origin: string, options: VaultClientOptions): VaultClientOptions {
  return isAzureVault(origin) ? options : { disableChallengeResourceVerification: true, ...options };
}

/** A bounded map of CryptographyClients by versioned kid (least recently used goes first). */
class CryptographyClientCache {
  private readonly clients = new Map<string, CryptographyClient>();

  constructor(
    private readonly origin: string,
    private readonly credential: TokenCredential,
    private readonly options: VaultClientOptions,
    private readonly capacity = 32,
  ) {}

  /** The client of a versioned kid under this vault; any other kid is refused (RangeError). */
  get(keyId: string): CryptographyClient {
    const parsed = parseKeyId(keyId);
    if (parsed.vaultUrl !== this.origin) throw new RangeError(`key ${keyId} is not in vault ${this.origin}`);
    let client = this.clients.get(keyId);
    if (client) {
      this.clients.delete(keyId);
    } else {
      client = new CryptographyClient(keyId, this.credential, this.options);
      if (this.clients.size >= this.capacity) {
        const oldest = this.clients.keys().next().value;
        if (oldest !== undefined) this.clients.delete(oldest);
      }
    }
    this.clients.set(keyId, client);
    return client;
  }

  get size(): number {
    return this.clients.size;
  }
}

/** The agent's `RequestKeyVault`: unwrap and decrypt through Key Vault (the private key stays there). */
export class KeyVaultRequestCrypto implements RequestKeyVault {
  readonly vaultUrl: string;
  private readonly cache: CryptographyClientCache;

  constructor(vaultUrl: string, credential: TokenCredential, options: VaultClientOptions = {}) {
    this.vaultUrl = vaultOrigin(vaultUrl);
    this.cache = new CryptographyClientCache(
      this.vaultUrl,
      credential,
      withChallengeRule(this.vaultUrl, options),
    );
  }

  async unwrapKey(keyId: string, algorithm: KeyEncryptionAlgorithm, wrappedKey: Buffer): Promise<Buffer> {
    const { result } = await this.cache.get(keyId).unwrapKey(algorithm, wrappedKey);
    return Buffer.from(result);
  }

  async decrypt(keyId: string, algorithm: KeyEncryptionAlgorithm, ciphertext: Buffer): Promise<Buffer> {
    const { result } = await this.cache.get(keyId).decrypt({ algorithm, ciphertext });
    return Buffer.from(result);
  }

  /** How many key versions have a client (for tests and diagnostics). */
  get cachedClients(): number {
    return this.cache.size;
  }
}

export interface ReplySignerOptions {
  /**
   * How often the latest version of `writeback-{t}-sig` is looked up again. Default 1 hour: the
   * cloud verifies with whichever version a reply names, so an older version that is still enabled
   * stays valid after a rotation; the lookup just moves signing to the new version in time.
   */
  refreshIntervalMs?: number;
  /** Told when the signing version changes or a refresh fails. No secrets. */
  onVersionChange?: (kid: string) => void;
  onRefreshError?: (error: unknown) => void;
}

/**
 * The agent's `ReplySigner`: ES256 with the current version of `writeback-{t}-sig`.
 *
 * Decision: the latest version is resolved at start ({@link KeyVaultReplySigner.start}, which
 * fails if the key cannot be read) and then on a schedule, not per reply, so that a reply costs
 * one Key Vault call (`sign`), not two. When Key Vault refuses to sign with the cached version
 * (disabled, expired or deleted after a rotation: 403 or 404), the signer resolves the latest
 * version at once, and the caller's next attempt signs with it, so a rotation never needs a restart.
 */
export class KeyVaultReplySigner implements ReplySigner {
  private currentKid: string;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<string> | undefined;
  private readonly publicKeys = new Map<string, Promise<KeyObject>>();

  private constructor(
    private readonly keys: KeyClient,
    private readonly keyName: string,
    private readonly cache: CryptographyClientCache,
    initialKid: string,
    private readonly options: ReplySignerOptions,
  ) {
    this.currentKid = initialKid;
  }

  /** Resolves the latest version of tenant `tenantId`'s signature key and starts the refresh schedule. */
  static async start(
    vaultUrl: string,
    tenantId: string,
    credential: TokenCredential,
    clientOptions: VaultClientOptions = {},
    options: ReplySignerOptions = {},
  ): Promise<KeyVaultReplySigner> {
    const origin = vaultOrigin(vaultUrl);
    const withRule = withChallengeRule(origin, clientOptions);
    const keys = new KeyClient(origin, credential, withRule);
    const name = signatureKeyName(tenantId);
    const cache = new CryptographyClientCache(origin, credential, withRule, 4);
    const kid = await latestKid(keys, origin, name);
    const signer = new KeyVaultReplySigner(keys, name, cache, kid, options);
    const interval = options.refreshIntervalMs ?? 60 * 60 * 1000;
    signer.timer = setInterval(() => {
      signer.refresh().catch((error: unknown) => options.onRefreshError?.(error));
    }, interval);
    signer.timer.unref();
    return signer;
  }

  get kid(): string {
    return this.currentKid;
  }

  /** Looks the latest version up now (one lookup at a time); returns the kid signing from now on. */
  refresh(): Promise<string> {
    this.refreshing ??= latestKid(this.keys, new URL(this.currentKid).origin, this.keyName)
      .then((kid) => {
        if (kid !== this.currentKid) {
          this.currentKid = kid;
          this.options.onVersionChange?.(kid);
        }
        return kid;
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  /**
   * Signs with the current version. The JWS header names `kid` before `sign` is called, so a
   * refused version is not swapped silently (the header would name the wrong key): when Key Vault
   * refuses the version (403 disabled or expired, 404 gone), the latest version is resolved and
   * the error is thrown; the caller signs the whole reply again, which then names the new kid.
   */
  async sign(algorithm: ReplyAlgorithm, digest: Buffer): Promise<Buffer> {
    const kid = this.currentKid;
    try {
      const { result } = await this.cache.get(kid).sign(algorithm, digest);
      return Buffer.from(result);
    } catch (error) {
      const status = restStatus(error);
      if (status === 403 || status === 404) await this.refresh().catch(() => undefined);
      throw error;
    }
  }

  /**
   * The public key of a version of this signing key (to verify what an agent of the tenant signed, such
   * as the exactly-once record), fetched once per version. Any other key or vault is refused (RangeError).
   */
  verificationKey(kid: string): Promise<KeyObject> {
    const { vaultUrl, name, version } = parseKeyId(kid);
    if (vaultUrl !== new URL(this.currentKid).origin || name !== this.keyName) {
      return Promise.reject(new RangeError(`key ${kid} is not this signing key`));
    }
    let key = this.publicKeys.get(kid);
    if (!key) {
      key = this.keys.getKey(name, { version }).then((bundle) => importSignatureKey(bundle.key!));
      this.publicKeys.set(kid, key);
      key.catch(() => this.publicKeys.delete(kid));
    }
    return key;
  }

  close(): void {
    clearInterval(this.timer);
  }
}

async function latestKid(keys: KeyClient, origin: string, name: string): Promise<string> {
  const key = await keys.getKey(name);
  const version = key.properties.version;
  if (!version) throw new Error(`key ${name} has no version`);
  return formatKeyId(origin, name, version);
}

/** The HTTP status of a failed Key Vault call, or undefined when none came back (network, timeout). */
export function restStatus(error: unknown): number | undefined {
  if (error instanceof Error && error.name === 'RestError') {
    const status = (error as Error & { statusCode?: unknown }).statusCode;
    return typeof status === 'number' ? status : undefined;
  }
  return undefined;
}

/**
 * Whether a Key Vault failure may go away by itself or by an operator's fix (network, timeouts,
 * throttling, 5xx, authentication and missing role assignments), as opposed to a property of the
 * request (400: a tampered or foreign ciphertext; 404: an unknown key version; 403 KeyDisabled
 * and friends: a version that will never decrypt again).
 */
export function isTransientKeyVaultError(error: unknown): boolean {
  const status = restStatus(error);
  if (status === undefined) return true;
  if (status === 408 || status === 429 || status >= 500 || status === 401) return true;
  if (status === 403) {
    const details = (error as { code?: unknown; details?: unknown }).details as
      { error?: { code?: string; innerError?: { code?: string } } } | undefined;
    const codes = [
      (error as { code?: unknown }).code,
      details?.error?.code,
      details?.error?.innerError?.code,
    ].filter((c): c is string => typeof c === 'string');
    return !codes.some((code) => /^Key(Disabled|Expired|NotYetValid|OperationForbidden)$/.test(code));
  }
  return false;
}
