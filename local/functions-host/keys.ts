/**
 * Host keys for HTTP auth levels, kept like the real host's file secret store
 * (AzureWebJobsSecretStorageType=files): `<dataDir>/secrets/host.json` holds the master key and the
 * host-level function keys, created with random values on first start. Per-function keys may be added
 * in `<dataDir>/secrets/<functionName>.json` (`{ "keys": [{ "name": "...", "value": "..." }] }`).
 *
 * - `function` level: the master key, any host function key, or one of that function's keys.
 * - `admin` level: the master key only.
 * Keys come in the `x-functions-key` header or the `code` query parameter; a missing or wrong key gets
 * 401 with an empty body, as from the real host.
 *
 * Overrides (e.g. for tests): options `masterKey` / `functionKey`, or the environment variables
 * FUNCTIONS_LOCAL_MASTER_KEY / FUNCTIONS_LOCAL_FUNCTION_KEY. An override replaces the stored value for
 * this run and is not written to disk.
 */
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HostStartError } from './config.js';

export interface HostKeys {
  masterKey: string;
  /** The host-level function key named `default`. */
  functionKey: string;
}

interface SecretEntry {
  name: string;
  value: string;
  encrypted?: boolean;
}

interface HostSecretsFile {
  masterKey: SecretEntry;
  functionKeys: SecretEntry[];
  systemKeys: SecretEntry[];
  source: string;
}

/** Keys look like the host's: 40+ URL-safe characters. */
function newKey(): string {
  return randomBytes(40).toString('base64url');
}

export function secretsDir(dataDir: string): string {
  return path.join(dataDir, 'secrets');
}

export class KeyStore {
  readonly #dir: string;
  readonly #master: string;
  readonly #hostFunctionKeys: string[];
  readonly #defaultFunctionKey: string;

  constructor(dataDir: string, overrides: Partial<HostKeys> = {}) {
    this.#dir = secretsDir(dataDir);
    const file = path.join(this.#dir, 'host.json');
    let secrets: HostSecretsFile;
    if (existsSync(file)) {
      try {
        secrets = JSON.parse(readFileSync(file, 'utf8')) as HostSecretsFile;
      } catch (err) {
        throw new HostStartError(`${file} is not valid JSON: ${(err as Error).message}`);
      }
      if (!secrets.masterKey?.value || !Array.isArray(secrets.functionKeys)) {
        throw new HostStartError(`${file} has no masterKey or functionKeys`);
      }
    } else {
      secrets = {
        masterKey: { name: 'master', value: newKey(), encrypted: false },
        functionKeys: [{ name: 'default', value: newKey(), encrypted: false }],
        systemKeys: [],
        source: 'runtime',
      };
      mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
      writeFileSync(file, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 });
    }
    this.#master = overrides.masterKey ?? secrets.masterKey.value;
    const stored = secrets.functionKeys.map((k) => k.value).filter(Boolean);
    this.#defaultFunctionKey =
      overrides.functionKey ??
      secrets.functionKeys.find((k) => k.name === 'default')?.value ??
      stored[0] ??
      newKey();
    this.#hostFunctionKeys = overrides.functionKey ? [overrides.functionKey] : stored;
  }

  get keys(): HostKeys {
    return { masterKey: this.#master, functionKey: this.#defaultFunctionKey };
  }

  #functionKeys(functionName: string): string[] {
    const file = path.join(this.#dir, `${functionName.toLowerCase()}.json`);
    if (!existsSync(file)) return [];
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as { keys?: SecretEntry[] };
      return (parsed.keys ?? []).map((k) => k.value).filter(Boolean);
    } catch {
      return [];
    }
  }

  /** Whether `presented` grants `authLevel` on `functionName`. */
  authorize(authLevel: string, functionName: string, presented: string | undefined): boolean {
    const level = authLevel.toLowerCase();
    if (level === 'anonymous') return true;
    if (!presented) return false;
    if (same(presented, this.#master)) return true;
    if (level !== 'function') return false; // admin (and system) need the master key
    return [...this.#hostFunctionKeys, ...this.#functionKeys(functionName)].some((k) => same(presented, k));
  }
}

/** Constant-time comparison (hashes first so that lengths do not leak either). */
function same(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
