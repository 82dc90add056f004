/**
 * Paging through keys and versions with the official KeyClient while they change between pages: the
 * continuation token is a cursor (as Key Vault's opaque $skiptoken), so an item that exists throughout
 * the listing is returned exactly once, whatever is created, disabled or deleted meanwhile.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KeyClient } from '@azure/keyvault-keys';
import { OFFICER, startStack, type TestStack } from './support.js';

/** Fast polling for the delete poller. */
const POLL = { intervalInMs: 10 };

function counts(names: readonly string[]): Map<string, number> {
  const seen = new Map<string, number>();
  for (const name of names) seen.set(name, (seen.get(name) ?? 0) + 1);
  return seen;
}

describe('Key Vault emulator: paging while keys and versions change', () => {
  let stack: TestStack;
  let client: KeyClient;

  before(async () => {
    stack = await startStack();
    client = stack.keyClient(stack.credential(OFFICER));
  });
  after(async () => stack?.close());

  it('lists every key that exists throughout exactly once while keys are created, disabled and deleted', async () => {
    // Names spread over the sort order, so that changes land before and after the cursor.
    const stable = Array.from({ length: 12 }, (_, i) => `keep-${String.fromCharCode(98 + i * 2)}`);
    const doomed = ['keep-a', 'keep-c0', 'keep-m0', 'keep-z'];
    for (const name of [...stable, ...doomed]) await client.createEcKey(name);

    const listed: string[] = [];
    let pageNumber = 0;
    for await (const page of client.listPropertiesOfKeys().byPage({ maxPageSize: 3 })) {
      assert.ok(page.length <= 3);
      listed.push(...page.map((p) => p.name));
      pageNumber++;
      if (pageNumber === 1) {
        // Delete keys already listed and not yet listed, create keys before and after the cursor.
        for (const name of ['keep-a', 'keep-z'])
          await (await client.beginDeleteKey(name, POLL)).pollUntilDone();
        await client.createEcKey('keep-b0');
        await client.createEcKey('keep-y0');
      } else if (pageNumber === 2) {
        await client.updateKeyProperties(stable[4]!, { enabled: false });
        await client.updateKeyProperties(stable[10]!, { enabled: false });
        await client.createEcKey('keep-aa');
        await (await client.beginDeleteKey('keep-c0', POLL)).pollUntilDone();
      } else if (pageNumber === 3) {
        await (await client.beginDeleteKey('keep-m0', POLL)).pollUntilDone();
        await client.createEcKey(`keep-${'q'.repeat(3)}`);
      }
    }
    assert.ok(pageNumber >= 5, `paged (${pageNumber} pages)`);
    const seen = counts(listed);
    for (const name of stable) assert.equal(seen.get(name), 1, `${name} listed once (${listed.join(', ')})`);
    for (const [name, times] of seen) assert.equal(times, 1, `${name} not repeated`);
  });

  it('lists every version that exists throughout exactly once while versions are created and disabled', async () => {
    const stable: string[] = [];
    for (let i = 0; i < 9; i++) stable.push((await client.createEcKey('many-versions')).properties.version!);

    const listed: string[] = [];
    let pageNumber = 0;
    for await (const page of client.listPropertiesOfKeyVersions('many-versions').byPage({ maxPageSize: 2 })) {
      assert.ok(page.length <= 2);
      listed.push(...page.map((p) => p.version!));
      pageNumber++;
      if (pageNumber <= 3) {
        // New versions (ids are random, so they land before and after the cursor), a rotation, and a
        // version disabled, as the rollover does to versions out of grace.
        await client.createEcKey('many-versions');
        await client.rotateKey('many-versions');
        await client.updateKeyProperties('many-versions', stable[pageNumber * 2]!, { enabled: false });
      }
    }
    assert.ok(pageNumber >= 5, `paged (${pageNumber} pages)`);
    const seen = counts(listed);
    for (const version of stable) assert.equal(seen.get(version), 1, `version ${version} listed once`);
    for (const [version, times] of seen) assert.equal(times, 1, `${version} not repeated`);
    const all: string[] = [];
    for await (const v of client.listPropertiesOfKeyVersions('many-versions')) all.push(v.version!);
    assert.equal(all.length, 9 + 6, 'nine versions and six made while paging');
  });

  it('pages with its configured page size when the caller asks for none', async () => {
    const small = await startStack({ pageSize: 2 });
    try {
      const keys = small.keyClient(small.credential(OFFICER));
      for (let i = 0; i < 5; i++) await keys.createEcKey(`small-${i}`);
      const sizes: number[] = [];
      for await (const page of keys.listPropertiesOfKeys().byPage()) sizes.push(page.length);
      assert.deepEqual(sizes, [2, 2, 1]);
      const names: string[] = [];
      for await (const properties of keys.listPropertiesOfKeys()) names.push(properties.name);
      assert.deepEqual(names, ['small-0', 'small-1', 'small-2', 'small-3', 'small-4']);
      // The caller's maxPageSize still wins, up to Key Vault's 25.
      const asked: number[] = [];
      for await (const page of keys.listPropertiesOfKeys().byPage({ maxPageSize: 4 }))
        asked.push(page.length);
      assert.deepEqual(asked, [4, 1]);
    } finally {
      await small.close();
    }
  });
});
