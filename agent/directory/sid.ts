/**
 * Security identifiers (MS-DTYP §2.4.2): the string form `S-1-5-21-…` that tokens carry (`onprem_sid`)
 * and the binary form that AD stores in `objectSid`. Hand-written because the encoding is tiny and
 * fully specified, and no maintained npm package covers it without pulling in a Windows toolchain.
 *
 * Binary layout: revision (1 byte, always 1), sub-authority count (1 byte, at most 15), identifier
 * authority (6 bytes, big-endian), then each sub-authority as a 32-bit little-endian unsigned integer.
 */

const MAX_SUB_AUTHORITIES = 15;
const MAX_AUTHORITY = 2n ** 48n - 1n;
const MAX_SUB_AUTHORITY = 2 ** 32 - 1;

export class InvalidSidError extends Error {
  constructor(reason: string) {
    // The value itself is not repeated: it is a user identifier, not something logs need.
    super(`not a valid security identifier: ${reason}`);
    this.name = 'InvalidSidError';
  }
}

/** `S-1-5-21-…` → binary `objectSid`. The authority may be decimal or, as MS-DTYP allows, 0x-hex. */
export function sidToBinary(sid: string): Buffer {
  const parts = sid.split('-');
  if (parts.length < 3 || parts[0]?.toUpperCase() !== 'S') throw new InvalidSidError('expected S-R-I-…');
  const [, revisionText, authorityText, ...subTexts] = parts as [string, string, string, ...string[]];
  if (revisionText !== '1') throw new InvalidSidError('revision must be 1');
  if (subTexts.length > MAX_SUB_AUTHORITIES) throw new InvalidSidError('more than 15 sub-authorities');

  let authority: bigint;
  if (/^0[xX][0-9A-Fa-f]{1,12}$/.test(authorityText)) authority = BigInt(authorityText);
  else if (/^\d{1,15}$/.test(authorityText)) authority = BigInt(authorityText);
  else throw new InvalidSidError('malformed identifier authority');
  if (authority > MAX_AUTHORITY) throw new InvalidSidError('identifier authority out of range');

  const binary = Buffer.alloc(8 + 4 * subTexts.length);
  binary.writeUInt8(1, 0);
  binary.writeUInt8(subTexts.length, 1);
  binary.writeUIntBE(Number(authority), 2, 6);
  subTexts.forEach((text, index) => {
    if (!/^\d{1,10}$/.test(text) || Number(text) > MAX_SUB_AUTHORITY) {
      throw new InvalidSidError('sub-authority is not a 32-bit unsigned integer');
    }
    binary.writeUInt32LE(Number(text), 8 + 4 * index);
  });
  return binary;
}

/** Binary `objectSid` → `S-1-5-21-…` (authority in decimal below 2^32, else 0x-hex, as MS-DTYP says). */
export function sidFromBinary(binary: Uint8Array): string {
  const bytes = Buffer.from(binary.buffer, binary.byteOffset, binary.byteLength);
  if (bytes.length < 8) throw new InvalidSidError('shorter than 8 bytes');
  const revision = bytes.readUInt8(0);
  const count = bytes.readUInt8(1);
  if (revision !== 1) throw new InvalidSidError('revision must be 1');
  if (count > MAX_SUB_AUTHORITIES) throw new InvalidSidError('more than 15 sub-authorities');
  if (bytes.length !== 8 + 4 * count)
    throw new InvalidSidError('length does not match the sub-authority count');
  const authority = bytes.readUIntBE(2, 6);
  const authorityText = authority < 2 ** 32 ? String(authority) : `0x${authority.toString(16).toUpperCase()}`;
  const subs: number[] = [];
  for (let index = 0; index < count; index++) subs.push(bytes.readUInt32LE(8 + 4 * index));
  return ['S', '1', authorityText, ...subs.map(String)].join('-');
}

/** The canonical string form (decimal, upper-case S), or undefined when `sid` is not a valid SID. */
export function canonicalSid(sid: string): string | undefined {
  try {
    return sidFromBinary(sidToBinary(sid));
  } catch (error) {
    if (error instanceof InvalidSidError) return undefined;
    throw error;
  }
}
