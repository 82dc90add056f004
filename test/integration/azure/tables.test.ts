import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAzurite, type Azurite } from '../../../local/azurite/index.js';
import { tableClientFromSettings, tableServiceClientFromSettings } from '../../../shared/azure/clients.js';
import { ConfigurationError } from '../../../shared/errors/index.js';

let azurite: Azurite;
before(async () => {
  azurite = await startAzurite();
});
after(async () => {
  await azurite?.stop();
});

test('a connection string setting reaches Azurite through the official SDK', async () => {
  const env = { TablesConnection: azurite.connectionString };
  const service = tableServiceClientFromSettings('TablesConnection', env);
  await service.createTable('probe');
  const table = tableClientFromSettings('probe', 'TablesConnection', env);
  await table.upsertEntity({ partitionKey: 'contoso', rowKey: 'r1', state: 'pending' });
  const entity = await table.getEntity<{ state: string }>('contoso', 'r1');
  assert.equal(entity.state, 'pending');
});

test('tables default to AzureWebJobsStorage', async () => {
  const table = tableClientFromSettings('defaults', undefined, {
    AzureWebJobsStorage: azurite.connectionString,
  });
  await table.createTable();
  await table.upsertEntity({ partitionKey: 'p', rowKey: 'r' });
  assert.equal((await table.getEntity('p', 'r')).rowKey, 'r');
});

test('an identity-based setting builds a client for the endpoint', () => {
  const client = tableClientFromSettings('tenants', 'TablesConnection', {
    TablesConnection__tableServiceUri: 'https://account.table.core.windows.net',
  });
  assert.equal(client.url, 'https://account.table.core.windows.net');
});

test('a missing connection fails and names the setting', () => {
  assert.throws(
    () => tableClientFromSettings('tenants', 'TablesConnection', {}),
    (error: unknown) => error instanceof ConfigurationError && error.setting === 'TablesConnection',
  );
});
