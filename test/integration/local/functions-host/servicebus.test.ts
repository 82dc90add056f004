/**
 * Service Bus queue triggers against the local Service Bus emulator, with the unmodified SDK on both
 * sides: complete on success, abandon on failure until the broker dead-letters, lock renewal for a slow
 * handler, metadata and body as the function sees them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ServiceBusAdministrationClient, ServiceBusClient } from '@azure/service-bus';
import { startFunctionsHost, type FunctionsHost } from '../../../../local/functions-host/index.js';
import { startServiceBusEmulator, type ServiceBusEmulator } from '../../../../local/servicebus/index.js';
import { createTestApp, type TestApp } from './app-dir.js';

const QUEUE = 'fh-orders';
const BINARY_QUEUE = 'fh-blobs';

let certsDir: string;
let emulator: ServiceBusEmulator;
let client: ServiceBusClient;
let admin: ServiceBusAdministrationClient;
let app: TestApp;
let host: FunctionsHost;

/** The `received {...}` lines the fixture logs, for one message id. */
function receipts(messageId: string): Record<string, unknown>[] {
  return host
    .output()
    .split('\n')
    .filter((line) => line.includes('[onMessage] received '))
    .map(
      (line) =>
        JSON.parse(line.slice(line.indexOf('received ') + 'received '.length)) as Record<string, unknown>,
    )
    .filter((r) => r.messageId === messageId);
}

async function until<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}. Host output:\n${host.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** No active message left (locked ones count as active, as in Service Bus). */
async function queueIsEmpty(queue: string): Promise<true | undefined> {
  const properties = await admin.getQueueRuntimeProperties(queue);
  return properties.activeMessageCount === 0 ? true : undefined;
}

before(async () => {
  certsDir = mkdtempSync(path.join(tmpdir(), 'fh-sb-certs-'));
  emulator = await startServiceBusEmulator({ amqpPort: 0, managementPort: 0, certsDir });
  admin = new ServiceBusAdministrationClient(emulator.connectionString, {
    tlsOptions: { ca: readFileSync(emulator.caPath, 'utf8') },
  });
  // A short lock, so that a handler slower than the lock needs renewal; three deliveries at most.
  await admin.createQueue(QUEUE, { lockDuration: 'PT2S', maxDeliveryCount: 3 });
  await admin.createQueue(BINARY_QUEUE);
  client = new ServiceBusClient(emulator.connectionString);
  app = createTestApp({
    fixtures: ['servicebus-app'],
    hostJson: {
      extensions: { serviceBus: { maxConcurrentCalls: 1, maxAutoLockRenewalDuration: '00:01:00' } },
    },
  });
  host = await startFunctionsHost({
    appDir: app.dir,
    port: 0,
    dataDir: app.dataDir,
    env: {
      ServiceBusConnection: emulator.connectionString,
      FIXTURE_QUEUE: QUEUE,
      FIXTURE_BINARY_QUEUE: BINARY_QUEUE,
    },
  });
});

after(async () => {
  await host?.stop();
  await client?.close();
  await emulator?.close();
  app?.remove();
  if (certsDir) rmSync(certsDir, { recursive: true, force: true });
});

describe('Service Bus queue trigger', () => {
  it('hands the body and metadata to the function and completes the message on success', async () => {
    const sender = client.createSender(QUEUE);
    await sender.sendMessages({
      messageId: 'm-ok',
      body: { hello: 'world' },
      contentType: 'application/json',
      correlationId: 'corr-1',
      subject: 'reset',
      applicationProperties: { tenant: 'contoso' },
    });
    await sender.close();

    const [receipt] = await until(
      () => (receipts('m-ok').length ? receipts('m-ok') : undefined),
      15_000,
      'm-ok',
    );
    assert.ok(receipt);
    assert.deepEqual(receipt.message, { hello: 'world' });
    assert.equal(receipt.deliveryCount, 1);
    assert.equal(receipt.correlationId, 'corr-1');
    assert.equal(receipt.contentType, 'application/json');
    assert.equal(receipt.subject, 'reset');
    assert.equal(receipt.label, 'reset');
    assert.deepEqual(receipt.applicationProperties, { tenant: 'contoso' });
    assert.equal(receipt.hasLockToken, true);
    assert.equal(typeof receipt.sequenceNumber, 'number');
    assert.ok(!Number.isNaN(Date.parse(String(receipt.enqueuedTimeUtc))));
    assert.ok(Date.parse(String(receipt.expiresAtUtc)) > Date.parse(String(receipt.enqueuedTimeUtc)));

    await until(() => queueIsEmpty(QUEUE), 10_000, 'the completed message to leave the queue');
    assert.equal(receipts('m-ok').length, 1, 'delivered once');
  });

  it('abandons the message when the function throws, until the broker dead-letters it', async () => {
    const sender = client.createSender(QUEUE);
    await sender.sendMessages({ messageId: 'm-fail', body: { fail: true } });
    await sender.close();

    const dlq = client.createReceiver(QUEUE, { subQueueType: 'deadLetter' });
    try {
      const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 20_000 });
      assert.ok(dead, `the message was dead-lettered. Host output:\n${host.output()}`);
      assert.equal(dead.messageId, 'm-fail');
      assert.equal(dead.deadLetterReason, 'MaxDeliveryCountExceeded');
      await dlq.completeMessage(dead);
    } finally {
      await dlq.close();
    }
    assert.deepEqual(
      receipts('m-fail').map((r) => r.deliveryCount),
      [1, 2, 3],
    );
    assert.ok((host.output().match(/Executed 'Functions\.onMessage' \(Failed/g) ?? []).length >= 3);
    assert.match(host.output(), /failing on purpose \(delivery 3\)/);
  });

  it('renews the lock while a handler runs longer than the lock duration', async () => {
    const sender = client.createSender(QUEUE);
    await sender.sendMessages({ messageId: 'm-slow', body: { sleepMs: 5000 } });
    await sender.close();

    await until(() => (receipts('m-slow').length ? true : undefined), 15_000, 'm-slow to arrive');
    await until(() => queueIsEmpty(QUEUE), 20_000, 'the slow message to be completed');
    // Had the 2 s lock lapsed during the 5 s handler, the broker would have delivered it again.
    assert.equal(receipts('m-slow').length, 1);
    assert.doesNotMatch(host.output(), /Could not complete message m-slow/);
  });

  it('hands a binary body over as a Buffer with dataType binary', async () => {
    const sender = client.createSender(BINARY_QUEUE);
    await sender.sendMessages({ body: Buffer.from([0, 1, 2, 250, 255]) });
    await sender.close();
    const out = await host.waitForOutput((o) => o.includes('[onBinary] binary'), 15_000);
    assert.match(out, /\[onBinary\] binary isBuffer=true hex=000102faff/);
    await until(() => queueIsEmpty(BINARY_QUEUE), 10_000, 'the binary message to be completed');
  });

  it('runs one message at a time with host.json maxConcurrentCalls 1', async () => {
    const sender = client.createSender(QUEUE);
    await sender.sendMessages([
      { messageId: 'm-c1', body: { sleepMs: 400 } },
      { messageId: 'm-c2', body: { sleepMs: 400 } },
    ]);
    await sender.close();
    const out = await host.waitForOutput(
      (o) => o.includes('finished m-c1') && o.includes('finished m-c2'),
      15_000,
    );
    const at = (text: string): number => out.indexOf(text);
    const [first, second] =
      at('received {"message":{"sleepMs":400},"messageId":"m-c1"') <
      at('received {"message":{"sleepMs":400},"messageId":"m-c2"')
        ? ['m-c1', 'm-c2']
        : ['m-c2', 'm-c1'];
    assert.ok(
      at(`finished ${first}`) < at(`"messageId":"${second}"`),
      'the second message starts after the first finished',
    );
  });
});
