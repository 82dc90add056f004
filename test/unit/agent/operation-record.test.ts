import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { OperationRecord, RECORD_FILE } from '../../../agent/operation-record.js';

const OP_A = '00000000-0000-4000-8000-00000000000a';
const OP_B = '00000000-0000-4000-8000-00000000000b';

describe('the operation record', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agent-record-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps "applying" and outcomes across a restart', async () => {
    const expiresAt = new Date(Date.now() + 60_000);
    const first = await OperationRecord.open(dir);
    await first.markApplying(OP_A, expiresAt);
    await first.markApplying(OP_B, expiresAt);
    const finishedAt = new Date('2026-01-01T00:00:00.000Z');
    await first.recordOutcome(OP_B, expiresAt, {
      result: { outcome: 'PasswordPolicy', reason: 'history', detail: 'x' },
      finishedAt,
    });
    await first.close();

    const second = await OperationRecord.open(dir);
    assert.equal(second.get(OP_A)?.state, 'applying');
    const b = second.get(OP_B);
    assert.equal(b?.state, 'done');
    if (b?.state === 'done') {
      assert.deepEqual(b.outcome.result, { outcome: 'PasswordPolicy', reason: 'history', detail: 'x' });
      assert.equal(b.outcome.finishedAt.getTime(), finishedAt.getTime());
    }
    await second.close();
  });

  it('skips a line torn by a crash and goes on appending after it', async () => {
    const expiresAt = new Date(Date.now() + 60_000);
    await writeFile(
      join(dir, RECORD_FILE),
      `${JSON.stringify({ op: OP_A, s: 'applying', exp: expiresAt.getTime(), at: 1 })}\n{"op":"tor`,
    );
    const record = await OperationRecord.open(dir);
    assert.equal(record.get(OP_A)?.state, 'applying');
    await record.recordOutcome(OP_A, expiresAt, { result: { outcome: 'succeeded' }, finishedAt: new Date() });
    await record.close();
    const reopened = await OperationRecord.open(dir);
    assert.equal(reopened.get(OP_A)?.state, 'done');
    await reopened.close();
  });

  it('drops operations whose request expired longer ago than the retention, at open and after many appends', async () => {
    let now = new Date('2026-06-01T00:00:00Z');
    const record = await OperationRecord.open(dir, {
      retentionMs: 1000,
      compactAfterLines: 4,
      now: () => now,
    });
    await record.markApplying(OP_A, new Date(now.getTime() + 100));
    await record.recordOutcome(OP_A, new Date(now.getTime() + 100), {
      result: { outcome: 'succeeded' },
      finishedAt: now,
    });
    now = new Date(now.getTime() + 5000);
    await record.markApplying(OP_B, new Date(now.getTime() + 100));
    await record.recordOutcome(OP_B, new Date(now.getTime() + 100), {
      result: { outcome: 'succeeded' },
      finishedAt: now,
    });
    // The fourth append compacted: A's request expired 4.9 s ago, beyond 1 s of retention.
    assert.equal(record.get(OP_A), undefined);
    assert.equal(record.get(OP_B)?.state, 'done');
    const lines = (await readFile(join(dir, RECORD_FILE), 'utf8')).trim().split('\n');
    assert.equal(lines.length, 1);
    assert.ok(!lines[0]!.includes(OP_A));
    await record.close();
  });

  it('holds no user and no password: only ids, states, times and outcomes', async () => {
    const record = await OperationRecord.open(dir);
    await record.recordOutcome(OP_A, new Date(), {
      result: { outcome: 'UserNotFound' },
      finishedAt: new Date(),
    });
    await record.close();
    const line = JSON.parse((await readFile(join(dir, RECORD_FILE), 'utf8')).trim()) as Record<
      string,
      unknown
    >;
    assert.deepEqual(Object.keys(line).sort(), ['at', 'exp', 'op', 'r', 's']);
  });
});
