/**
 * Topics, subscriptions and rules are not emulated; asking for one through the official SDK gets a clear
 * refusal (400 naming what is not emulated, worded as Service Bus answers a Basic-tier namespace), never a
 * misleading "must be a QueueDescription" or "not found".
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isServiceBusError } from '@azure/service-bus';
import { startFixture, type Fixture } from './emulator-fixture.js';

const NOT_EMULATED =
  /Cannot operate on type (Topic|Subscription|Rule) .*does not emulate topics, subscriptions or rules/;

function refusedAsNotEmulated(kind: string) {
  return (error: { statusCode?: number; message: string }) => {
    assert.equal(error.statusCode, 400);
    assert.match(error.message, NOT_EMULATED);
    assert.match(error.message, new RegExp(`type ${kind}`));
    return true;
  };
}

describe('Service Bus emulator: topics are refused clearly', () => {
  let fixture: Fixture;
  before(async () => {
    fixture = await startFixture();
  });
  after(async () => fixture?.close());

  it('refuses createTopic, createSubscription and createRule with 400 saying they are not emulated', async () => {
    await assert.rejects(fixture.admin.createTopic('orders'), refusedAsNotEmulated('Topic'));
    await assert.rejects(
      fixture.admin.createSubscription('orders', 'audit'),
      refusedAsNotEmulated('Subscription'),
    );
    await assert.rejects(
      fixture.admin.createRule('orders', 'audit', 'red', { sqlExpression: "color = 'red'" }),
      refusedAsNotEmulated('Rule'),
    );
    await assert.rejects(
      fixture.admin.getSubscription('orders', 'audit'),
      refusedAsNotEmulated('Subscription'),
    );
  });

  it('lists no topics, and no topic exists', async () => {
    const topics: string[] = [];
    for await (const topic of fixture.admin.listTopics()) topics.push(topic.name);
    assert.deepEqual(topics, []);
    assert.equal(await fixture.admin.topicExists('orders'), false);
  });

  it('refuses a subscription receiver over AMQP with the same explanation', async () => {
    const receiver = fixture.client.createReceiver('orders', 'audit');
    await assert.rejects(receiver.receiveMessages(1, { maxWaitTimeInMs: 1_000 }), (error: Error) => {
      assert.ok(isServiceBusError(error), String(error));
      assert.match(error.message, NOT_EMULATED);
      return true;
    });
  });

  it('does not change queues: a queue is still created, and a sender to a topic name finds no entity', async () => {
    const queue = await fixture.queue();
    assert.equal((await fixture.admin.getQueue(queue)).name, queue);
    await assert.rejects(
      fixture.client.createSender('orders').sendMessages({ body: 'x' }),
      (error: Error) => {
        assert.ok(isServiceBusError(error));
        assert.equal(error.code, 'MessagingEntityNotFound');
        return true;
      },
    );
  });
});
