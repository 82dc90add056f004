import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  InvalidSidError,
  canonicalSid,
  sidFromBinary,
  sidToBinary,
} from '../../../../agent/directory/sid.js';

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');

describe('SID encoding (MS-DTYP 2.4.2)', () => {
  const vectors: Array<[string, Buffer]> = [
    // Everyone: authority 1, one sub-authority 0.
    ['S-1-1-0', hex('01 01 000000000001 00000000')],
    // BUILTIN\Administrators: sub-authorities little-endian (32 = 0x20, 544 = 0x220).
    ['S-1-5-32-544', hex('01 02 000000000005 20000000 20020000')],
    // A domain user as Samba stored it (read from a provisioned DC's objectSid).
    [
      'S-1-5-21-3298587818-163239216-3008937011-1103',
      hex('01 05 000000000005 15000000 aa749cc4 30d5ba09 33bc58b3 4f040000'),
    ],
    // The largest sub-authority, and an authority that needs the hex form.
    ['S-1-5-4294967295', hex('01 01 000000000005 ffffffff')],
    ['S-1-0x123456789ABC-7', hex('01 01 123456789abc 07000000')],
    // No sub-authorities at all (the Null Authority).
    ['S-1-0', hex('01 00 000000000000')],
  ];

  it('encodes the string form into objectSid bytes', () => {
    for (const [text, binary] of vectors) assert.deepEqual(sidToBinary(text), binary, text);
  });

  it('decodes objectSid bytes into the string form', () => {
    for (const [text, binary] of vectors) assert.equal(sidFromBinary(binary), text);
  });

  it('reads a 0x-hex authority below 2^32 and lower-case s, and writes them canonically', () => {
    assert.deepEqual(sidToBinary('S-1-0x5-21-1'), sidToBinary('S-1-5-21-1'));
    assert.equal(canonicalSid('s-1-0x5-21-1'), 'S-1-5-21-1');
    assert.equal(canonicalSid('S-1-5-21-0001'), 'S-1-5-21-1');
  });

  it('refuses malformed SIDs with InvalidSidError, without echoing them', () => {
    const malformed = [
      '',
      'S',
      'S-1',
      'X-1-5-21',
      'S-2-5-21',
      'S-1-5-21-4294967296',
      'S-1-5--1',
      'S-1-5-21-1a',
      'S-1-5-21--1',
      'S-1-281474976710656-1',
      'S-1-0x1000000000000-1',
      `S-1-5${'-1'.repeat(16)}`,
      'S-1-5-21-not-a-sid',
    ];
    for (const text of malformed) {
      assert.throws(
        () => sidToBinary(text),
        (error: unknown) =>
          error instanceof InvalidSidError && (text.length < 4 || !error.message.includes(text)),
        text,
      );
      assert.equal(canonicalSid(text), undefined);
    }
  });

  it('refuses binary SIDs of the wrong length or revision', () => {
    assert.throws(() => sidFromBinary(hex('01 01 000000000005')), InvalidSidError);
    assert.throws(() => sidFromBinary(hex('01 01 000000000005 2000000000')), InvalidSidError);
    assert.throws(() => sidFromBinary(hex('02 01 000000000005 20000000')), InvalidSidError);
    assert.throws(() => sidFromBinary(hex('01 10 000000000005')), InvalidSidError);
    assert.throws(() => sidFromBinary(hex('0101')), InvalidSidError);
  });

  it('decodes a SID inside a larger buffer (a view)', () => {
    const backing = Buffer.concat([hex('ffff'), sidToBinary('S-1-5-32-544')]);
    assert.equal(sidFromBinary(backing.subarray(2)), 'S-1-5-32-544');
  });
});
