/**
 * AMQP over TLS (AMQPS), as production clients connect: `new ServiceBusClient(host, new
 * AzureNamedKeyCredential(…))` and a connection string without `UseDevelopmentEmulator`. The SDK then
 * speaks TLS to the Endpoint's port (5671 by default) with SASL ANONYMOUS and `$cbs`; the same port
 * serves the management API, so one connection string reaches both clients.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { AzureNamedKeyCredential } from '@azure/core-auth';
import { ServiceBusAdministrationClient, ServiceBusClient } from '@azure/service-bus';
import { ROOT_RULE_NAME } from '../../../../local/servicebus/index.js';
import { FAST, hasCode, startFixture, trustLocalCa, type Fixture } from './emulator-fixture.js';

describe('Service Bus emulator: AMQPS', () => {
  let fixture: Fixture;
  const clients: ServiceBusClient[] = [];
  const track = (client: ServiceBusClient) => (clients.push(client), client);

  before(async () => {
    fixture = await startFixture();
    trustLocalCa(fixture.caPem);
  });
  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await fixture?.close();
  });

  it('serves TLS with a certificate of the local CA for 127.0.0.1, which a client trusting only public roots refuses', async () => {
    const port = fixture.emulator.amqpsPort;
    const trusting = tls.connect({ host: '127.0.0.1', port, ca: fixture.caPem });
    await new Promise<void>((resolve, reject) =>
      trusting.once('secureConnect', resolve).once('error', reject),
    );
    assert.equal(trusting.authorized, true);
    trusting.destroy();

    const untrusting = tls.connect({ host: '127.0.0.1', port, ca: [...tls.rootCertificates] });
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => untrusting.once('error', resolve));
    assert.equal(error.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('sends and receives with a host name and an AzureNamedKeyCredential', async () => {
    const queue = await fixture.queue();
    const client = track(
      new ServiceBusClient(
        fixture.emulator.amqpsNamespace,
        new AzureNamedKeyCredential(ROOT_RULE_NAME, fixture.rootKey),
        FAST,
      ),
    );
    await client.createSender(queue).sendMessages({ body: 'over tls', messageId: 'm-1' });
    const receiver = client.createReceiver(queue);
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5_000 });
    assert.equal(message?.body, 'over tls');
    await receiver.completeMessage(message!);
  });

  it('serves a connection string without UseDevelopmentEmulator to both ServiceBusClient and ServiceBusAdministrationClient', async () => {
    const connectionString = fixture.emulator.amqpsConnectionString;
    assert.doesNotMatch(connectionString, /UseDevelopmentEmulator/);
    assert.match(connectionString, new RegExp(`:${fixture.emulator.amqpsPort};`));
    const admin = new ServiceBusAdministrationClient(connectionString);
    const queue = `amqps-${randomBytes(4).toString('hex')}`;
    await admin.createQueue(queue, { requiresSession: true });

    const client = track(new ServiceBusClient(connectionString, FAST));
    await client.createSender(queue).sendMessages([
      { body: 1, sessionId: 's' },
      { body: 2, sessionId: 's' },
    ]);
    assert.equal((await admin.getQueueRuntimeProperties(queue)).activeMessageCount, 2);
    const session = await client.acceptSession(queue, 's');
    const received = await session.receiveMessages(2, { maxWaitTimeInMs: 5_000 });
    assert.deepEqual(
      received.map((m) => m.body),
      [1, 2],
    );
    await Promise.all(received.map((m) => session.completeMessage(m)));
    await session.close();
    await admin.deleteQueue(queue);
  });

  it('refuses a wrong key over AMQPS as over plain AMQP (UnauthorizedAccess)', async () => {
    const queue = await fixture.queue();
    const client = track(
      new ServiceBusClient(
        fixture.emulator.amqpsNamespace,
        new AzureNamedKeyCredential(ROOT_RULE_NAME, randomBytes(32).toString('base64')),
        FAST,
      ),
    );
    await assert.rejects(
      client.createSender(queue).sendMessages({ body: 'x' }),
      hasCode('UnauthorizedAccess'),
    );
  });

  it('keeps the plain port for UseDevelopmentEmulator=true: both reach the same queues', async () => {
    const queue = await fixture.queue();
    await fixture.client.createSender(queue).sendMessages({ body: 'plain' });
    const secure = track(new ServiceBusClient(fixture.emulator.amqpsConnectionString, FAST));
    const [message] = await secure
      .createReceiver(queue, { receiveMode: 'receiveAndDelete' })
      .receiveMessages(1, {
        maxWaitTimeInMs: 5_000,
      });
    assert.equal(message?.body, 'plain');
  });
});
