/**
 * Where a key rollover's new connection strings are kept: back where the configuration got them.
 *
 * - `{ "file": path }` → that file is replaced atomically (temporary file in the same folder, fsync,
 *   rename, mode 0600); a symbolic link is followed, so the link stays and its target changes.
 * - a string in the configuration file → that field is replaced in the file, atomically, the rest of
 *   the file as it was (indentation kept).
 * - `{ "env": NAME }` → the agent cannot rewrite its environment: the string goes to a 0600 file
 *   under the state directory (`credentials/requests-connection-string`,
 *   `credentials/replies-connection-string`) and the caller warns the operator, who must update the
 *   variable or point the configuration at that file before the next restart.
 *
 * When the configured place cannot be written (read-only mount, permissions, the file changed shape),
 * the string goes to the state directory as for `env`, and the result says why. Nothing here logs,
 * and no result holds a value.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, realpath, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ConnectionStringField, SecretSource } from './config.js';

/** Where one new string went. */
export type Persisted =
  | { field: ConnectionStringField; to: 'file'; path: string }
  | { field: ConnectionStringField; to: 'configFile'; path: string }
  | {
      field: ConnectionStringField;
      to: 'stateDirectory';
      path: string;
      /** Why not where the configuration got it. */
      reason: 'environment' | 'notInAFile' | 'notWritable';
      /** The environment variable the configuration reads it from, when it does. */
      env?: string;
      /** The configured place that could not be written. */
      configuredPath?: string;
      /** The error's code when writing there failed (e.g. EACCES, EROFS). */
      code?: string;
    };

const STATE_FILES: Record<ConnectionStringField, string> = {
  requestsConnectionString: 'requests-connection-string',
  repliesConnectionString: 'replies-connection-string',
};

/** Writes `text` to `path` atomically: a temporary file in the same folder, fsync, rename, fsync of the folder. */
export async function writeFileAtomic(path: string, text: string, mode = 0o600): Promise<void> {
  const folder = dirname(path);
  const temporary = join(folder, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, 'wx', mode);
  try {
    await handle.chmod(mode); // whatever the umask
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  // The rename itself survives a crash once the folder is on disk; not every platform can fsync one.
  const dir = await open(folder, 'r').catch(() => undefined);
  if (dir) {
    await dir.sync().catch(() => undefined);
    await dir.close();
  }
}

/** The real file behind `path` (a symbolic link is followed); `path` itself when it does not exist. */
async function targetOf(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    return path;
  }
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

export class CredentialsStore {
  constructor(
    private readonly sources: Record<ConnectionStringField, SecretSource>,
    private readonly stateDirectory: string,
  ) {}

  /** The state-directory file that holds `field` when its configured place cannot. */
  stateFile(field: ConnectionStringField): string {
    return join(this.stateDirectory, 'credentials', STATE_FILES[field]);
  }

  /** Stores the new values given (one or both). Throws only when not even the state directory can hold them. */
  async save(values: Partial<Record<ConnectionStringField, string>>): Promise<Persisted[]> {
    const fields = (Object.keys(values) as ConnectionStringField[]).filter((f) => values[f] !== undefined);
    const results: Persisted[] = [];
    const inline: ConnectionStringField[] = [];
    for (const field of fields) {
      const source = this.sources[field];
      const value = values[field]!;
      if (source.kind === 'file') {
        const path = await targetOf(source.path);
        try {
          await writeFileAtomic(path, `${value}\n`);
          results.push({ field, to: 'file', path });
        } catch (error) {
          results.push(await this.toStateDirectory(field, value, 'notWritable', source.path, codeOf(error)));
        }
      } else if (source.kind === 'env') {
        results.push({ ...(await this.toStateDirectory(field, value, 'environment')), env: source.name });
      } else if (!source.configFile) {
        results.push(await this.toStateDirectory(field, value, 'notInAFile'));
      } else {
        inline.push(field);
      }
    }
    if (inline.length > 0) results.push(...(await this.saveInline(inline, values)));
    return results;
  }

  /**
   * The fields whose configured environment variable differs from what a rollover left in the state
   * directory (the operator has not applied it yet). Values are compared, never returned.
   */
  async pending(
    current: Record<ConnectionStringField, string>,
  ): Promise<(Persisted & { to: 'stateDirectory' })[]> {
    const pending: (Persisted & { to: 'stateDirectory' })[] = [];
    for (const field of Object.keys(this.sources) as ConnectionStringField[]) {
      const source = this.sources[field];
      if (source.kind !== 'env') continue;
      const path = this.stateFile(field);
      let stored: string;
      try {
        stored = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
      } catch {
        continue;
      }
      if (stored && stored !== current[field]) {
        pending.push({ field, to: 'stateDirectory', path, reason: 'environment', env: source.name });
      }
    }
    return pending;
  }

  /** One rewrite of the configuration file for every inline field (they all live in the same file). */
  private async saveInline(
    fields: ConnectionStringField[],
    values: Partial<Record<ConnectionStringField, string>>,
  ): Promise<Persisted[]> {
    const configFile = (this.sources[fields[0]!] as { configFile: string }).configFile;
    const path = await targetOf(configFile);
    try {
      const text = await readFile(path, 'utf8');
      const json = JSON.parse(text) as { serviceBus?: Record<string, unknown> };
      for (const field of fields) {
        if (typeof json.serviceBus?.[field] !== 'string') {
          // Someone changed the file since the agent read it; do not guess where the secret lives now.
          throw Object.assign(new Error(`serviceBus.${field} is no longer a string`), { code: 'ECHANGED' });
        }
        json.serviceBus[field] = values[field];
      }
      const indent = /^([ \t]+)"/m.exec(text)?.[1] ?? '  ';
      const ending = text.endsWith('\n') ? '\n' : '';
      await writeFileAtomic(path, JSON.stringify(json, null, indent) + ending);
      return fields.map((field) => ({ field, to: 'configFile', path }));
    } catch (error) {
      const results: Persisted[] = [];
      for (const field of fields) {
        results.push(
          await this.toStateDirectory(field, values[field]!, 'notWritable', configFile, codeOf(error)),
        );
      }
      return results;
    }
  }

  private async toStateDirectory(
    field: ConnectionStringField,
    value: string,
    reason: 'environment' | 'notInAFile' | 'notWritable',
    configuredPath?: string,
    code?: string,
  ): Promise<Persisted & { to: 'stateDirectory' }> {
    const path = this.stateFile(field);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFileAtomic(path, `${value}\n`);
    return {
      field,
      to: 'stateDirectory',
      path,
      reason,
      ...(configuredPath ? { configuredPath } : {}),
      ...(code ? { code } : {}),
    };
  }
}
