/**
 * A bounds-checked reader and a writer for the envelope's binary layout (big-endian,
 * length-prefixed fields). Hand-written on purpose: the layout is a dozen fixed fields whose exact
 * bytes are the GCM additional data and whose size is budgeted to the byte (docs/wire.md: under
 * 1 KB); a general serializer (CBOR, protobuf) would add field tags and a dependency and still
 * need these checks. Every read checks the remaining length first, so a truncated or lying body
 * ends in a typed error, never an over-read.
 */
import { EnvelopeError } from './errors.js';

export class ByteReader {
  private offset = 0;

  constructor(
    private readonly bytes: Buffer,
    /** What is being read, for error messages (e.g. "body", "payload"). */
    private readonly what: string,
  ) {}

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  take(length: number, field: string): Buffer {
    if (length < 0 || length > this.remaining) {
      throw new EnvelopeError('malformed', `${this.what} ends inside ${field}`);
    }
    const slice = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }

  u8(field: string): number {
    return this.take(1, field).readUInt8(0);
  }

  u16(field: string): number {
    return this.take(2, field).readUInt16BE(0);
  }

  u48(field: string): number {
    return this.take(6, field).readUIntBE(0, 6);
  }

  /** A field of min..max bytes (min 1 unless said) with a one-byte (u8) or two-byte (u16) length prefix. */
  prefixed(prefix: 'u8' | 'u16', max: number, field: string, min = 1): Buffer {
    const length = prefix === 'u8' ? this.u8(`${field} length`) : this.u16(`${field} length`);
    if (length < min || length > max) throw new EnvelopeError('malformed', `${field} has a bad length`);
    return this.take(length, field);
  }

  rest(): Buffer {
    return this.take(this.remaining, 'the rest');
  }

  /** Refuses trailing bytes: a strict reader accepts exactly one encoding of a message. */
  end(): void {
    if (this.remaining !== 0) throw new EnvelopeError('malformed', `${this.what} has trailing bytes`);
  }
}

export class ByteWriter {
  private readonly parts: Buffer[] = [];

  bytes(value: Uint8Array): this {
    this.parts.push(Buffer.from(value));
    return this;
  }

  u8(value: number): this {
    const b = Buffer.alloc(1);
    b.writeUInt8(value);
    return this.bytes(b);
  }

  u16(value: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(value);
    return this.bytes(b);
  }

  u48(value: number): this {
    const b = Buffer.alloc(6);
    b.writeUIntBE(value, 0, 6);
    return this.bytes(b);
  }

  prefixed(prefix: 'u8' | 'u16', value: Uint8Array): this {
    return (prefix === 'u8' ? this.u8(value.length) : this.u16(value.length)).bytes(value);
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }

  /** Overwrites every part with zeros (for buffers that held secrets). */
  wipe(): void {
    for (const part of this.parts) part.fill(0);
  }
}
