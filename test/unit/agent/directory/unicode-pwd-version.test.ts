/** Reading unicodePwd's version out of replPropertyMetaData, as Samba and Windows AD encode it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UNICODE_PWD_ATTID, unicodePwdVersion } from '../../../../agent/directory/unicode-pwd-version.js';

function blob(entries: [attid: number, version: number][], version = 1): Buffer {
  const out = Buffer.alloc(16 + entries.length * 48);
  out.writeUInt32LE(version, 0);
  out.writeUInt32LE(entries.length, 8);
  entries.forEach(([attid, v], i) => {
    out.writeUInt32LE(attid, 16 + i * 48);
    out.writeUInt32LE(v, 16 + i * 48 + 4);
    out.writeBigUInt64LE(BigInt(4000 + i), 16 + i * 48 + 32); // an originating USN, not read
  });
  return out;
}

test("finds unicodePwd's version among the object's attributes", () => {
  assert.equal(
    unicodePwdVersion(
      blob([
        [0x0, 1],
        [UNICODE_PWD_ATTID, 7],
        [0x90060, 3],
      ]),
    ),
    7,
  );
});

test('an object whose password was never set has no unicodePwd entry', () => {
  assert.equal(
    unicodePwdVersion(
      blob([
        [0x0, 1],
        [0x90060, 3],
      ]),
    ),
    undefined,
  );
});

test('refuses what is not a version 1 blob, or is cut short', () => {
  assert.throws(() => unicodePwdVersion(blob([[UNICODE_PWD_ATTID, 2]], 2)), RangeError);
  assert.throws(() => unicodePwdVersion(blob([[UNICODE_PWD_ATTID, 2]]).subarray(0, 40)), RangeError);
  assert.throws(() => unicodePwdVersion(Buffer.alloc(8)), RangeError);
});
