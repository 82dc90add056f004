/**
 * How a waiting HTTP call learns its operation's outcome (result correlation, docs/architecture.md).
 *
 * The replies function records a result in the `operations` table and then tells the waiters of its
 * own instance at once (in memory). A waiter whose reply is handled by another instance cannot hear
 * that, so it also reads its own row, on a back-off schedule (150 ms, then growing to one read a
 * second): with many instances, no reply is missed and no waiter reads the table in a tight loop. With
 * one instance, or when the reply lands where the request is, the answer costs no read at all.
 *
 * Why not a cross-instance push (a Service Bus session per instance, Web PubSub, …)? Each costs a
 * resource and a connection per instance for what a point read a second does well enough at the
 * volumes of password resets; the polling schedule is the one place to change if that ever differs.
 */
import { callDependency } from '../azure/index.js';
import type { OperationRecord, OperationStore } from './store.js';

/** Delays between reads of a waiting operation's row, in ms; the last one repeats. */
export const POLL_SCHEDULE_MS: readonly number[] = [150, 250, 400, 600, 1_000];

type Listener = (record: OperationRecord) => void;

function keyOf(tenantId: string, operationId: string): string {
  return `${tenantId}/${operationId}`;
}

export interface OperationWatch {
  /**
   * The operation once it has ended, or its last known (pending) row when `timeoutMs` passes first;
   * undefined only if the row was never found.
   */
  result(timeoutMs: number): Promise<OperationRecord | undefined>;
  /** Stops listening (result() does it itself; call it when result() is never called). */
  close(): void;
}

export class OperationWaiter {
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(
    private readonly store: Pick<OperationStore, 'get'>,
    private readonly schedule: readonly number[] = POLL_SCHEDULE_MS,
  ) {}

  /** Tells this instance's waiters that an operation ended. */
  notify(record: OperationRecord): void {
    for (const listener of this.listeners.get(keyOf(record.tenantId, record.operationId)) ?? []) {
      listener(record);
    }
  }

  /**
   * Starts listening for an operation. Call it before the request is sent, so that a reply handled
   * by this instance at once is not missed.
   */
  watch(tenantId: string, operationId: string, known?: OperationRecord): OperationWatch {
    const key = keyOf(tenantId, operationId);
    let heard: OperationRecord | undefined;
    let wake: (() => void) | undefined;
    const listener: Listener = (record) => {
      heard = record;
      wake?.();
    };
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(listener);
    const close = () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(key) === set) this.listeners.delete(key);
    };

    const result = async (timeoutMs: number): Promise<OperationRecord | undefined> => {
      const deadline = Date.now() + timeoutMs;
      let latest = known;
      try {
        for (let step = 0; ; step++) {
          if (heard) return heard;
          if (latest && latest.state !== 'pending') return latest;
          const left = deadline - Date.now();
          if (left <= 0) return latest;
          const delay = Math.min(left, this.schedule[Math.min(step, this.schedule.length - 1)] ?? 1_000);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, delay);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = undefined;
          if (heard) return heard;
          // A read that fails or stalls is only a missed poll: the next one may succeed, and the wait
          // still ends at its time.
          latest =
            (await callDependency(
              'Table storage',
              () => this.store.get(tenantId, operationId),
              undefined,
              'read operation',
              {
                capMs: Math.max(1, deadline - Date.now()),
              },
            ).catch(() => undefined)) ?? latest;
        }
      } finally {
        close();
      }
    };
    return { result, close };
  }
}
