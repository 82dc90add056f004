import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AzureNamedKeyCredential, TableClient, odata } from '@azure/data-tables';
import { DEV_ACCOUNT, DEV_ACCOUNT_KEY, startAzurite, type Azurite } from '../../../../local/azurite/index.js';
import type { AzuriteCountsSnapshot } from '../../../../local/azurite/request-counter.js';

let azurite: Azurite;
before(async () => {
  azurite = await startAzurite();
});
after(() => azurite?.stop());

test("Azurite's requests are counted by port, caller and table operation, batches and queries by entity", async () => {
  const table = new TableClient(
    `http://127.0.0.1:${azurite.tablePort}/${DEV_ACCOUNT}`,
    'counted',
    new AzureNamedKeyCredential(DEV_ACCOUNT, DEV_ACCOUNT_KEY),
    { allowInsecureConnection: true, userAgentOptions: { userAgentPrefix: 'counting-test' } },
  );
  await table.createTable();
  await table.submitTransaction([
    ['create', { partitionKey: 'p', rowKey: 'a' }],
    ['create', { partitionKey: 'p', rowKey: 'b' }],
    ['create', { partitionKey: 'p', rowKey: 'c' }],
  ]);
  await table.getEntity('p', 'a');
  await table.upsertEntity({ partitionKey: 'p', rowKey: 'a', n: 1 }, 'Replace');
  const rows = [];
  for await (const row of table.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${'p'}` } }))
    rows.push(row);
  assert.equal(rows.length, 3);
  await assert.rejects(table.getEntity('p', 'missing'));

  const snapshot = (await (await fetch(azurite.statsUrl)).json()) as AzuriteCountsSnapshot;
  const counts = snapshot.byPort[String(azurite.tablePort)]?.['counting-test'];
  assert.deepEqual(counts, {
    createTable: 1,
    batch: 1,
    batchOperations: 3,
    pointRead: 2,
    replace: 1,
    query: 1,
    queryEntities: 3,
    'status:404': 1,
  });
});
