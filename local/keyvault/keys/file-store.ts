/**
 * Keys in files: one JSON file per key under `<dataDir>/keys/`, mode 0600 in a 0700 folder, written
 * atomically (temporary file, then rename). All keys are read at start and served from memory; every
 * change is written before the request that made it is answered.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoredKey } from './model.js';
import { MemoryKeyStore } from './memory-store.js';
import { storeKeyOf } from './store.js';

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
const SUFFIX = '.json';

export class FileKeyStore extends MemoryKeyStore {
  /** Writes of one key happen in order: each waits for the previous one. */
  private readonly writes = new Map<string, Promise<void>>();

  private constructor(private readonly dir: string) {
    super();
  }

  static async open(dataDir: string): Promise<FileKeyStore> {
    const dir = join(dataDir, 'keys');
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
    await chmod(dir, DIR_MODE);
    const store = new FileKeyStore(dir);
    for (const file of await readdir(dir)) {
      if (!file.endsWith(SUFFIX)) continue; // e.g. a temporary file left by a crash
      const key = JSON.parse(await readFile(join(dir, file), 'utf8')) as StoredKey;
      store.keys.set(storeKeyOf(key.name), key);
    }
    return store;
  }

  override async save(key: StoredKey): Promise<void> {
    await super.save(key);
    await this.enqueue(key.name, () => this.write(key));
  }

  override async remove(name: string): Promise<void> {
    await super.remove(name);
    await this.enqueue(name, () => rm(this.fileOf(name), { force: true }));
  }

  override async close(): Promise<void> {
    await Promise.all(this.writes.values());
  }

  private fileOf(name: string): string {
    // Names are [0-9A-Za-z-] (checked by the routes), so they are safe file names as they are.
    return join(this.dir, `${storeKeyOf(name)}${SUFFIX}`);
  }

  private async write(key: StoredKey): Promise<void> {
    const path = this.fileOf(key.name);
    const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(temporary, JSON.stringify(key), { mode: FILE_MODE });
    await chmod(temporary, FILE_MODE);
    await rename(temporary, path);
  }

  private enqueue(name: string, work: () => Promise<void>): Promise<void> {
    const id = storeKeyOf(name);
    const previous = this.writes.get(id) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.writes.set(id, next);
    void next
      .finally(() => {
        if (this.writes.get(id) === next) this.writes.delete(id);
      })
      .catch(() => undefined);
    return next;
  }
}
