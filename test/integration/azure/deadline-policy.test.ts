/**
 * The app's Table client (tableClientFromSettings) against a scripted HTTP server: reads are tried
 * again after a fault, writes only when the answer says they were not done, and every call ends by
 * its deadline. The server answers each request by the next step of its script.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tableClientFromSettings } from '../../../shared/azure/clients.js';
import { callDependency, DependencyTimeout } from '../../../shared/azure/index.js';
import { withinBudget } from '../../../shared/domain/index.js';
import { ProblemError } from '../../../shared/errors/index.js';
import { DEV_ACCOUNT, DEV_ACCOUNT_KEY } from '../../../local/azurite/index.js';
import { listenOn } from '../../../local/process/ports.js';

type Step = 'ok' | 'hang' | 'reset' | number;

async function scriptedTables(script: Step[]) {
  const seen: string[] = [];
  const hanging: ServerResponse[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    request.resume();
    request.on('end', () => {
      seen.push(request.method ?? '?');
      const step = script.shift() ?? 'ok';
      if (step === 'hang') return void hanging.push(response);
      if (step === 'reset') return void request.socket.destroy();
      const status = step === 'ok' ? (request.method === 'POST' ? 201 : 200) : step;
      response.writeHead(status, { 'content-type': 'application/json;odata=nometadata' });
      response.end(
        status < 300
          ? JSON.stringify({ PartitionKey: 'p', RowKey: 'r', value: 1 })
          : JSON.stringify({ 'odata.error': { code: 'ServerBusy', message: { value: 'scripted' } } }),
      );
    });
  });
  const port = await listenOn(server, 0, '127.0.0.1');
  const connectionString = [
    'DefaultEndpointsProtocol=http',
    `AccountName=${DEV_ACCOUNT}`,
    `AccountKey=${DEV_ACCOUNT_KEY}`,
    `TableEndpoint=http://127.0.0.1:${port}/${DEV_ACCOUNT}`,
  ].join(';');
  const table = tableClientFromSettings('items', 'Tables', { Tables: connectionString });
  return {
    table,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const response of hanging) response.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

test('a read is tried again after a 503 and after a reset connection', async () => {
  const t = await scriptedTables([503, 'reset', 'ok']);
  try {
    const entity = await withinBudget(5_000, () => t.table.getEntity('p', 'r'));
    assert.equal(entity.rowKey, 'r');
    assert.deepEqual(t.seen, ['GET', 'GET', 'GET']);
  } finally {
    await t.close();
  }
});

test('a write whose answer was lost, or that failed with a 500, is not sent again', async () => {
  for (const step of ['reset', 500] as const) {
    const t = await scriptedTables([step, 'ok']);
    try {
      await assert.rejects(
        withinBudget(5_000, () => t.table.createEntity({ partitionKey: 'p', rowKey: 'r' })),
      );
      assert.deepEqual(t.seen, ['POST'], `after ${step}`);
    } finally {
      await t.close();
    }
  }
});

test('a write answered 503 (not started) is sent again', async () => {
  const t = await scriptedTables([503, 'ok']);
  try {
    await withinBudget(5_000, () => t.table.createEntity({ partitionKey: 'p', rowKey: 'r' }));
    assert.deepEqual(t.seen, ['POST', 'POST']);
  } finally {
    await t.close();
  }
});

test('a call to a hanging dependency ends by the budget with a 503 whose cause is the timeout', async () => {
  const t = await scriptedTables(['hang', 'hang', 'hang']);
  try {
    const started = performance.now();
    const error = await withinBudget(800, () =>
      callDependency('Table storage', () => t.table.createEntity({ partitionKey: 'p', rowKey: 'r' })),
    ).then(
      () => assert.fail('a hanging call succeeded'),
      (e: unknown) => e,
    );
    const took = performance.now() - started;
    assert.ok(error instanceof ProblemError && error.code === 'ServiceUnavailable', String(error));
    assert.ok(error.cause instanceof DependencyTimeout, String(error.cause));
    assert.match(error.detail, /did not answer within 0\.8 s/);
    assert.ok(took >= 750 && took < 1_500, `took ${took} ms`);
    assert.deepEqual(t.seen, ['POST']);
  } finally {
    await t.close();
  }
});

test('a read that hangs is abandoned after its attempt time and tried again on a new request', async () => {
  const t = await scriptedTables(['hang', 'ok']);
  try {
    const entity = await withinBudget(8_000, () => t.table.getEntity('p', 'r'));
    assert.equal(entity.rowKey, 'r');
    assert.deepEqual(t.seen, ['GET', 'GET']);
  } finally {
    await t.close();
  }
});
