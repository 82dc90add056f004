/** One signing-key lookup per new -enc version, waited for only when still under way at signing time. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyVersionWatch } from '../../../agent/key-version-watch.js';

function controlled() {
  let calls = 0;
  const pending: { resolve(): void; reject(error: Error): void }[] = [];
  const refresh = () =>
    new Promise<void>((resolve, reject) => {
      calls++;
      pending.push({ resolve, reject });
    });
  return { refresh, pending, calls: () => calls };
}

describe('KeyVersionWatch', () => {
  it('looks the signing key up once per -enc version not seen before', async () => {
    const lookups = controlled();
    const watch = new KeyVersionWatch({ refresh: lookups.refresh });
    watch.saw('a'.repeat(32));
    watch.saw('a'.repeat(32));
    assert.equal(lookups.calls(), 1);
    assert.equal(watch.looking, true);
    lookups.pending[0]!.resolve();
    await watch.settled();
    assert.equal(watch.looking, false);
    watch.saw('a'.repeat(32));
    assert.equal(lookups.calls(), 1);
    watch.saw('b'.repeat(32));
    assert.equal(lookups.calls(), 2);
    lookups.pending[1]!.resolve();
  });

  it('lets a reply wait for a lookup under way, at most maxWaitMs, and never rejects', async () => {
    const lookups = controlled();
    const errors: unknown[] = [];
    const watch = new KeyVersionWatch({
      refresh: lookups.refresh,
      onError: (e) => errors.push(e),
      maxWaitMs: 50,
    });
    await watch.settled(); // nothing under way: at once
    watch.saw('c'.repeat(32));
    const started = Date.now();
    await watch.settled(); // the lookup hangs: bounded
    assert.ok(Date.now() - started >= 45 && Date.now() - started < 1000);
    lookups.pending[0]!.reject(new Error('vault down'));
    await watch.settled();
    assert.equal(errors.length, 1);
    assert.equal(watch.looking, false);
  });

  it('forgets everything once it remembers maxVersions, and an explicit refresh waits like one seen', async () => {
    const lookups = controlled();
    const watch = new KeyVersionWatch({ refresh: lookups.refresh, maxVersions: 2 });
    for (const v of ['1', '2', '3', '1']) watch.saw(v.repeat(32));
    assert.equal(lookups.calls(), 4); // '3' cleared the set, so '1' is new again
    const refreshed = watch.refresh();
    assert.equal(lookups.calls(), 5);
    for (const p of lookups.pending) p.resolve();
    await refreshed;
    await watch.settled();
  });
});
