import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CreationPacer } from '../../../shared/rollover/creation-pacer.js';

test('the pacer lets at most `limit` creations start in any window, and holds all after a 429', async () => {
  let clock = 0;
  const starts: number[] = [];
  const pacer = new CreationPacer({
    limit: 3,
    windowMs: 1_000,
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
    },
  });
  for (let i = 0; i < 7; i++) {
    await pacer.take();
    starts.push(clock);
  }
  assert.deepEqual(starts, [0, 0, 0, 1_000, 1_000, 1_000, 2_000]);
  pacer.throttled(4_000);
  await pacer.take();
  assert.equal(clock, 6_000, 'nothing starts before the back-off has passed');
});
