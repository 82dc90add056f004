/**
 * The exactly-once record of a tenant's agents, kept in the state of the tenant's request session
 * (docs/architecture.md, "Two agents per tenant"). Service Bus stores it durably and lets only the
 * holder of the session lock write it, so it is shared by every agent that will ever hold the
 * session, and an agent that lost the lock (it died, or hung past the lock duration) can no longer
 * change it: the broker refuses (SessionLockLost), which fences it off.
 *
 * An operation is "applying" — with who applies it, since when, and the user's password stamp before
 * it — before the directory is touched, and "done" with its outcome after. Entries are dropped
 * `retentionMs` after their request expired: after its expiry a request is refused as expired, so an
 * old entry can no longer prevent a second apply. No user, no password: operation ids, times, an
 * agent id, an opaque stamp and outcomes.
 *
 * Group commit: changes asked for while a write is under way go out together in the next one, so
 * several requests in flight cost one round trip between them, not one each. Each caller learns
 * whether the write that carried its change succeeded. The state stays well under Service Bus's
 * 256 KB limit (`maxBytes`, before the record is signed, record-signing.ts): when it would not, the finished entries closest to expiry go first; if
 * that is not enough, the change is refused (RecordFullError) and the request retried later.
 */
import type { OperationResult } from '../shared/domain/index.js';

export interface RecordedOutcome {
  result: OperationResult;
  finishedAt: Date;
}

export type RecordEntry =
  | {
      state: 'applying';
      expiresAt: Date;
      /** When the agent began (its clock). */
      startedAt: Date;
      /** The agent applying it. */
      by: string;
      /** The user's password stamp before (DirectoryDriver.passwordStamp), when one was read. */
      stamp?: string;
    }
  | { state: 'done'; expiresAt: Date; outcome: RecordedOutcome };

/** The session state, read and written by the holder of the session's lock (the lease). */
export interface SessionStateStore {
  /** The state as the SDK returns it: nothing, a Buffer, or its JSON already parsed. */
  read(): Promise<unknown>;
  write(state: Buffer): Promise<void>;
}

/** The record refused a change that would not fit (`maxBytes`) even after dropping finished entries. */
export class RecordFullError extends Error {
  readonly code = 'RecordFull';
  constructor(bytes: number) {
    super(`the exactly-once record would take ${bytes} bytes`);
    this.name = 'RecordFullError';
  }
}

export interface SessionRecordOptions {
  /** How long after its request's expiry an entry is kept. Default 5 minutes. */
  retentionMs?: number;
  /** The largest record written (its JSON, before it is signed). Default 150 KiB. */
  maxBytes?: number;
  now?: () => Date;
}

type StoredEntry =
  | { s: 'a'; x: number; t: number; by: string; p?: string }
  | { s: 'd'; x: number; t: number; r: OperationResult };

interface StoredState {
  v: 1;
  ops: Record<string, StoredEntry>;
}

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

export class SessionRecord {
  private committed = new Map<string, RecordEntry>();
  private readonly pending = new Map<string, RecordEntry>();
  private waiters: Waiter[] = [];
  private writing = false;
  private readonly retentionMs: number;
  private readonly maxBytes: number;
  private readonly now: () => Date;
  private lastBytes = 0;

  private constructor(
    private readonly store: SessionStateStore,
    options: SessionRecordOptions,
  ) {
    this.retentionMs = options.retentionMs ?? 5 * 60_000;
    // Signed, the state takes a third more (base64url) and a little: it stays under Service Bus's 256 KB.
    this.maxBytes = options.maxBytes ?? 150 * 1024;
    this.now = options.now ?? (() => new Date());
  }

  /** Reads the session's state. Entries it cannot read are skipped; `skipped` says how many. */
  static async load(
    store: SessionStateStore,
    options: SessionRecordOptions = {},
  ): Promise<{ record: SessionRecord; skipped: number }> {
    const record = new SessionRecord(store, options);
    const skipped = record.parse(await store.read());
    return { record, skipped };
  }

  /** The entry of `operationId` as last written. */
  get(operationId: string): RecordEntry | undefined {
    return this.committed.get(operationId);
  }

  get size(): number {
    return this.committed.size;
  }

  /** Bytes of the state as last written or read. */
  get bytes(): number {
    return this.lastBytes;
  }

  /** Notes, durably and before the directory is touched, that `operationId` is being applied. */
  markApplying(
    operationId: string,
    entry: { expiresAt: Date; startedAt: Date; by: string; stamp?: string },
  ): Promise<void> {
    return this.change(operationId, { state: 'applying', ...entry });
  }

  /** Records the outcome of `operationId` durably. */
  recordOutcome(operationId: string, expiresAt: Date, outcome: RecordedOutcome): Promise<void> {
    return this.change(operationId, { state: 'done', expiresAt, outcome });
  }

  private change(operationId: string, entry: RecordEntry): Promise<void> {
    this.pending.set(operationId, entry);
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.writing) void this.writeLoop();
    });
  }

  /** One write at a time; each carries every change asked for since the previous one began. */
  private async writeLoop(): Promise<void> {
    this.writing = true;
    try {
      // Let the changes of messages handled in the same turn join the first write.
      await new Promise((resolve) => setImmediate(resolve));
      while (this.waiters.length > 0) {
        const batch = this.waiters;
        this.waiters = [];
        const next = new Map(this.committed);
        for (const [operationId, entry] of this.pending) next.set(operationId, entry);
        this.pending.clear();
        try {
          const bytes = this.encode(next);
          await this.store.write(bytes);
          this.committed = next;
          this.lastBytes = bytes.length;
          for (const waiter of batch) waiter.resolve();
        } catch (error) {
          for (const waiter of batch) waiter.reject(error);
        }
      }
    } finally {
      this.writing = false;
    }
  }

  /** Drops what expired, then what must go to fit, and encodes the rest. */
  private encode(entries: Map<string, RecordEntry>): Buffer {
    const cutoff = this.now().getTime() - this.retentionMs;
    for (const [operationId, entry] of entries) {
      if (entry.expiresAt.getTime() < cutoff) entries.delete(operationId);
    }
    let bytes = Buffer.from(JSON.stringify(toStored(entries)));
    if (bytes.length <= this.maxBytes) return bytes;
    const finished = [...entries]
      .filter(([, entry]) => entry.state === 'done')
      .sort(([, a], [, b]) => a.expiresAt.getTime() - b.expiresAt.getTime());
    // Roughly how many must go, from the average entry size; then exactly.
    const average = bytes.length / Math.max(entries.size, 1);
    let excess = Math.ceil((bytes.length - this.maxBytes) / average);
    while (bytes.length > this.maxBytes && finished.length > 0) {
      for (const [operationId] of finished.splice(0, Math.max(excess, 1))) entries.delete(operationId);
      bytes = Buffer.from(JSON.stringify(toStored(entries)));
      excess = 1;
    }
    if (bytes.length > this.maxBytes) throw new RecordFullError(bytes.length);
    return bytes;
  }

  private parse(raw: unknown): number {
    if (raw === undefined || raw === null) return 0;
    let state: unknown = raw;
    if (Buffer.isBuffer(raw) || raw instanceof Uint8Array) {
      this.lastBytes = raw.length;
      if (raw.length === 0) return 0;
      try {
        state = JSON.parse(Buffer.from(raw).toString('utf8'));
      } catch {
        return 1;
      }
    } else {
      this.lastBytes = Buffer.byteLength(JSON.stringify(raw));
    }
    const ops = (state as Partial<StoredState>)?.ops;
    if ((state as Partial<StoredState>)?.v !== 1 || typeof ops !== 'object' || ops === null) return 1;
    let skipped = 0;
    for (const [operationId, stored] of Object.entries(ops)) {
      const entry = fromStored(stored);
      if (entry) this.committed.set(operationId, entry);
      else skipped++;
    }
    return skipped;
  }
}

function toStored(entries: Map<string, RecordEntry>): StoredState {
  const ops: Record<string, StoredEntry> = {};
  for (const [operationId, entry] of entries) {
    ops[operationId] =
      entry.state === 'applying'
        ? {
            s: 'a',
            x: entry.expiresAt.getTime(),
            t: entry.startedAt.getTime(),
            by: entry.by,
            ...(entry.stamp !== undefined ? { p: entry.stamp } : {}),
          }
        : {
            s: 'd',
            x: entry.expiresAt.getTime(),
            t: entry.outcome.finishedAt.getTime(),
            r: {
              outcome: entry.outcome.result.outcome,
              ...(entry.outcome.result.reason !== undefined ? { reason: entry.outcome.result.reason } : {}),
              ...(entry.outcome.result.detail !== undefined ? { detail: entry.outcome.result.detail } : {}),
            },
          };
  }
  return { v: 1, ops };
}

function fromStored(stored: unknown): RecordEntry | undefined {
  const e = stored as Partial<StoredEntry> | null;
  if (!e || typeof e.x !== 'number' || typeof e.t !== 'number') return undefined;
  if (e.s === 'a' && typeof e.by === 'string') {
    return {
      state: 'applying',
      expiresAt: new Date(e.x),
      startedAt: new Date(e.t),
      by: e.by,
      ...(typeof e.p === 'string' ? { stamp: e.p } : {}),
    };
  }
  if (e.s === 'd' && e.r && typeof e.r.outcome === 'string') {
    return { state: 'done', expiresAt: new Date(e.x), outcome: { result: e.r, finishedAt: new Date(e.t) } };
  }
  return undefined;
}
