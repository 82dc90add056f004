/**
 * The broker's hand-written delivery encoder must produce what rhea's general encoder produces for
 * the same message: decoded, the two deliveries are equal field by field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import rhea, { type Message } from 'rhea';
import {
  BATCH_MESSAGE_FORMAT,
  decodeTransfer,
  encodeOutgoing,
} from '../../../../local/servicebus/amqp/codec.js';
import type { BrokeredMessage } from '../../../../local/servicebus/entities/message.js';

// rhea's typings omit its AMQP writer and type its decoder's result as another Message interface.
const { Writer } = rhea.types as unknown as {
  Writer: new () => { write(value: unknown): void; toBuffer(): Buffer };
};
const decode = (bytes: Buffer): Message => rhea.message.decode(bytes) as unknown as Message;

/** A message as the SDK sends it in a batch: each message a data section of the transfer. */
function receivedAsSent(message: Message): Message {
  const writer = new Writer();
  writer.write(rhea.message.data_section(rhea.message.encode(message)));
  const [decoded] = decodeTransfer(writer.toBuffer(), BATCH_MESSAGE_FORMAT);
  assert.ok(decoded);
  return decoded.message;
}

function brokered(message: Message, overrides: Partial<BrokeredMessage> = {}): BrokeredMessage {
  return {
    sequenceNumber: 42,
    message,
    size: 0,
    enqueuedAt: Date.UTC(2026, 10, 22, 4, 0, 0),
    expiresAt: Infinity,
    sessionId: undefined,
    deliveryCount: 0,
    state: 'active',
    scheduledAt: undefined,
    lock: { lockedUntil: Date.UTC(2026, 10, 22, 4, 1, 0) } as BrokeredMessage['lock'],
    deadLetterSource: undefined,
    ...overrides,
  };
}

/** The same delivery through the fast path (sections kept as sent) and through rhea (a fresh object). */
function bothWays(sent: Message, overrides: Partial<BrokeredMessage> = {}): [Message, Message] {
  const received = receivedAsSent(sent);
  const options = { includeLock: true, deliveryCount: 2 };
  const fast = encodeOutgoing(brokered(received, overrides), options);
  const general = encodeOutgoing(brokered({ ...received }, overrides), options);
  assert.notDeepEqual(fast, Buffer.alloc(0));
  return [decode(fast), decode(general)];
}

test('a typical SDK message encodes the same both ways', () => {
  const [fast, general] = bothWays({
    message_id: '7f1c9c4e-3b8e-4bb5-9a53-2c1f9d1d2a10',
    correlation_id: 'corr-1',
    content_type: 'application/octet-stream',
    subject: 'writeback-request',
    group_id: undefined,
    ttl: 300_000,
    creation_time: new Date(Date.UTC(2026, 10, 22, 3, 59, 0)),
    absolute_expiry_time: new Date(Date.UTC(2026, 10, 22, 4, 4, 0)),
    application_properties: {
      tenantId: 'contoso',
      envelopeVersion: 1,
      expiresAt: new Date(1_700_000_000_000),
    },
    message_annotations: { 'x-opt-partition-key': 'p1' },
    body: rhea.message.data_section(Buffer.from([0, 1, 2, 250, 255])),
  });
  assert.deepEqual(fast, general);
  assert.equal(fast.delivery_count, 2);
  assert.equal(Number(fast.message_annotations?.['x-opt-sequence-number']), 42);
  assert.equal(fast.message_annotations?.['x-opt-partition-key'], 'p1');
});

test('broker annotations from a client are never taken over', () => {
  const [fast, general] = bothWays({
    message_id: 'm-2',
    message_annotations: { 'x-opt-sequence-number': 999, 'x-opt-locked-until': new Date(0) },
    body: 'text body',
  });
  assert.deepEqual(fast, general);
  assert.equal(Number(fast.message_annotations?.['x-opt-sequence-number']), 42);
  assert.equal(
    (fast.message_annotations?.['x-opt-locked-until'] as Date).getTime(),
    Date.UTC(2026, 10, 22, 4, 1, 0),
  );
});

test('sessions, dead-letter sources and unusual value types encode the same both ways', () => {
  const [fast, general] = bothWays(
    {
      message_id: 'm-3',
      group_id: 'session-a',
      reply_to: 'replies',
      to: 'queue',
      application_properties: { n: -1.5, flag: true, big: rhea.types.wrap_long(2 ** 40), none: null },
      body: rhea.message.data_section(Buffer.alloc(1024, 0x61)),
    },
    { deadLetterSource: 'writeback-contoso', sessionId: 'session-a' },
  );
  assert.deepEqual(fast, general);
  assert.equal(fast.message_annotations?.['x-opt-deadletter-source'], 'writeback-contoso');
});
