/**
 * The front of an outgoing delivery (header, message annotations, properties), written straight into one
 * buffer. rhea's encoder builds typed wrappers for every field and starts each message in a fresh 1 KB
 * buffer; written here, the per-delivery cost is a few small writes. Only the value types the broker and
 * the SDK use are handled: `encodeDeliveryFront` returns undefined for anything else and the caller falls
 * back to rhea (hand-written because rhea has no way to encode sections into a caller's buffer).
 */
import type { Message } from 'rhea';

/** Section and type codes of AMQP 1.0 (part 1 §1.6, part 3 §3.2). */
const CODE = {
  header: 0x70,
  messageAnnotations: 0x72,
  properties: 0x73,
  null: 0x40,
  true: 0x41,
  false: 0x42,
  uint0: 0x43,
  smalluint: 0x52,
  uint: 0x70,
  ubyte: 0x50,
  int: 0x71,
  long: 0x81,
  timestamp: 0x83,
  str8: 0xa1,
  str32: 0xb1,
  sym8: 0xa3,
  sym32: 0xb3,
  vbin8: 0xa0,
  vbin32: 0xb0,
  list32: 0xd0,
  map32: 0xd1,
} as const;

/** An annotation the broker adds to a delivery. */
export type BrokerAnnotation =
  | { key: string; kind: 'long' | 'timestamp'; value: number }
  | { key: string; kind: 'int'; value: number }
  | { key: string; kind: 'string'; value: string };

class Unsupported extends Error {}

/** Appends AMQP values to a growing buffer. */
class Writer {
  private buffer: Buffer;
  length = 0;

  constructor(capacity: number) {
    this.buffer = Buffer.allocUnsafe(capacity);
  }

  private ensure(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + extra));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  byte(value: number): void {
    this.ensure(1);
    this.buffer[this.length++] = value;
  }

  int32(value: number): void {
    this.ensure(4);
    this.buffer.writeInt32BE(value, this.length);
    this.length += 4;
  }

  uint32(value: number): void {
    this.ensure(4);
    this.buffer.writeUInt32BE(value, this.length);
    this.length += 4;
  }

  int64(value: number): void {
    this.ensure(8);
    this.buffer.writeBigInt64BE(BigInt(Math.trunc(value)), this.length);
    this.length += 8;
  }

  bytes(value: Buffer): void {
    this.ensure(value.length);
    value.copy(this.buffer, this.length);
    this.length += value.length;
  }

  /** Overwrite a 32-bit field written earlier (a compound's size or count). */
  patchUint32(at: number, value: number): void {
    this.buffer.writeUInt32BE(value, at);
  }

  variable(short: number, long: number, data: Buffer): void {
    if (data.length <= 0xff) {
      this.byte(short);
      this.byte(data.length);
    } else {
      this.byte(long);
      this.uint32(data.length);
    }
    this.bytes(data);
  }

  string(value: string): void {
    this.variable(CODE.str8, CODE.str32, Buffer.from(value, 'utf8'));
  }

  symbol(value: string): void {
    this.variable(CODE.sym8, CODE.sym32, Buffer.from(value, 'ascii'));
  }

  uint(value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new Unsupported();
    if (value === 0) this.byte(CODE.uint0);
    else if (value <= 0xff) {
      this.byte(CODE.smalluint);
      this.byte(value);
    } else {
      this.byte(CODE.uint);
      this.uint32(value);
    }
  }

  /** Start a described section with a list32 or map32 body; returns where to patch size and count. */
  beginSection(code: number, compound: number): number {
    this.byte(0x00);
    this.byte(0x53);
    this.byte(code);
    this.byte(compound);
    const at = this.length;
    this.uint32(0);
    this.uint32(0);
    return at;
  }

  endSection(at: number, count: number): void {
    // size counts the bytes after the size field, the count field included
    this.patchUint32(at, this.length - at - 4);
    this.patchUint32(at + 4, count);
  }

  result(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

function writeHeader(w: Writer, message: Message, deliveryCount: number): void {
  const at = w.beginSection(CODE.header, CODE.list32);
  const boolean = (value: unknown) => {
    if (value === undefined || value === null) w.byte(CODE.null);
    else if (typeof value === 'boolean') w.byte(value ? CODE.true : CODE.false);
    else throw new Unsupported();
  };
  boolean(message.durable);
  if (message.priority === undefined || message.priority === null) w.byte(CODE.null);
  else if (Number.isInteger(message.priority) && message.priority >= 0 && message.priority <= 0xff) {
    w.byte(CODE.ubyte);
    w.byte(message.priority);
  } else throw new Unsupported();
  if (message.ttl === undefined || message.ttl === null) w.byte(CODE.null);
  else w.uint(message.ttl);
  boolean(message.first_acquirer);
  w.uint(deliveryCount);
  w.endSection(at, 5);
}

function writeAnnotations(w: Writer, client: EncodedEntries, broker: BrokerAnnotation[]): void {
  const at = w.beginSection(CODE.messageAnnotations, CODE.map32);
  w.bytes(client.entries);
  for (const annotation of broker) {
    w.symbol(annotation.key);
    switch (annotation.kind) {
      case 'long':
      case 'timestamp':
        w.byte(annotation.kind === 'long' ? CODE.long : CODE.timestamp);
        w.int64(annotation.value);
        break;
      case 'int':
        w.byte(CODE.int);
        w.int32(annotation.value);
        break;
      case 'string':
        w.string(annotation.value);
        break;
    }
  }
  w.endSection(at, client.count + broker.length * 2);
}

/** Properties fields in order, with their AMQP type. */
const PROPERTY_FIELDS = [
  ['message_id', 'message-id'],
  ['user_id', 'binary'],
  ['to', 'string'],
  ['subject', 'string'],
  ['reply_to', 'string'],
  ['correlation_id', 'message-id'],
  ['content_type', 'symbol'],
  ['content_encoding', 'symbol'],
  ['absolute_expiry_time', 'timestamp'],
  ['creation_time', 'timestamp'],
  ['group_id', 'string'],
  ['group_sequence', 'uint'],
  ['reply_to_group_id', 'string'],
] as const;

function writeProperties(w: Writer, message: Message): void {
  const fields = message as unknown as Record<string, unknown>;
  let last = -1;
  PROPERTY_FIELDS.forEach(([name], index) => {
    if (fields[name] !== undefined && fields[name] !== null) last = index;
  });
  if (last < 0) return; // rhea leaves out an empty properties section too
  const at = w.beginSection(CODE.properties, CODE.list32);
  for (let index = 0; index <= last; index++) {
    const [name, type] = PROPERTY_FIELDS[index]!;
    const value = fields[name];
    if (value === undefined || value === null) {
      w.byte(CODE.null);
      continue;
    }
    switch (type) {
      case 'message-id':
      case 'string':
        // Message ids other than strings (ulong, uuid, binary) are left to rhea.
        if (typeof value !== 'string') throw new Unsupported();
        w.string(value);
        break;
      case 'symbol':
        if (typeof value !== 'string') throw new Unsupported();
        w.symbol(value);
        break;
      case 'binary':
        if (!Buffer.isBuffer(value)) throw new Unsupported();
        w.variable(CODE.vbin8, CODE.vbin32, value);
        break;
      case 'timestamp':
        if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new Unsupported();
        w.byte(CODE.timestamp);
        w.int64(value.getTime());
        break;
      case 'uint':
        if (typeof value !== 'number') throw new Unsupported();
        w.uint(value);
        break;
    }
  }
  w.endSection(at, last + 1);
}

/** Map entries already encoded (key, value, key, value …) and how many items that is. */
export interface EncodedEntries {
  entries: Buffer;
  count: number;
}

/**
 * A whole delivery: header, message annotations (the client's, already encoded, then the broker's),
 * properties, then `rest` (application properties, body and footer as the client encoded them).
 * Undefined when a value is of a type this encoder leaves to rhea.
 */
export function encodeDelivery(
  message: Message,
  deliveryCount: number,
  clientAnnotations: EncodedEntries,
  brokerAnnotations: BrokerAnnotation[],
  rest: Buffer,
): Buffer | undefined {
  const w = new Writer(256 + clientAnnotations.entries.length + rest.length);
  try {
    writeHeader(w, message, deliveryCount);
    writeAnnotations(w, clientAnnotations, brokerAnnotations);
    writeProperties(w, message);
  } catch (error) {
    if (error instanceof Unsupported) return undefined;
    throw error;
  }
  w.bytes(rest);
  return w.result();
}
