/** Where the vault keeps its keys: in memory (tests) or in files under the data folder. */
import type { StoredKey } from './model.js';

export interface KeyStore {
  /** The key named `name` (case-insensitive), deleted or not. */
  get(name: string): StoredKey | undefined;
  /** All keys, deleted or not, ordered by name. */
  list(): readonly StoredKey[];
  /** Stores (creates or replaces) `key`; resolves once it is durable. */
  save(key: StoredKey): Promise<void>;
  /** Forgets the key for good (purge). */
  remove(name: string): Promise<void>;
  close(): Promise<void>;
}

/** Key Vault object names are case-insensitive. */
export function storeKeyOf(name: string): string {
  return name.toLowerCase();
}
