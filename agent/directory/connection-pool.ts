/**
 * A small pool of authenticated directory connections with reconnect and backoff. Hand-written:
 * ldapts has no pool, and generic pools (generic-pool, tarn) bring no backoff that is shared by all
 * callers, which is the point here — when the DC is down, callers must not each hammer it, and must
 * fail within their deadline instead of hanging.
 *
 * - At most `size` connections; callers beyond that wait for one to be released (bounded by their
 *   deadline).
 * - Opening a connection is retried with exponential backoff (with jitter); the backoff state is
 *   shared, so while the DC is known to be down a caller whose deadline ends before the next attempt
 *   fails at once.
 * - A connection that failed, or that the caller marks unusable, is closed and replaced later.
 */

export interface PoolOptions<C> {
  size: number;
  /** Opens and authenticates one connection; throws when it cannot. */
  open: () => Promise<C>;
  /** Whether an idle connection is still good to hand out (socket open, still bound). */
  isUsable: (connection: C) => boolean;
  /** Closes a connection; must not throw. */
  dispose: (connection: C) => Promise<void>;
  /** Whether a failure to open is worth retrying (not, e.g., refused credentials). */
  isRetryable: (error: unknown) => boolean;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Told about each failed attempt to open a connection (for logs). */
  onOpenFailure?: (error: unknown, attempt: number, retryInMs: number) => void;
  onOpened?: (afterFailures: number) => void;
}

/** Thrown when no connection could be had before the deadline; `cause` is the last failure, if any. */
export class PoolTimeoutError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PoolTimeoutError';
  }
}

export class PoolClosedError extends Error {
  constructor() {
    super('the connection pool is closed');
    this.name = 'PoolClosedError';
  }
}

interface Waiter<C> {
  resolve: (connection: C | undefined) => void;
  timer: NodeJS.Timeout;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class ConnectionPool<C> {
  private readonly idle: C[] = [];
  /** Connections handed out or being opened. */
  private busy = 0;
  private readonly waiters: Waiter<C>[] = [];
  private failures = 0;
  private retryAt = 0;
  private lastFailure: unknown;
  private closed = false;
  private drained?: () => void;

  constructor(private readonly options: PoolOptions<C>) {}

  /**
   * Runs `work` with a connection. `work` returns whether the connection may be reused; when it
   * throws, the connection is closed.
   */
  async use<T>(
    deadline: number,
    work: (connection: C) => Promise<{ value: T; reusable: boolean }>,
  ): Promise<T> {
    const connection = await this.acquire(deadline);
    let reusable = false;
    try {
      const { value, reusable: keep } = await work(connection);
      reusable = keep;
      return value;
    } finally {
      this.release(connection, reusable);
    }
  }

  /** Closes idle connections now and the others when they are released; waits for that. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const waiter of this.waiters.splice(0)) {
        clearTimeout(waiter.timer);
        waiter.resolve(undefined);
      }
    }
    await Promise.all(this.idle.splice(0).map((connection) => this.options.dispose(connection)));
    if (this.busy > 0) await new Promise<void>((resolve) => (this.drained = resolve));
  }

  private async acquire(deadline: number): Promise<C> {
    for (;;) {
      if (this.closed) throw new PoolClosedError();
      const idle = this.idle.pop();
      if (idle !== undefined) {
        if (this.options.isUsable(idle)) {
          this.busy++;
          return idle;
        }
        void this.options.dispose(idle);
        continue;
      }
      if (this.busy < this.options.size) {
        this.busy++;
        try {
          return await this.openWithBackoff(deadline);
        } catch (error) {
          this.busy--;
          this.handOver();
          this.settleClose();
          throw error;
        }
      }
      const released = await this.waitForRelease(deadline);
      if (released !== undefined) {
        this.busy++;
        return released;
      }
    }
  }

  private release(connection: C, reusable: boolean): void {
    this.busy--;
    if (this.closed || !reusable || !this.options.isUsable(connection)) {
      void this.options.dispose(connection);
      this.handOver();
    } else {
      const waiter = this.waiters.shift();
      if (waiter) {
        clearTimeout(waiter.timer);
        waiter.resolve(connection);
      } else {
        this.idle.push(connection);
      }
    }
    this.settleClose();
  }

  /**
   * Lets a pending close() finish once nothing is handed out or being opened, whichever way the last
   * one ended: released, or an open that failed (or found the pool closed) after close() began.
   */
  private settleClose(): void {
    if (this.closed && this.busy === 0) this.drained?.();
  }

  /** A slot became free without a connection: let one waiter try to open one. */
  private handOver(): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(undefined);
    }
  }

  private waitForRelease(deadline: number): Promise<C | undefined> {
    const remaining = deadline - Date.now();
    if (remaining <= 0)
      return Promise.reject(new PoolTimeoutError('no directory connection became free in time'));
    return new Promise<C | undefined>((resolve, reject) => {
      const waiter: Waiter<C> = {
        resolve,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(new PoolTimeoutError('no directory connection became free in time'));
        }, remaining),
      };
      this.waiters.push(waiter);
    });
  }

  private async openWithBackoff(deadline: number): Promise<C> {
    for (;;) {
      const wait = this.retryAt - Date.now();
      if (wait > 0) {
        if (Date.now() + wait >= deadline) {
          throw new PoolTimeoutError('the directory is unreachable', { cause: this.lastFailure });
        }
        await sleep(wait);
      }
      if (this.closed) throw new PoolClosedError();
      try {
        const connection = await this.options.open();
        if (this.failures > 0) this.options.onOpened?.(this.failures);
        this.failures = 0;
        this.retryAt = 0;
        if (this.closed) {
          await this.options.dispose(connection);
          throw new PoolClosedError();
        }
        return connection;
      } catch (error) {
        if (error instanceof PoolClosedError || !this.options.isRetryable(error)) throw error;
        this.failures++;
        this.lastFailure = error;
        const backoff = Math.min(
          this.options.initialBackoffMs * 2 ** Math.min(this.failures - 1, 20),
          this.options.maxBackoffMs,
        );
        // Jitter spreads reconnects of several agents after a DC restart.
        const delay = Math.round(backoff * (0.5 + Math.random() / 2));
        this.retryAt = Math.max(this.retryAt, Date.now() + delay);
        this.options.onOpenFailure?.(error, this.failures, delay);
        if (Date.now() >= deadline)
          throw new PoolTimeoutError('the directory is unreachable', { cause: error });
      }
    }
  }
}
