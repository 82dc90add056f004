/**
 * The directory connection pool's close(): it waits for connections in use, and also for one being
 * opened when it is called, however that open ends. (A close during an open used to wait forever,
 * which hung the agent's owner at shutdown after a DC restart.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionPool, PoolClosedError } from '../../../../agent/directory/connection-pool.js';

interface FakeConnection {
  id: number;
  disposed: boolean;
}

function pool(open: () => Promise<FakeConnection>) {
  return new ConnectionPool<FakeConnection>({
    size: 2,
    open,
    isUsable: (c) => !c.disposed,
    dispose: async (c) => {
      c.disposed = true;
    },
    isRetryable: () => true,
    initialBackoffMs: 10,
    maxBackoffMs: 20,
  });
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test(
  'close() during an open that then fails resolves, and the caller gets the failure',
  { timeout: 10_000 },
  async () => {
    const opening = deferred<FakeConnection>();
    const p = pool(() => opening.promise);
    const use = p.use(Date.now() + 5_000, async () => ({ value: 'never', reusable: true }));
    await new Promise((resolve) => setImmediate(resolve));
    const closed = p.close();
    opening.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    await assert.rejects(use);
    await closed;
  },
);

test(
  'close() during an open that then succeeds disposes the connection and resolves',
  { timeout: 10_000 },
  async () => {
    const opening = deferred<FakeConnection>();
    const p = pool(() => opening.promise);
    const use = p.use(Date.now() + 5_000, async () => ({ value: 'never', reusable: true }));
    await new Promise((resolve) => setImmediate(resolve));
    const closed = p.close();
    const connection = { id: 1, disposed: false };
    opening.resolve(connection);
    await assert.rejects(use, PoolClosedError);
    await closed;
    assert.equal(connection.disposed, true);
  },
);

test('close() waits for a connection in use, then disposes it', { timeout: 10_000 }, async () => {
  const connection = { id: 2, disposed: false };
  const p = pool(() => Promise.resolve(connection));
  const working = deferred<void>();
  const use = p.use(Date.now() + 5_000, async () => {
    await working.promise;
    return { value: 'done', reusable: true };
  });
  await new Promise((resolve) => setImmediate(resolve));
  let closedYet = false;
  const closed = p.close().then(() => (closedYet = true));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(closedYet, false, 'close() returned while a connection was in use');
  working.resolve();
  assert.equal(await use, 'done');
  await closed;
  assert.equal(connection.disposed, true);
});
