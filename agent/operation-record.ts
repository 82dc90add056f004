/**
 * The agent's durable record of recent operations, for exactly-once effect: "applying" is written
 * (and fsynced) before the directory is touched and the outcome after, so a redelivered request is
 * never applied twice.
 *
 * Why an append-only JSON-lines file: Node's SQLite is experimental, and the record needs only
 * "append, fsync, read all at start": one small file, no native module for an AD administrator to
 * install. Lines hold operation ids, outcomes and times only (no user, no password). A line torn
 * by a crash (the last one) is skipped at load. The file is compacted (rewritten to a temporary
 * file, fsynced, renamed) at start and once it has grown, dropping operations whose request
 * expired more than `retentionMs` ago: after its expiry a request is refused as expired anyway,
 * so an old entry can no longer prevent a second apply.
 */
import { mkdirSync } from 'node:fs';
import { open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { OperationResult } from '../shared/domain/index.js';

export interface RecordedOutcome {
  result: OperationResult;
  finishedAt: Date;
}

export type OperationEntry =
  | { state: 'applying'; expiresAt: Date; startedAt: Date }
  | { state: 'done'; expiresAt: Date; outcome: RecordedOutcome };

type Line =
  | { op: string; s: 'applying'; exp: number; at: number }
  | { op: string; s: 'done'; exp: number; at: number; r: OperationResult };

export const RECORD_FILE = 'operations.jsonl';

export interface OperationRecordOptions {
  /** How long after a request's expiry its entry is kept. Default 24 hours. */
  retentionMs?: number;
  /** Compact when this many lines were appended since the last compaction. Default 10,000. */
  compactAfterLines?: number;
  now?: () => Date;
}

export class OperationRecord {
  private readonly entries = new Map<string, OperationEntry>();
  private handle: FileHandle | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private appended = 0;
  private readonly retentionMs: number;
  private readonly compactAfter: number;
  private readonly now: () => Date;

  private constructor(
    private readonly path: string,
    options: OperationRecordOptions,
  ) {
    this.retentionMs = options.retentionMs ?? 24 * 3_600_000;
    this.compactAfter = options.compactAfterLines ?? 10_000;
    this.now = options.now ?? (() => new Date());
  }

  /** Opens (creating if needed) the record in `stateDirectory`, loads it and compacts it. */
  static async open(stateDirectory: string, options: OperationRecordOptions = {}): Promise<OperationRecord> {
    mkdirSync(stateDirectory, { recursive: true, mode: 0o700 });
    const record = new OperationRecord(join(stateDirectory, RECORD_FILE), options);
    await record.load();
    await record.compact();
    return record;
  }

  get(operationId: string): OperationEntry | undefined {
    return this.entries.get(operationId);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Durably notes that `operationId` is about to be applied. */
  markApplying(operationId: string, expiresAt: Date): Promise<void> {
    const startedAt = this.now();
    this.entries.set(operationId, { state: 'applying', expiresAt, startedAt });
    return this.append({ op: operationId, s: 'applying', exp: expiresAt.getTime(), at: startedAt.getTime() });
  }

  /** Durably records the outcome of `operationId`. */
  recordOutcome(operationId: string, expiresAt: Date, outcome: RecordedOutcome): Promise<void> {
    this.entries.set(operationId, { state: 'done', expiresAt, outcome });
    const r: OperationResult = {
      outcome: outcome.result.outcome,
      ...(outcome.result.reason !== undefined ? { reason: outcome.result.reason } : {}),
      ...(outcome.result.detail !== undefined ? { detail: outcome.result.detail } : {}),
    };
    return this.append({
      op: operationId,
      s: 'done',
      exp: expiresAt.getTime(),
      at: outcome.finishedAt.getTime(),
      r,
    });
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    await this.handle?.close();
    this.handle = undefined;
  }

  private async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const raw of text.split('\n')) {
      if (!raw) continue;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        continue; // a line torn by a crash while appending
      }
      if (typeof line.op !== 'string' || typeof line.exp !== 'number' || typeof line.at !== 'number')
        continue;
      const expiresAt = new Date(line.exp);
      if (line.s === 'applying') {
        // An outcome recorded earlier wins over a later "applying" (never written, but be safe).
        if (this.entries.get(line.op)?.state !== 'done') {
          this.entries.set(line.op, { state: 'applying', expiresAt, startedAt: new Date(line.at) });
        }
      } else if (line.s === 'done' && line.r && typeof line.r.outcome === 'string') {
        this.entries.set(line.op, {
          state: 'done',
          expiresAt,
          outcome: { result: line.r, finishedAt: new Date(line.at) },
        });
      }
    }
  }

  /** Rewrites the file with the entries still within retention (atomically, by rename). */
  private compact(): Promise<void> {
    return this.enqueue(async () => {
      const cutoff = this.now().getTime() - this.retentionMs;
      for (const [op, entry] of this.entries) if (entry.expiresAt.getTime() < cutoff) this.entries.delete(op);
      const lines = [...this.entries].map(([op, entry]) => JSON.stringify(toLine(op, entry)) + '\n').join('');
      const temporary = `${this.path}.tmp`;
      const out = await open(temporary, 'w', 0o600);
      try {
        await out.writeFile(lines);
        await out.sync();
      } finally {
        await out.close();
      }
      await this.handle?.close();
      await rename(temporary, this.path);
      this.handle = await open(this.path, 'a', 0o600);
      this.appended = 0;
    });
  }

  private append(line: Line): Promise<void> {
    return this.enqueue(async () => {
      if (!this.handle) throw new Error('the operation record is closed');
      await this.handle.write(JSON.stringify(line) + '\n');
      await this.handle.datasync();
      this.appended++;
    }).then(() => (this.appended >= this.compactAfter ? this.compact() : undefined));
  }

  /** One file operation at a time, in order. */
  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.queue.then(work);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

function toLine(op: string, entry: OperationEntry): Line {
  return entry.state === 'applying'
    ? { op, s: 'applying', exp: entry.expiresAt.getTime(), at: entry.startedAt.getTime() }
    : {
        op,
        s: 'done',
        exp: entry.expiresAt.getTime(),
        at: entry.outcome.finishedAt.getTime(),
        r: entry.outcome.result,
      };
}
