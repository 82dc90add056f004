/**
 * Sessions through the official SDK: accept a given or the next session, locks, state, competition,
 * and what the agents' failover relies on: a session whose holder's connection drops is free at
 * once, one whose holder went silent is free after its lock duration, and the silent holder can then
 * no longer write the session's state.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isServiceBusError, ServiceBusClient } from '@azure/service-bus';
import { startFaultProxy } from '../../../support/fault-proxy.js';
import { delay, FAST, startFixture, type Fixture } from './emulator-fixture.js';

/** Tries to accept `sessionId` every 50 ms; resolves with how long it took. */
async function acceptWhenFree(
  client: ServiceBusClient,
  queue: string,
  sessionId: string,
  timeoutMs: number,
): Promise<{ ms: number; close(): Promise<void> }> {
  const started = Date.now();
  for (;;) {
    try {
      const receiver = await client.acceptSession(queue, sessionId, { maxAutoLockRenewalDurationInMs: 0 });
      return { ms: Date.now() - started, close: () => receiver.close() };
    } catch (error) {
      if (!isServiceBusError(error) || error.code !== 'SessionCannotBeLocked') throw error;
      if (Date.now() - started > timeoutMs) throw new Error(`session ${sessionId} still locked`);
      await delay(50);
    }
  }
}

describe('Service Bus emulator: sessions', () => {
  let fixture: Fixture;
  before(async () => {
    fixture = await startFixture();
  });
  after(async () => {
    await fixture.close();
  });

  it('delivers a session in order to the receiver that accepted it, and keeps session state', async () => {
    const queue = await fixture.queue({ requiresSession: true });
    const sender = fixture.client.createSender(queue);
    await sender.sendMessages([
      { body: 'a1', sessionId: 'a' },
      { body: 'b1', sessionId: 'b' },
      { body: 'a2', sessionId: 'a' },
    ]);
    const receiver = await fixture.client.acceptSession(queue, 'a');
    assert.equal(receiver.sessionId, 'a');
    assert.ok(receiver.sessionLockedUntilUtc! > new Date());
    const messages = await receiver.receiveMessages(5, { maxWaitTimeInMs: 500 });
    assert.deepEqual(
      messages.map((m) => m.body),
      ['a1', 'a2'],
    );
    assert.ok(messages.every((m) => m.sessionId === 'a'));
    for (const message of messages) await receiver.completeMessage(message);
    await receiver.setSessionState({ step: 2 });
    assert.deepEqual(await receiver.getSessionState(), { step: 2 });
    const before = receiver.sessionLockedUntilUtc!.getTime();
    await delay(20);
    await receiver.renewSessionLock();
    assert.ok(receiver.sessionLockedUntilUtc!.getTime() > before);
    await receiver.close();

    const again = await fixture.client.acceptSession(queue, 'a');
    assert.deepEqual(await again.getSessionState(), { step: 2 }, 'state outlives the receiver');
    await again.close();
  });

  it('accepts the next session with messages, and two competing receivers get different sessions', async () => {
    const queue = await fixture.queue({ requiresSession: true });
    await fixture.client.createSender(queue).sendMessages([
      { body: 'x', sessionId: 's1' },
      { body: 'y', sessionId: 's2' },
    ]);
    const first = await fixture.client.acceptNextSession(queue);
    const second = await fixture.client.acceptNextSession(queue);
    assert.deepEqual([first.sessionId, second.sessionId].sort(), ['s1', 's2']);
    await assert.rejects(fixture.client.acceptSession(queue, first.sessionId), (error: unknown) => {
      assert.ok(isServiceBusError(error));
      assert.equal(error.code, 'SessionCannotBeLocked');
      return true;
    });
    const [m1] = await first.receiveMessages(1, { maxWaitTimeInMs: 500 });
    const [m2] = await second.receiveMessages(1, { maxWaitTimeInMs: 500 });
    assert.equal(m1?.sessionId, first.sessionId);
    assert.equal(m2?.sessionId, second.sessionId);
    await first.completeMessage(m1!);
    await second.abandonMessage(m2!);
    await first.close();
    await second.close();

    const third = await fixture.client.acceptNextSession(queue);
    assert.equal(third.sessionId, second.sessionId, 'a released session with messages can be taken again');
    await third.close();
  });

  it('waits for a next session until one has messages', async () => {
    const queue = await fixture.queue({ requiresSession: true });
    const pending = fixture.client.acceptNextSession(queue);
    await delay(200);
    await fixture.client.createSender(queue).sendMessages({ body: 'late', sessionId: 'late' });
    const receiver = await pending;
    assert.equal(receiver.sessionId, 'late');
    await receiver.close();
  });

  it('gives up accepting the next session after the wait, with ServiceTimeout', async () => {
    const queue = await fixture.queue({ requiresSession: true });
    const impatient = fixture.clientFor(fixture.emulator.connectionString, {
      retryOptions: { maxRetries: 0, timeoutInMs: 500 },
    });
    await assert.rejects(impatient.acceptNextSession(queue), (error: unknown) => {
      assert.ok(isServiceBusError(error));
      assert.equal(error.code, 'ServiceTimeout');
      return true;
    });
  });

  it('loses the session lock when it is not renewed, and settling then fails with SessionLockLost', async () => {
    const queue = await fixture.queue({ requiresSession: true, lockDuration: 'PT1S' });
    await fixture.client.createSender(queue).sendMessages({ body: 'held', sessionId: 's' });
    const receiver = await fixture.client.acceptSession(queue, 's', { maxAutoLockRenewalDurationInMs: 0 });
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 500 });
    assert.ok(message);
    await delay(1300);
    await assert.rejects(receiver.completeMessage(message), (error: unknown) => {
      assert.ok(isServiceBusError(error));
      assert.equal(error.code, 'SessionLockLost');
      return true;
    });
    await receiver.close();
    const next = await fixture.client.acceptSession(queue, 's');
    const [again] = await next.receiveMessages(1, { maxWaitTimeInMs: 500 });
    assert.equal(again?.body, 'held');
    assert.equal(again?.deliveryCount, 1);
    await next.completeMessage(again!);
    await next.close();
  });

  it('refuses a message without a session id on a session queue, and a plain receiver on it', async () => {
    const queue = await fixture.queue({ requiresSession: true });
    await assert.rejects(fixture.client.createSender(queue).sendMessages({ body: 'no session' }));
    const receiver = fixture.client.createReceiver(queue);
    await assert.rejects(receiver.receiveMessages(1, { maxWaitTimeInMs: 500 }));
    await receiver.close();
  });

  it("frees a session at once when its holder's connection drops, and keeps its state", async () => {
    const queue = await fixture.queue({ requiresSession: true, lockDuration: 'PT30S' });
    await fixture.client.createSender(queue).sendMessages({ body: 'in flight', sessionId: 's' });
    const proxy = await startFaultProxy({ port: fixture.emulator.amqpPort });
    const holder = new ServiceBusClient(
      fixture.emulator.connectionString.replace(`:${fixture.emulator.amqpPort};`, `:${proxy.port};`),
      FAST,
    );
    try {
      const receiver = await holder.acceptSession(queue, 's', { maxAutoLockRenewalDurationInMs: 0 });
      await receiver.setSessionState({ written: 'before the crash' });
      const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
      assert.equal(message?.body, 'in flight');
      await proxy.stop(); // what the broker sees of kill -9: the connection is reset
      const taken = await acceptWhenFree(fixture.client, queue, 's', 5_000);
      assert.ok(taken.ms < 2_000, `taken over after ${taken.ms} ms, well before the 30 s lock`);
      await taken.close();
      const next = await fixture.client.acceptSession(queue, 's');
      assert.deepEqual(await next.getSessionState(), { written: 'before the crash' });
      const [again] = await next.receiveMessages(1, { maxWaitTimeInMs: 1000 });
      assert.equal(again?.body, 'in flight', 'the message locked under the session is delivered again');
      assert.equal(again?.deliveryCount, 1);
      await next.completeMessage(again!);
      await next.close();
    } finally {
      await holder.close().catch(() => undefined);
      await proxy.close();
    }
  });

  it('frees a session whose holder went silent after the lock duration; the holder can no longer write its state', async () => {
    const queue = await fixture.queue({ requiresSession: true, lockDuration: 'PT2S' });
    const proxy = await startFaultProxy({ port: fixture.emulator.amqpPort });
    const holder = new ServiceBusClient(
      fixture.emulator.connectionString.replace(`:${fixture.emulator.amqpPort};`, `:${proxy.port};`),
      FAST,
    );
    try {
      const receiver = await holder.acceptSession(queue, 's', { maxAutoLockRenewalDurationInMs: 0 });
      await receiver.setSessionState({ by: 'first' });
      proxy.freeze(); // the holder's machine hangs: no renewal reaches the broker
      const taken = await acceptWhenFree(fixture.client, queue, 's', 6_000);
      assert.ok(taken.ms >= 1_500 && taken.ms < 4_000, `taken over after ${taken.ms} ms (lock 2 s)`);
      await taken.close();
      await proxy.resume();
      await assert.rejects(receiver.setSessionState({ by: 'first, too late' }), (error: unknown) => {
        assert.ok(isServiceBusError(error));
        assert.equal(error.code, 'SessionLockLost');
        return true;
      });
      const next = await fixture.client.acceptSession(queue, 's');
      assert.deepEqual(await next.getSessionState(), { by: 'first' });
      await next.close();
    } finally {
      await holder.close().catch(() => undefined);
      await proxy.close();
    }
  });

  it('refuses session state over 256 KB, as a message that size, and keeps the state it had', async () => {
    const queue = await fixture.queue({ requiresSession: true });
    const receiver = await fixture.client.acceptSession(queue, 's');
    await receiver.setSessionState(Buffer.alloc(200 * 1024, 'a'));
    await assert.rejects(receiver.setSessionState(Buffer.alloc(257 * 1024, 'b')), (error: unknown) => {
      assert.ok(isServiceBusError(error));
      assert.equal(error.code, 'MessageSizeExceeded');
      return true;
    });
    const state = (await receiver.getSessionState()) as Buffer;
    assert.equal(state.length, 200 * 1024);
    assert.equal(state[0], 'a'.charCodeAt(0));
    await receiver.close();
  });
});
