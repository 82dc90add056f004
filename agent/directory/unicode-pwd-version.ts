/**
 * How many times a user's password was set, read from AD's replication metadata of the object
 * (`replPropertyMetaData`, MS-DRSR 5.166 REPLPROPERTYMETADATA_BLOB): every originating write of
 * `unicodePwd` (a reset, a change, also one to "must change at next logon" again, when `pwdLastSet`
 * stays 0) raises the attribute's version by one, and nothing else does. It is what tells an agent
 * taking over whether a password operation of an agent that died took effect, without comparing
 * clocks (observed on Samba 4.17: 1 at creation, +1 per reset or change).
 *
 * Layout, little-endian: u32 version (1), u32 reserved, u32 count, u32 reserved, then `count` entries
 * of 48 bytes: u32 attribute id, u32 version, u64 time of the originating change, 16-byte invocation
 * id, u64 originating USN, u64 local USN.
 */

/** The attribute id of `unicodePwd` (schema attributeID 1.2.840.113556.1.4.90, prefix-mapped). */
export const UNICODE_PWD_ATTID = 0x9005a;

const HEADER_BYTES = 16;
const ENTRY_BYTES = 48;

/** The version of `unicodePwd` in a `replPropertyMetaData` value, or undefined when it has none. */
export function unicodePwdVersion(blob: Buffer): number | undefined {
  if (blob.length < HEADER_BYTES || blob.readUInt32LE(0) !== 1) {
    throw new RangeError('replPropertyMetaData: not a version 1 metadata blob');
  }
  const count = blob.readUInt32LE(8);
  if (blob.length < HEADER_BYTES + count * ENTRY_BYTES) {
    throw new RangeError('replPropertyMetaData: shorter than its entries');
  }
  for (let i = 0; i < count; i++) {
    const at = HEADER_BYTES + i * ENTRY_BYTES;
    if (blob.readUInt32LE(at) === UNICODE_PWD_ATTID) return blob.readUInt32LE(at + 4);
  }
  return undefined;
}
