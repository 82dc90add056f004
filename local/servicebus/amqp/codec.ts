/**
 * Converting between the broker's messages and AMQP: batches in, broker annotations and lock tokens out.
 */
import rhea, { type Message } from 'rhea';
import type { BrokeredMessage } from '../entities/message.js';
import { encodeDelivery, type BrokerAnnotation, type EncodedEntries } from './delivery-encoding.js';
import { amqpReader, decodeMessage, encodeMessage, takeEncoding } from './rhea-extras.js';

/** Message format of a Service Bus batch: the body is data sections, each a whole encoded message. */
export const BATCH_MESSAGE_FORMAT = 0x80013700;
const DATA_SECTION = 0x75;

/** The messages of one transfer, each with its encoded size. */
export function decodeTransfer(
  payload: Message | Buffer,
  format: number | undefined,
): Array<{ message: Message; size: number }> {
  if (!Buffer.isBuffer(payload)) {
    const encoded = takeEncoding(payload);
    if (!encoded) return [{ message: payload, size: encodeMessage(payload).length }];
    keepSectionsAsSent(payload, encoded);
    return [{ message: payload, size: encoded.length }];
  }
  if (format !== BATCH_MESSAGE_FORMAT) throw new Error(`unsupported message format ${format}`);
  const reader = amqpReader(payload);
  const messages: Array<{ message: Message; size: number }> = [];
  while (reader.remaining()) {
    const section = reader.read();
    if (Number(section.descriptor?.value) !== DATA_SECTION) continue;
    const data = section.value;
    if (!Buffer.isBuffer(data)) throw new Error('a batch data section is not binary');
    const message = decodeMessage(data);
    keepSectionsAsSent(message, data);
    messages.push({ message, size: data.length });
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

/** Section descriptors (AMQP 1.0 §3.2): header … properties come before application-properties. */
const SECTION = { header: 0x70, properties: 0x73, footer: 0x78 } as const;

/**
 * The end of the sections up to and including properties in an encoded message, i.e. where
 * application-properties, the body and the footer begin; undefined if the bytes are not laid out as
 * expected (then the message is encoded afresh).
 */
function sectionsTailOffset(encoded: Buffer): number | undefined {
  let offset = 0;
  while (offset + 3 < encoded.length) {
    // A section: descriptor 0x00, smallulong 0x53, code; then a list or map.
    if (encoded[offset] !== 0x00 || encoded[offset + 1] !== 0x53) return undefined;
    const code = encoded[offset + 2]!;
    if (code < SECTION.header || code > SECTION.footer) return undefined;
    if (code > SECTION.properties) return offset;
    const constructor = encoded[offset + 3]!;
    if (constructor === 0x45)
      offset += 4; // list0
    else if (constructor === 0xc0 || constructor === 0xc1) offset += 5 + encoded[offset + 4]!;
    else if ((constructor === 0xd0 || constructor === 0xd1) && offset + 8 <= encoded.length)
      offset += 8 + encoded.readUInt32BE(offset + 4);
    else return undefined;
  }
  return undefined;
}

/**
 * Application properties, body and footer of each received message, as the client encoded them. The
 * broker never changes these in place (a change makes a new message object), so a delivery forwards
 * them as they came and encodes only the header, annotations and properties (the broker may have set
 * message_id or lowered absolute_expiry_time). A copy: the received bytes share the socket's buffer.
 * Forwarding the client's bytes is also what Service Bus does with the bare message.
 */
const tailsAsSent = new WeakMap<Message, Buffer>();

function keepSectionsAsSent(message: Message, encoded: Buffer): void {
  const offset = sectionsTailOffset(encoded);
  if (offset !== undefined) tailsAsSent.set(message, Buffer.from(encoded.subarray(offset)));
}

/** Annotations the broker owns: what a client put under these names is not passed on. */
const BROKER_ANNOTATIONS = new Set([
  'x-opt-sequence-number',
  'x-opt-enqueued-time',
  'x-opt-message-state',
  'x-opt-locked-until',
  'x-opt-deadletter-source',
]);
const NO_ENTRIES: EncodedEntries = { entries: Buffer.alloc(0), count: 0 };
/** The client's own message annotations of each message, encoded once as map entries. */
const clientAnnotationEntries = new WeakMap<Message, EncodedEntries>();

function clientAnnotationsOf(message: Message): EncodedEntries | undefined {
  const cached = clientAnnotationEntries.get(message);
  if (cached) return cached;
  const own = Object.entries(message.message_annotations ?? {}).filter(
    ([key]) => !BROKER_ANNOTATIONS.has(key),
  );
  let result: EncodedEntries | undefined = NO_ENTRIES;
  if (own.length > 0) {
    // rhea encodes the section (descriptor 0x00 0x53 0x72, then map8 or map32); keep the entries.
    const section = encodeMessage({ message_annotations: Object.fromEntries(own) } as Message);
    result = undefined;
    if (section[0] === 0x00 && section[1] === 0x53 && section[2] === 0x72) {
      if (section[3] === 0xc1) {
        result = { entries: Buffer.from(section.subarray(6, 5 + section[4]!)), count: section[5]! };
      } else if (section[3] === 0xd1) {
        const end = 8 + section.readUInt32BE(4);
        result = { entries: Buffer.from(section.subarray(12, end)), count: section.readUInt32BE(8) };
      }
    }
  }
  if (result) clientAnnotationEntries.set(message, result);
  return result;
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
  const deliveryCount = Math.max(0, options.deliveryCount);
  const lockedUntil = options.includeLock ? brokered.lock?.lockedUntil : undefined;
  const rest = tailsAsSent.get(brokered.message);
  const clientAnnotations = rest && clientAnnotationsOf(brokered.message);
  if (rest && clientAnnotations) {
    const annotations: BrokerAnnotation[] = [
      { key: 'x-opt-sequence-number', kind: 'long', value: brokered.sequenceNumber },
      { key: 'x-opt-enqueued-time', kind: 'timestamp', value: brokered.enqueuedAt },
      { key: 'x-opt-message-state', kind: 'int', value: MESSAGE_STATE[brokered.state] },
    ];
    if (lockedUntil !== undefined) {
      annotations.push({ key: 'x-opt-locked-until', kind: 'timestamp', value: lockedUntil });
    }
    if (brokered.deadLetterSource) {
      annotations.push({ key: 'x-opt-deadletter-source', kind: 'string', value: brokered.deadLetterSource });
    }
    const encoded = encodeDelivery(brokered.message, deliveryCount, clientAnnotations, annotations, rest);
    if (encoded) return encoded;
  }
  // Anything else (a message the broker made or changed, values of unusual types): rhea encodes it all.
  const annotations: Record<string, unknown> = Object.fromEntries(
    Object.entries(brokered.message.message_annotations ?? {}).filter(
      ([key]) => !BROKER_ANNOTATIONS.has(key),
    ),
  );
  annotations['x-opt-sequence-number'] = rhea.types.wrap_long(brokered.sequenceNumber);
  annotations['x-opt-enqueued-time'] = new Date(brokered.enqueuedAt);
  annotations['x-opt-message-state'] = rhea.types.wrap_int(MESSAGE_STATE[brokered.state]);
  if (lockedUntil !== undefined) annotations['x-opt-locked-until'] = new Date(lockedUntil);
  if (brokered.deadLetterSource) annotations['x-opt-deadletter-source'] = brokered.deadLetterSource;
  const outgoing: Message = {
    ...brokered.message,
    message_annotations: annotations,
    delivery_count: deliveryCount,
  };
  delete outgoing.delivery_annotations; // for one hop only
  return encodeMessage(outgoing);
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

/**
 * The size of a message's body as the client gave it: the bytes of its data section(s), or of an AMQP
 * value that is a string or binary; 0 for other values (the broker's counters report body sizes).
 */
export function bodyBytesOf(message: Message): number {
  const body = message.body as unknown;
  const content =
    body && typeof body === 'object' && 'typecode' in body && 'content' in body
      ? (body as { content: unknown }).content
      : body;
  const sizeOf = (value: unknown): number =>
    Buffer.isBuffer(value) ? value.length : typeof value === 'string' ? Buffer.byteLength(value) : 0;
  return Array.isArray(content)
    ? content.reduce((sum: number, part) => sum + sizeOf(part), 0)
    : sizeOf(content);
}
