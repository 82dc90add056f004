/**
 * The vault's backup key (32 random bytes), which seals key backups: kept in `<dataDir>/backup-key`
 * (mode 0600) so that backups outlive a restart, and so that a copy of the file lets another emulator
 * restore them. Created once and never overwritten.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const BACKUP_KEY_BYTES = 32;
const FILE = 'backup-key';

export async function loadOrCreateBackupKey(dataDir: string): Promise<Buffer> {
  const file = join(dataDir, FILE);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  try {
    // 'wx' fails if the file exists, so a key is never overwritten.
    await writeFile(file, randomBytes(BACKUP_KEY_BYTES).toString('base64'), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return parseBackupKey(await readFile(file, 'utf8'), file);
}

/** A backup key given as base64 (the file's content, or the library option). */
export function parseBackupKey(base64: string, where: string): Buffer {
  const key = Buffer.from(base64.trim(), 'base64');
  if (key.length !== BACKUP_KEY_BYTES) {
    throw new Error(`${where}: a backup key is ${BACKUP_KEY_BYTES} bytes of base64`);
  }
  return key;
}
