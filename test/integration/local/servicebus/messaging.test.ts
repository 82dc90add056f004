/**
 * Service Bus messaging semantics through the official SDK against the emulator: send forms, receive
 * modes, settlement, locks, delivery counts, time-to-live, scheduling, peek, deferral, forwarding and
 * duplicate detection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isServiceBusError, type ServiceBusReceivedMessage } from '@azure/service-bus';
import { delay, startFixture, type Fixture } from './emulator-fixture.js';

async function receiveAll(
  fixture: Fixture,
  queue: string,
  count: number,
  options: {
    subQueueType?: 'deadLetter';
    receiveMode?: 'peekLock' | 'receiveAndDelete';
    waitMs?: number;
  } = {},
): Promise<ServiceBusReceivedMessage[]> {
  const receiver = fixture.client.createReceiver(queue, {
    subQueueType: options.subQueueType,
    receiveMode: options.receiveMode ?? 'receiveAndDelete',
  });
  const messages: ServiceBusReceivedMessage[] = [];
  const deadline = Date.now() + (options.waitMs ?? 3000);
  while (messages.length < count && Date.now() < deadline) {
    messages.push(...(await receiver.receiveMessages(count - messages.length, { maxWaitTimeInMs: 300 })));
  }
  await receiver.close();
  return messages;
}

describe('Service Bus emulator: messaging', () => {
  let fixture: Fixture;
  before(async () => {
    fixture = await startFixture();
  });
  after(async () => {
    await fixture.close();
  });

  it('sends single messages, arrays and batches, and assigns ids, sequence numbers and enqueued times', async () => {
    const queue = await fixture.queue();
    const sender = fixture.client.createSender(queue);
    const before = Date.now();
    await sender.sendMessages({
      body: { n: 1 },
      applicationProperties: { kind: 'single' },
      correlationId: 'c-1',
    });
    await sender.sendMessages([{ body: 'array-1' }, { body: 'array-2', messageId: 'mine' }]);
    const batch = await sender.createMessageBatch();
    assert.ok(batch.tryAddMessage({ body: Buffer.from([1, 2, 3]), subject: 'binary' }));
    assert.ok(batch.tryAddMessage({ body: 'batch-2', contentType: 'text/plain' }));
    await sender.sendMessages(batch);

    const received = await receiveAll(fixture, queue, 5);
    assert.deepEqual(
      received.map((m) => m.body),
      [{ n: 1 }, 'array-1', 'array-2', Buffer.from([1, 2, 3]), 'batch-2'],
    );
    assert.deepEqual(
      received.map((m) => m.sequenceNumber?.toNumber()),
      [1, 2, 3, 4, 5],
    );
    assert.equal(received[0]!.applicationProperties?.kind, 'single');
    assert.equal(received[0]!.correlationId, 'c-1');
    assert.equal(received[2]!.messageId, 'mine');
    assert.equal(received[3]!.subject, 'binary');
    assert.equal(received[4]!.contentType, 'text/plain');
    const ids = new Set(received.map((m) => String(m.messageId)));
    assert.equal(
      ids.size,
      5,
      'every message has its own id, assigned by the broker when the sender gave none',
    );
    for (const message of received) {
      assert.ok(
        message.enqueuedTimeUtc!.getTime() >= before - 5 && message.enqueuedTimeUtc!.getTime() <= Date.now(),
      );
      assert.equal(message.lockToken, undefined, 'receive-and-delete messages carry no lock');
    }
    await sender.close();
  });

  it('keeps AMQP body types and message properties as sent', async () => {
    const queue = await fixture.queue();
    const sender = fixture.client.createSender(queue);
    await sender.sendMessages({ body: [1, 2, 3], bodyType: 'sequence' });
    await sender.sendMessages({ body: { a: 1 }, bodyType: 'value' });
    await sender.sendMessages({
      body: 'props',
      to: 'somewhere',
      replyTo: 'writeback-replies',
      replyToSessionId: 'rs',
      timeToLive: 60_000,
      applicationProperties: { when: new Date(0), ratio: 1.5, flag: true, big: 2 ** 40 },
    });
    const [sequence, value, props] = await receiveAll(fixture, queue, 3);
    assert.deepEqual(sequence?.body, [1, 2, 3]);
    assert.equal(sequence?._rawAmqpMessage.bodyType, 'sequence');
    assert.deepEqual(value?.body, { a: 1 });
    assert.equal(value?._rawAmqpMessage.bodyType, 'value');
    assert.equal(props?.to, 'somewhere');
    assert.equal(props?.replyTo, 'writeback-replies');
    assert.equal(props?.replyToSessionId, 'rs');
    assert.equal(props?.timeToLive, 60_000);
    assert.deepEqual(props?.applicationProperties, { when: 0, ratio: 1.5, flag: true, big: 2 ** 40 });
    assert.equal(props!.expiresAtUtc!.getTime(), props!.enqueuedTimeUtc!.getTime() + 60_000);
    const transferDeadLetters = fixture.client.createReceiver(queue, { subQueueType: 'transferDeadLetter' });
    assert.equal((await transferDeadLetters.receiveMessages(1, { maxWaitTimeInMs: 200 })).length, 0);
    await transferDeadLetters.close();
  });

  it('peek-lock: complete removes, abandon redelivers with a higher delivery count, and properties can be modified', async () => {
    const queue = await fixture.queue();
    await fixture.client.createSender(queue).sendMessages([{ body: 'one' }, { body: 'two' }]);
    const receiver = fixture.client.createReceiver(queue);
    const [one, two] = await receiver.receiveMessages(2, { maxWaitTimeInMs: 2000 });
    assert.ok(one && two);
    assert.equal(one.deliveryCount, 0);
    assert.ok(one.lockToken);
    assert.ok(one.lockedUntilUtc! > new Date());
    await receiver.completeMessage(one);
    await receiver.abandonMessage(two, { retried: true });
    const [again] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2000 });
    assert.equal(again?.body, 'two');
    assert.equal(again?.deliveryCount, 1);
    assert.equal(again?.applicationProperties?.retried, true);
    await receiver.completeMessage(again!);
    const props = await fixture.admin.getQueueRuntimeProperties(queue);
    assert.equal(props.activeMessageCount, 0);
    await receiver.close();
  });

  it('settling twice, or after the lock expired, fails with MessageLockLost and the message comes back', async () => {
    const queue = await fixture.queue({ lockDuration: 'PT1S' });
    await fixture.client.createSender(queue).sendMessages({ body: 'slow' });
    const receiver = fixture.client.createReceiver(queue, { maxAutoLockRenewalDurationInMs: 0 });
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2000 });
    assert.ok(message);
    await delay(1300);
    await assert.rejects(receiver.completeMessage(message), (error: unknown) => {
      assert.ok(isServiceBusError(error));
      assert.equal(error.code, 'MessageLockLost');
      return true;
    });
    const [again] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2000 });
    assert.equal(again?.body, 'slow');
    assert.equal(again?.deliveryCount, 1, 'a lost lock counts as a delivery');
    await receiver.completeMessage(again!);
    // The SDK knows the delivery was settled and refuses locally...
    await assert.rejects(receiver.completeMessage(again!), /already settled/);
    // ...and the broker refuses a settlement by lock token of a message that is gone.
    await receiver.close();
    const other = fixture.client.createReceiver(queue);
    await assert.rejects(other.renewMessageLock(again!), (error: unknown) => {
      assert.ok(isServiceBusError(error));
      assert.equal(error.code, 'MessageLockLost');
      return true;
    });
    await other.close();
  });

  it('renews a lock so that a slow handler keeps its message', async () => {
    const queue = await fixture.queue({ lockDuration: 'PT2S' });
    await fixture.client.createSender(queue).sendMessages({ body: 'renew me' });
    const receiver = fixture.client.createReceiver(queue, { maxAutoLockRenewalDurationInMs: 0 });
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2000 });
    assert.ok(message);
    const firstLock = message.lockedUntilUtc!.getTime();
    await delay(1200);
    const renewed = await receiver.renewMessageLock(message);
    assert.ok(renewed.getTime() > firstLock);
    await delay(1200); // past the first lock: only the renewal keeps the message
    await receiver.completeMessage(message);
    assert.equal((await fixture.admin.getQueueRuntimeProperties(queue)).activeMessageCount, 0);
    await receiver.close();
  });

  it('dead-letters with reason and description, and after maxDeliveryCount with MaxDeliveryCountExceeded', async () => {
    const queue = await fixture.queue({ maxDeliveryCount: 2 });
    await fixture.client.createSender(queue).sendMessages([{ body: 'poison' }, { body: 'rejected' }]);
    const receiver = fixture.client.createReceiver(queue);
    const [poison, rejected] = await receiver.receiveMessages(2, { maxWaitTimeInMs: 2000 });
    await receiver.deadLetterMessage(rejected!, {
      deadLetterReason: 'Invalid',
      deadLetterErrorDescription: 'bad body',
    });
    await receiver.abandonMessage(poison!);
    const [second] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2000 });
    assert.equal(second?.body, 'poison');
    await receiver.abandonMessage(second!);
    const none = await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 });
    assert.equal(none.length, 0, 'after two deliveries the message left the queue');

    const dead = await receiveAll(fixture, queue, 2, { subQueueType: 'deadLetter' });
    const byBody = new Map(dead.map((m) => [m.body as string, m]));
    assert.equal(byBody.get('rejected')?.deadLetterReason, 'Invalid');
    assert.equal(byBody.get('rejected')?.deadLetterErrorDescription, 'bad body');
    assert.equal(byBody.get('poison')?.deadLetterReason, 'MaxDeliveryCountExceeded');
    await receiver.close();
  });

  it('defers a message and receives it by sequence number, then completes it', async () => {
    const queue = await fixture.queue();
    await fixture.client.createSender(queue).sendMessages({ body: 'later' });
    const receiver = fixture.client.createReceiver(queue);
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2000 });
    await receiver.deferMessage(message!);
    assert.equal(
      (await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).length,
      0,
      'deferred is not delivered',
    );
    const [peeked] = await receiver.peekMessages(1, { fromSequenceNumber: message!.sequenceNumber! });
    assert.equal(peeked?.state, 'deferred');
    const [deferred] = await receiver.receiveDeferredMessages([message!.sequenceNumber!]);
    assert.equal(deferred?.body, 'later');
    await receiver.completeMessage(deferred!);
    await assert.rejects(receiver.receiveDeferredMessages([message!.sequenceNumber!]), (error: unknown) => {
      assert.ok(isServiceBusError(error));
      assert.equal(error.code, 'MessageNotFound');
      return true;
    });
    await receiver.close();
  });

  it('peeks without locking, and peek-lock via subscribe delivers to a handler', async () => {
    const queue = await fixture.queue();
    await fixture.client.createSender(queue).sendMessages([{ body: 'p1' }, { body: 'p2' }, { body: 'p3' }]);
    const receiver = fixture.client.createReceiver(queue);
    const peeked = await receiver.peekMessages(10);
    assert.deepEqual(
      peeked.map((m) => m.body),
      ['p1', 'p2', 'p3'],
    );
    assert.equal((await fixture.admin.getQueueRuntimeProperties(queue)).activeMessageCount, 3);
    const seen: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const subscription = receiver.subscribe(
        {
          async processMessage(message) {
            seen.push(message.body as string);
            if (seen.length === 3) void subscription.close().then(resolve);
          },
          async processError(args) {
            reject(args.error);
          },
        },
        { autoCompleteMessages: true },
      );
    });
    assert.deepEqual(seen, ['p1', 'p2', 'p3']);
    await delay(100);
    assert.equal((await fixture.admin.getQueueRuntimeProperties(queue)).activeMessageCount, 0);
    await receiver.close();
  });

  it('lowers a message TTL to the queue default; expired messages vanish, or go to the dead-letter queue', async () => {
    const plain = await fixture.queue({ defaultMessageTimeToLive: 'PT1S' });
    const dlq = await fixture.queue({
      defaultMessageTimeToLive: 'PT1H',
      deadLetteringOnMessageExpiration: true,
    });
    await fixture.client.createSender(plain).sendMessages({ body: 'short', timeToLive: 3_600_000 });
    await fixture.client
      .createSender(dlq)
      .sendMessages([{ body: 'expires', timeToLive: 500 }, { body: 'stays' }]);
    const [peeked] = await fixture.client.createReceiver(plain).peekMessages(1);
    assert.equal(peeked?.timeToLive, 1000, 'TTL lowered to the queue default');
    await delay(1300);
    assert.equal((await receiveAll(fixture, plain, 1, { waitMs: 400 })).length, 0);
    assert.equal((await fixture.admin.getQueueRuntimeProperties(plain)).deadLetterMessageCount, 0);
    const live = await receiveAll(fixture, dlq, 1);
    assert.deepEqual(
      live.map((m) => m.body),
      ['stays'],
    );
    const [dead] = await receiveAll(fixture, dlq, 1, { subQueueType: 'deadLetter' });
    assert.equal(dead?.body, 'expires');
    assert.equal(dead?.deadLetterReason, 'TTLExpiredException');
  });

  it('schedules messages, cancels one, and enqueues the other at its time', async () => {
    const queue = await fixture.queue();
    const sender = fixture.client.createSender(queue);
    const at = new Date(Date.now() + 1500);
    const [keep, cancel] = await sender.scheduleMessages([{ body: 'scheduled' }, { body: 'cancelled' }], at);
    assert.ok(keep && cancel);
    const props = await fixture.admin.getQueueRuntimeProperties(queue);
    assert.equal(props.scheduledMessageCount, 2);
    assert.equal(props.activeMessageCount, 0);
    await sender.cancelScheduledMessages(cancel);
    const [peeked] = await fixture.client.createReceiver(queue).peekMessages(5);
    assert.equal(peeked?.state, 'scheduled');
    assert.equal((await receiveAll(fixture, queue, 1, { waitMs: 300 })).length, 0, 'not before its time');
    const [delivered] = await receiveAll(fixture, queue, 1, { waitMs: 3000 });
    assert.equal(delivered?.body, 'scheduled');
    const after = await fixture.admin.getQueueRuntimeProperties(queue);
    assert.equal(after.totalMessageCount, 0, 'the cancelled message never arrives');
    assert.ok(delivered!.enqueuedTimeUtc!.getTime() >= at.getTime() - 5);
  });

  it('detects duplicates within the history window', async () => {
    const queue = await fixture.queue({
      requiresDuplicateDetection: true,
      duplicateDetectionHistoryTimeWindow: 'PT1M',
    });
    const sender = fixture.client.createSender(queue);
    await sender.sendMessages({ body: 'first', messageId: 'op-1' });
    await sender.sendMessages({ body: 'again', messageId: 'op-1' });
    await sender.sendMessages({ body: 'other', messageId: 'op-2' });
    const received = await receiveAll(fixture, queue, 3, { waitMs: 1000 });
    assert.deepEqual(
      received.map((m) => m.body),
      ['first', 'other'],
    );
  });

  it('auto-forwards into the queue named by forwardTo', async () => {
    const target = await fixture.queue({}, 'replies');
    const source = await fixture.queue({ forwardTo: target });
    assert.match((await fixture.admin.getQueue(source)).forwardTo ?? '', new RegExp(`/${target}$`));
    await fixture.client.createSender(source).sendMessages({ body: 'result', messageId: 'r-1' });
    const [forwarded] = await receiveAll(fixture, target, 1);
    assert.equal(forwarded?.body, 'result');
    assert.equal(forwarded?.messageId, 'r-1');
    assert.equal((await fixture.admin.getQueueRuntimeProperties(source)).totalMessageCount, 0);
  });

  it('refuses messages over 256 KB with MessageSizeExceeded', async () => {
    const queue = await fixture.queue();
    const sender = fixture.client.createSender(queue);
    await assert.rejects(sender.sendMessages({ body: Buffer.alloc(300 * 1024) }), (error: unknown) => {
      assert.ok(isServiceBusError(error));
      assert.equal(error.code, 'MessageSizeExceeded');
      return true;
    });
    await sender.sendMessages({ body: Buffer.alloc(200 * 1024, 7) });
    const [big] = await receiveAll(fixture, queue, 1);
    assert.equal((big?.body as Buffer).length, 200 * 1024);
  });

  it('enforces maxSizeInMegabytes with QuotaExceeded', async () => {
    const queue = await fixture.queue({ maxSizeInMegabytes: 1 });
    const sender = fixture.client.createSender(queue);
    const body = Buffer.alloc(200 * 1024);
    for (let i = 0; i < 5; i++) await sender.sendMessages({ body });
    await assert.rejects(sender.sendMessages({ body }), (error: unknown) => {
      assert.ok(isServiceBusError(error));
      assert.equal(error.code, 'QuotaExceeded');
      return true;
    });
  });

  it('honours the queue status: SendDisabled refuses senders, ReceiveDisabled refuses receivers', async () => {
    const queue = await fixture.queue();
    await fixture.client.createSender(queue).sendMessages({ body: 'before' });
    const description = await fixture.admin.getQueue(queue);
    await fixture.admin.updateQueue({ ...description, status: 'SendDisabled' });
    await assert.rejects(
      fixture.client.createSender(queue).sendMessages({ body: 'refused' }),
      (error: unknown) => {
        assert.ok(isServiceBusError(error));
        assert.equal(error.code, 'MessagingEntityDisabled');
        return true;
      },
    );
    assert.equal((await receiveAll(fixture, queue, 1, { receiveMode: 'peekLock' })).length, 1);
    await fixture.admin.updateQueue({ ...description, status: 'ReceiveDisabled' });
    const receiver = fixture.client.createReceiver(queue);
    await assert.rejects(receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 }), (error: unknown) => {
      assert.ok(isServiceBusError(error));
      assert.equal(error.code, 'MessagingEntityDisabled');
      return true;
    });
    await receiver.close();
  });
});
