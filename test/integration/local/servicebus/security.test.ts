/**
 * Shared access rules, tokens and bad input, through the official SDK: rights per rule and per entity,
 * wrong and expired keys, unknown entities, settling on a link that went away, clients that die
 * mid-transfer, and garbage on the wire.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isServiceBusError, type ServiceBusError } from '@azure/service-bus';
import { signSasToken } from '../../../../local/servicebus/auth/sas.js';
import { connectionStringWith, delay, startFixture, type Fixture } from './emulator-fixture.js';

function hasCode(code: ServiceBusError['code']) {
  return (error: unknown) => {
    assert.ok(isServiceBusError(error), `expected a ServiceBusError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  };
}

describe('Service Bus emulator: security and bad input', () => {
  let fixture: Fixture;
  let queueA: string;
  let queueB: string;
  const listenKey = randomBytes(32).toString('base64');
  const sendKey = randomBytes(32).toString('base64');

  before(async () => {
    fixture = await startFixture();
    queueA = await fixture.queue(
      {
        authorizationRules: [
          {
            claimType: 'SharedAccessKey',
            keyName: 'agent-listen',
            accessRights: ['Listen'],
            primaryKey: listenKey,
            secondaryKey: randomBytes(32).toString('base64'),
          },
          {
            claimType: 'SharedAccessKey',
            keyName: 'agent-send',
            accessRights: ['Send'],
            primaryKey: sendKey,
            secondaryKey: randomBytes(32).toString('base64'),
          },
        ],
      },
      'tenant-a',
    );
    queueB = await fixture.queue({}, 'tenant-b');
  });
  after(async () => {
    await fixture.close();
  });

  it('a Send-only rule sends but cannot receive; a Listen-only rule receives but cannot send', async () => {
    const sendOnly = fixture.clientFor(connectionStringWith(fixture.emulator, 'agent-send', sendKey));
    const listenOnly = fixture.clientFor(connectionStringWith(fixture.emulator, 'agent-listen', listenKey));
    await sendOnly.createSender(queueA).sendMessages({ body: 'from the send rule' });
    await assert.rejects(
      listenOnly.createSender(queueA).sendMessages({ body: 'no' }),
      hasCode('UnauthorizedAccess'),
    );
    const refused = sendOnly.createReceiver(queueA);
    await assert.rejects(refused.receiveMessages(1, { maxWaitTimeInMs: 500 }), hasCode('UnauthorizedAccess'));
    await assert.rejects(refused.peekMessages(1), hasCode('UnauthorizedAccess'));
    const receiver = listenOnly.createReceiver(queueA, { receiveMode: 'receiveAndDelete' });
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2000 });
    assert.equal(message?.body, 'from the send rule');
    await receiver.close();
  });

  it("a queue's rule grants nothing on another queue", async () => {
    const sendOnA = fixture.clientFor(connectionStringWith(fixture.emulator, 'agent-send', sendKey));
    const listenOnA = fixture.clientFor(connectionStringWith(fixture.emulator, 'agent-listen', listenKey));
    await assert.rejects(
      sendOnA.createSender(queueB).sendMessages({ body: 'elsewhere' }),
      hasCode('UnauthorizedAccess'),
    );
    const receiver = listenOnA.createReceiver(queueB);
    await assert.rejects(
      receiver.receiveMessages(1, { maxWaitTimeInMs: 500 }),
      hasCode('UnauthorizedAccess'),
    );
    assert.equal((await fixture.admin.getQueueRuntimeProperties(queueB)).totalMessageCount, 0);
  });

  it('refuses a wrong key, an unknown rule and an expired token', async () => {
    const wrongKey = fixture.clientFor(
      connectionStringWith(fixture.emulator, 'RootManageSharedAccessKey', 'not-the-key'),
    );
    await assert.rejects(
      wrongKey.createSender(queueB).sendMessages({ body: 'x' }),
      hasCode('UnauthorizedAccess'),
    );
    const unknownRule = fixture.clientFor(connectionStringWith(fixture.emulator, 'nobody', fixture.rootKey));
    await assert.rejects(
      unknownRule.createSender(queueB).sendMessages({ body: 'x' }),
      hasCode('UnauthorizedAccess'),
    );
    const endpoint = `sb://${fixture.emulator.host}:${fixture.emulator.amqpPort}/`;
    const expired = signSasToken(
      endpoint,
      'RootManageSharedAccessKey',
      fixture.rootKey,
      Math.floor(Date.now() / 1000) - 10,
    );
    const expiredClient = fixture.clientFor(
      `Endpoint=${endpoint};SharedAccessSignature=${expired};UseDevelopmentEmulator=true`,
    );
    await assert.rejects(
      expiredClient.createSender(queueB).sendMessages({ body: 'x' }),
      hasCode('UnauthorizedAccess'),
    );
    const valid = signSasToken(
      endpoint,
      'RootManageSharedAccessKey',
      fixture.rootKey,
      Math.floor(Date.now() / 1000) + 600,
    );
    const validClient = fixture.clientFor(
      `Endpoint=${endpoint};SharedAccessSignature=${valid};UseDevelopmentEmulator=true`,
    );
    await validClient.createSender(queueB).sendMessages({ body: 'signed' });
    const [message] = await validClient
      .createReceiver(queueB, { receiveMode: 'receiveAndDelete' })
      .receiveMessages(1, {
        maxWaitTimeInMs: 2000,
      });
    assert.equal(message?.body, 'signed');
  });

  it('answers an unknown entity with MessagingEntityNotFound', async () => {
    await assert.rejects(
      fixture.client.createSender('no-such-queue').sendMessages({ body: 'x' }),
      hasCode('MessagingEntityNotFound'),
    );
    const receiver = fixture.client.createReceiver('no-such-queue');
    await assert.rejects(
      receiver.receiveMessages(1, { maxWaitTimeInMs: 500 }),
      hasCode('MessagingEntityNotFound'),
    );
    await receiver.close();
  });

  it('settles a message whose link has closed through $management, and refuses it once the lock is gone', async () => {
    const queue = await fixture.queue({ lockDuration: 'PT1S' });
    await fixture.client.createSender(queue).sendMessages([{ body: 'one' }, { body: 'two' }]);
    const first = fixture.client.createReceiver(queue, { maxAutoLockRenewalDurationInMs: 0 });
    const [one, two] = await first.receiveMessages(2, { maxWaitTimeInMs: 2000 });
    assert.ok(one && two);
    await first.close();
    const second = fixture.client.createReceiver(queue, { maxAutoLockRenewalDurationInMs: 0 });
    await second.completeMessage(one);
    await delay(1300);
    await assert.rejects(second.completeMessage(two), hasCode('MessageLockLost'));
    const [again] = await second.receiveMessages(1, { maxWaitTimeInMs: 2000 });
    assert.equal(again?.body, 'two');
    await second.completeMessage(again!);
    await second.close();
  });

  it('returns the locked messages of a client killed mid-transfer after the lock duration', async () => {
    const queue = await fixture.queue({ lockDuration: 'PT2S' });
    await fixture.client.createSender(queue).sendMessages({ body: 'in flight' });
    const script = fileURLToPath(new URL('./fixtures/receive-then-hang.js', import.meta.url));
    const child = spawn(process.execPath, [script, fixture.emulator.connectionString, queue], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString()));
      child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    assert.deepEqual(JSON.parse(line), { body: 'in flight' });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const receiver = fixture.client.createReceiver(queue);
    assert.equal((await receiver.receiveMessages(1, { maxWaitTimeInMs: 200 })).length, 0, 'still locked');
    const [back] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 3000 });
    assert.equal(back?.body, 'in flight');
    assert.equal(back?.deliveryCount, 1);
    await receiver.completeMessage(back!);
    await receiver.close();
  });

  it('drops connections that send malformed frames and keeps serving the others', async () => {
    const queue = await fixture.queue();
    const sender = fixture.client.createSender(queue);
    await sender.sendMessages({ body: 'before' });
    const garbage = [
      Buffer.from('GET / HTTP/1.1\r\n\r\n'),
      Buffer.concat([Buffer.from('AMQP\x03\x01\x00\x00'), randomBytes(64)]),
      Buffer.concat([
        Buffer.from('AMQP\x00\x01\x00\x00'),
        Buffer.from([0, 0, 0, 8, 2, 0, 0, 0]),
        randomBytes(200),
      ]),
    ];
    for (const bytes of garbage) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(fixture.emulator.amqpPort, fixture.emulator.host, () =>
          socket.write(bytes),
        );
        socket.on('data', () => undefined);
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        setTimeout(() => socket.destroy(), 300).unref();
      });
    }
    await sender.sendMessages({ body: 'after' });
    const receiver = fixture.client.createReceiver(queue, { receiveMode: 'receiveAndDelete' });
    const bodies: unknown[] = [];
    while (bodies.length < 2) {
      const batch = await receiver.receiveMessages(2, { maxWaitTimeInMs: 1000 });
      if (batch.length === 0) break;
      bodies.push(...batch.map((m) => m.body));
    }
    assert.deepEqual(bodies, ['before', 'after']);
    await receiver.close();
  });
});
