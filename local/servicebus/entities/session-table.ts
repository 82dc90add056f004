/** The sessions of a sessionful queue: their ready messages, state, holder and lock. */
import type { Consumer } from './consumer.js';
import { ReadyIndex } from './ready-index.js';

export interface SessionEntry {
  id: string;
  ready: ReadyIndex;
  state: Buffer | undefined;
  holder: Consumer | undefined;
  lockedUntil: number;
  lockTimer: NodeJS.Timeout | undefined;
  /** Messages of the session that are in the store (any state). */
  messageCount: number;
  updatedAt: number;
}

/** A consumer waiting for any session with messages to become free. */
export interface SessionWaiter {
  consumer: Consumer;
  resolve: (sessionId: string) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export function isSessionLocked(entry: SessionEntry): boolean {
  return entry.holder !== undefined && entry.lockedUntil > Date.now();
}

export class SessionTable {
  private readonly entries = new Map<string, SessionEntry>();

  get(id: string): SessionEntry | undefined {
    return this.entries.get(id);
  }

  /** The session `id`, created empty if it is not known. */
  entry(id: string): SessionEntry {
    let entry = this.entries.get(id);
    if (!entry) {
      entry = {
        id,
        ready: new ReadyIndex(),
        state: undefined,
        holder: undefined,
        lockedUntil: 0,
        lockTimer: undefined,
        messageCount: 0,
        updatedAt: Date.now(),
      };
      this.entries.set(id, entry);
    }
    return entry;
  }

  forgetIfIdle(entry: SessionEntry): void {
    if (entry.messageCount <= 0 && !entry.holder && entry.state === undefined) this.entries.delete(entry.id);
  }

  /** A session with messages ready that nobody holds. */
  nextFree(): SessionEntry | undefined {
    for (const entry of this.entries.values()) {
      if (entry.ready.size > 0 && !isSessionLocked(entry)) return entry;
    }
    return undefined;
  }

  /** Sessions with messages or state, optionally only those updated since `since`. */
  list(since: number, skip: number, top: number): string[] {
    return [...this.entries.values()]
      .filter((entry) => (entry.messageCount > 0 || entry.state !== undefined) && entry.updatedAt >= since)
      .map((entry) => entry.id)
      .slice(skip, skip + top);
  }

  values(): IterableIterator<SessionEntry> {
    return this.entries.values();
  }
}
