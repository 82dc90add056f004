import type { StoredKey } from './model.js';
import { storeKeyOf, type KeyStore } from './store.js';

/** Keys in memory only: nothing touches the disk (`--in-memory`, tests). */
export class MemoryKeyStore implements KeyStore {
  protected readonly keys = new Map<string, StoredKey>();

  get(name: string): StoredKey | undefined {
    return this.keys.get(storeKeyOf(name));
  }

  list(): readonly StoredKey[] {
    return [...this.keys.values()].sort((a, b) => storeKeyOf(a.name).localeCompare(storeKeyOf(b.name)));
  }

  save(key: StoredKey): Promise<void> {
    this.keys.set(storeKeyOf(key.name), key);
    return Promise.resolve();
  }

  remove(name: string): Promise<void> {
    this.keys.delete(storeKeyOf(name));
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
