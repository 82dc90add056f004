import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, test } from 'node:test';
import { signSasToken } from '../../../../local/servicebus/auth/sas.js';
import type { BrokerStatsSnapshot } from '../../../../local/servicebus/stats/broker-stats.js';
import { ROOT_RULE_NAME } from '../../../../local/servicebus/index.js';
import { connectionStringWith, startFixture, type Fixture } from './emulator-fixture.js';

let fixture: Fixture;
before(async () => {
  fixture = await startFixture();
});
after(() => fixture?.close());

function stats(keyName: string, key: string): Promise<{ status: number; body: BrokerStatsSnapshot }> {
  const base = `https://${fixture.emulator.managementNamespace}`;
  const token = signSasToken(`${base}/`, keyName, key, Math.floor(Date.now() / 1000) + 300);
  return new Promise((resolve, reject) => {
    request(`${base}/.emulator/stats`, { ca: fixture.caPem, headers: { authorization: token } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: res.statusCode === 200 ? JSON.parse(text) : undefined });
      });
    })
      .on('error', reject)
      .end();
  });
}

test('GET /.emulator/stats counts sends, deliveries and settlements by the rule that authorized them', async () => {
  const listenKey = Buffer.alloc(32, 1).toString('base64');
  const queue = await fixture.queue({
    authorizationRules: [
      {
        claimType: 'SharedAccessKey',
        keyName: 'agent-listen',
        accessRights: ['Listen'],
        primaryKey: listenKey,
      },
    ],
  });
  const sender = fixture.client.createSender(queue);
  await sender.sendMessages({ body: Buffer.alloc(100, 7) });
  const agent = fixture.clientFor(connectionStringWith(fixture.emulator, 'agent-listen', listenKey));
  const receiver = agent.createReceiver(queue, { skipParsingBodyAsJson: true });
  const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
  assert.ok(message);
  await receiver.completeMessage(message);

  const { status, body } = await stats(ROOT_RULE_NAME, fixture.rootKey);
  assert.equal(status, 200);
  const app = body.byIdentity[ROOT_RULE_NAME]!;
  assert.equal(app.sends, 1);
  assert.equal(app.sendBodyBytes, 100);
  assert.ok(app.sendBytes! > 100);
  assert.ok(app['managementHttp:PUT']! >= 1);
  const listener = body.byIdentity['agent-listen']!;
  assert.equal(listener.connections, 1);
  assert.equal(listener.deliveries, 1);
  assert.equal(listener.deliveryBodyBytes, 100);
  assert.equal(listener['settle:complete'], 1);
  assert.deepEqual(
    [body.byQueue[queue]?.sends, body.byQueue[queue]?.deliveries, body.byQueue[queue]?.['settle:complete']],
    [1, 1, 1],
  );

  // A queue's rule may not read the namespace's counters.
  assert.equal((await stats('agent-listen', listenKey)).status, 401);
});
