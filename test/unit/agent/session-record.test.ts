/** The exactly-once record in the request session's state: format, group commit, failures, pruning, size. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecordFullError, SessionRecord, type SessionStateStore } from '../../../agent/session-record.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const minutes = (n: number) => new Date(NOW.getTime() + n * 60_000);
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** The session state as the broker keeps it; writes can be made to wait or fail. */
class State implements SessionStateStore {
  value: unknown;
  writes: Buffer[] = [];
  failNext: Error | undefined;
  gate: Promise<void> | undefined;
  constructor(initial?: unknown) {
    this.value = initial;
  }
  async read(): Promise<unknown> {
    return this.value;
  }
  async write(state: Buffer): Promise<void> {
    await this.gate;
    if (this.failNext) {
      const error = this.failNext;
      this.failNext = undefined;
      throw error;
    }
    this.writes.push(state);
    this.value = state;
  }
  get json(): { v: number; ops: Record<string, Record<string, unknown>> } {
    return JSON.parse((this.value as Buffer).toString('utf8'));
  }
}

const load = (state: State, options = {}) =>
  SessionRecord.load(state, { now: () => NOW, ...options }).then((r) => r.record);

const applying = (n = 0) => ({ expiresAt: minutes(5 + n), startedAt: NOW, by: 'agent-a', stamp: '7' });
const done = (outcome: 'succeeded' | 'AgentFailure' = 'succeeded', detail?: string) => ({
  result: { outcome, ...(detail ? { detail } : {}) },
  finishedAt: NOW,
});

describe('SessionRecord', () => {
  it('starts empty from no state, and reads back what it wrote', async () => {
    const state = new State(null);
    const record = await load(state);
    assert.equal(record.size, 0);
    await record.markApplying(id(1), applying());
    await record.recordOutcome(id(2), minutes(5), done('AgentFailure', 'not applied'));
    assert.deepEqual(state.json.ops[id(1)], {
      s: 'a',
      x: minutes(5).getTime(),
      t: NOW.getTime(),
      by: 'agent-a',
      p: '7',
    });
    const again = await load(state);
    assert.deepEqual(again.get(id(1)), { state: 'applying', ...applying() });
    assert.deepEqual(again.get(id(2)), {
      state: 'done',
      expiresAt: minutes(5),
      outcome: done('AgentFailure', 'not applied'),
    });
    assert.equal(again.bytes, state.writes.at(-1)!.length);
  });

  it('takes the state as the SDK hands it back (parsed JSON), and skips entries it cannot read', async () => {
    const { record, skipped } = await SessionRecord.load(
      new State({
        v: 1,
        ops: {
          [id(1)]: { s: 'd', x: minutes(5).getTime(), t: NOW.getTime(), r: { outcome: 'succeeded' } },
          [id(2)]: { s: 'a', x: 'soon' },
          [id(3)]: null,
        },
      }),
    );
    assert.equal(record.size, 1);
    assert.equal(skipped, 2);
    assert.equal((await SessionRecord.load(new State(Buffer.from('not json')))).skipped, 1);
    assert.equal((await SessionRecord.load(new State({ v: 2, ops: {} }))).skipped, 1);
  });

  it('writes the changes of requests in flight together: one round trip, not one each', async () => {
    const state = new State();
    const record = await load(state);
    await Promise.all(Array.from({ length: 8 }, (_, n) => record.markApplying(id(n), applying())));
    assert.equal(state.writes.length, 1);
    assert.equal(Object.keys(state.json.ops).length, 8);
  });

  it('gathers the changes asked for during a write into the next one', async () => {
    const state = new State();
    const record = await load(state);
    let open!: () => void;
    state.gate = new Promise((resolve) => (open = resolve));
    const first = record.markApplying(id(1), applying());
    await new Promise((resolve) => setImmediate(resolve)); // the first write is under way
    const later = [2, 3, 4].map((n) => record.markApplying(id(n), applying()));
    open();
    await Promise.all([first, ...later]);
    assert.equal(state.writes.length, 2);
    assert.deepEqual(Object.keys(state.json.ops).sort(), [id(1), id(2), id(3), id(4)]);
  });

  it('tells every caller of a failed write, keeps what was written before, and writes again next time', async () => {
    const state = new State();
    const record = await load(state);
    await record.markApplying(id(1), applying());
    state.failNext = Object.assign(new Error('lock lost'), { code: 'SessionLockLost' });
    const failed = await Promise.allSettled([
      record.recordOutcome(id(1), minutes(5), done()),
      record.markApplying(id(2), applying()),
    ]);
    assert.deepEqual(
      failed.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    assert.equal(record.get(id(1))?.state, 'applying', 'the outcome was not written');
    assert.equal(record.get(id(2)), undefined);
    await record.recordOutcome(id(1), minutes(5), done());
    assert.equal(record.get(id(1))?.state, 'done');
    assert.equal(state.json.ops[id(2)], undefined, 'a failed change is not carried along');
  });

  it('drops entries whose request expired more than the retention ago', async () => {
    const state = new State();
    const record = await load(state, { retentionMs: 5 * 60_000 });
    await record.recordOutcome(id(1), minutes(-6), done()); // expired 6 minutes ago
    await record.recordOutcome(id(2), minutes(-4), done());
    assert.deepEqual(Object.keys(state.json.ops), [id(2)]);
    assert.equal(record.get(id(1)), undefined);
  });

  it('stays under its size: finished entries closest to expiry go first; applying ones never', async () => {
    const state = new State();
    const record = await load(state, { maxBytes: 2_000 });
    for (let n = 0; n < 20; n++)
      await record.recordOutcome(id(n), minutes(5 + n), done('AgentFailure', 'x'.repeat(40)));
    assert.ok(state.writes.at(-1)!.length <= 2_000);
    const kept = Object.keys(state.json.ops);
    assert.ok(kept.length < 20 && kept.length > 5);
    assert.ok(kept.includes(id(19)) && !kept.includes(id(0)), 'the ones expiring first went first');

    const full = await load(new State(), { maxBytes: 600 });
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, n) => full.markApplying(id(n), applying(n))),
    );
    assert.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof RecordFullError));
  });
});
