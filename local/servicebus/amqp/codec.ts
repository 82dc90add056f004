/**
 * Converting between the broker's messages and AMQP: batches in, broker annotations and lock tokens out.
 */
import rhea, { type Message } from 'rhea';
import type { BrokeredMessage } from '../entities/message.js';
import { amqpReader, decodeMessage, encodeMessage } from './rhea-extras.js';

/** Message format of a Service Bus batch: the body is data sections, each a whole encoded message. */
export const BATCH_MESSAGE_FORMAT = 0x80013700;
const DATA_SECTION = 0x75;

/** The messages of one transfer, each with its encoded size. */
export function decodeTransfer(
  payload: Message | Buffer,
  format: number | undefined,
): Array<{ message: Message; size: number }> {
  if (!Buffer.isBuffer(payload)) {
    return [{ message: payload, size: encodeMessage(payload).length }];
  }
  if (format !== BATCH_MESSAGE_FORMAT) throw new Error(`unsupported message format ${format}`);
  const reader = amqpReader(payload);
  const messages: Array<{ message: Message; size: number }> = [];
  while (reader.remaining()) {
    const section = reader.read();
    if (Number(section.descriptor?.value) !== DATA_SECTION) continue;
    const data = section.value;
    if (!Buffer.isBuffer(data)) throw new Error('a batch data section is not binary');
    messages.push({ message: decodeMessage(data), size: data.length });
  }
  return messages;
}

/** .NET writes a GUID's first three fields little-endian; the SDK reorders the delivery tag likewise. */
export function reorderGuidBytes(bytes: Buffer): Buffer {
  return Buffer.from([
    bytes[3]!,
    bytes[2]!,
    bytes[1]!,
    bytes[0]!,
    bytes[5]!,
    bytes[4]!,
    bytes[7]!,
    bytes[6]!,
    ...bytes.subarray(8, 16),
  ]);
}

/**
 * The delivery tag for a lock token. The SDK turns the tag into its lock token by reordering it, and
 * later sends that token back as a uuid; so the tag is the reordered token.
 */
export function deliveryTagOf(lockTokenHex: string): Buffer {
  return reorderGuidBytes(Buffer.from(lockTokenHex, 'hex'));
}

/** A lock token received in a management request (uuid: Buffer or string) as hex. */
export function lockTokenHex(value: unknown): string | undefined {
  if (Buffer.isBuffer(value) && value.length === 16) return value.toString('hex');
  if (typeof value === 'string' && /^[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}$/i.test(value)) {
    return value.replaceAll('-', '').toLowerCase();
  }
  return undefined;
}

const MESSAGE_STATE = { active: 0, deferred: 1, scheduled: 2 } as const;

/** Header fields of a rhea message; everything else is the "bare message" plus annotations. */
const HEADER_FIELDS = ['durable', 'priority', 'ttl', 'first_acquirer', 'delivery_count'] as const;

/**
 * The encoded bare message (properties, application properties, body, footer) of each stored message.
 * It never changes while the message waits (a change makes a new message object), so each delivery
 * encodes only its header and annotations.
 */
const bareEncodings = new WeakMap<Message, Buffer>();
/** An amqp-value body section holding null: descriptor 0x00, smallulong 0x77, null. */
const EMPTY_VALUE_BODY = Buffer.from([0x00, 0x53, 0x77, 0x40]);

function bareEncoding(message: Message): Buffer {
  let encoded = bareEncodings.get(message);
  if (!encoded) {
    const bare: Message = { ...message };
    const fields = bare as unknown as Record<string, unknown>;
    for (const field of HEADER_FIELDS) delete fields[field];
    delete fields.message_annotations;
    delete fields.delivery_annotations;
    encoded = encodeMessage(bare);
    bareEncodings.set(message, encoded);
  }
  return encoded;
}

/** The message as a receiver sees it, encoded: the client's message plus the broker's annotations. */
export function encodeOutgoing(
  brokered: BrokeredMessage,
  options: {
    includeLock: boolean;
    /** The AMQP header's delivery-count: earlier deliveries, not counting this one. */
    deliveryCount: number;
  },
): Buffer {
  const annotations: Record<string, unknown> = {
    ...(brokered.message.message_annotations ?? {}),
    'x-opt-sequence-number': rhea.types.wrap_long(brokered.sequenceNumber),
    'x-opt-enqueued-time': new Date(brokered.enqueuedAt),
    'x-opt-message-state': rhea.types.wrap_int(MESSAGE_STATE[brokered.state]),
  };
  if (options.includeLock && brokered.lock)
    annotations['x-opt-locked-until'] = new Date(brokered.lock.lockedUntil);
  if (brokered.deadLetterSource) annotations['x-opt-deadletter-source'] = brokered.deadLetterSource;
  const head: Record<string, unknown> = { message_annotations: annotations };
  const source = brokered.message as unknown as Record<string, unknown>;
  for (const field of HEADER_FIELDS) if (source[field] !== undefined) head[field] = source[field];
  head.delivery_count = Math.max(0, options.deliveryCount);
  const encodedHead = encodeMessage(head as unknown as Message);
  // rhea always ends an encoding with a body section, an empty amqp-value here; the bare message
  // brings the real body, so that section is cut off.
  if (!encodedHead.subarray(-EMPTY_VALUE_BODY.length).equals(EMPTY_VALUE_BODY)) {
    return encodeMessage({ ...brokered.message, ...head } as unknown as Message);
  }
  return Buffer.concat([encodedHead.subarray(0, -EMPTY_VALUE_BODY.length), bareEncoding(brokered.message)]);
}

/** A sequence number from a management request: a number, or 8 big-endian bytes. */
export function sequenceNumberOf(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (Buffer.isBuffer(value) && value.length === 8) return Number(value.readBigInt64BE(0));
  const typed = value as { value?: unknown } | undefined;
  if (typed && typed.value !== undefined && typed.value !== value) return sequenceNumberOf(typed.value);
  throw new Error('not a sequence number');
}

/** A time as .NET ticks (100 ns since 0001-01-01) in an AMQP long, as Service Bus sends session locks. */
export function dotNetTicks(epochMs: number): unknown {
  const ticks = (BigInt(Math.round(epochMs)) + 62_135_596_800_000n) * 10_000n;
  const bytes = Buffer.alloc(8);
  bytes.writeBigInt64BE(ticks);
  return rhea.types.wrap_long(bytes);
}
