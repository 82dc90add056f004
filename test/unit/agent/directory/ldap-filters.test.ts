import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerWriter } from 'ldapts';
import { userFilter } from '../../../../agent/directory/ldap-filters.js';
import { InvalidSidError, sidToBinary } from '../../../../agent/directory/sid.js';

const PERSON = '(objectCategory=person)(objectClass=user)';

function ber(filter: ReturnType<typeof userFilter>): Buffer {
  const writer = new BerWriter();
  filter.write(writer);
  return writer.buffer;
}

describe('user lookup filters', () => {
  it('looks a UPN up among person accounts, RFC 4515-escaped in its string form', () => {
    const filter = userFilter({ kind: 'upn', value: 'a*b(c)d\\e\u0000f@corp.example.test' });
    assert.equal(
      filter.toString(),
      `(&${PERSON}(userPrincipalName=a\\2ab\\28c\\29d\\5ce\\00f@corp.example.test))`,
    );
  });

  it('sends a UPN byte for byte as an OCTET STRING, so metacharacters cannot change the filter', () => {
    const upn = 'x)(userPrincipalName=*';
    const encoded = ber(userFilter({ kind: 'upn', value: upn }));
    assert.ok(encoded.includes(Buffer.from(upn, 'utf8')));
    // One AND (0xa0) with three equality matches (0xa3), whatever the value holds.
    assert.equal(encoded[0], 0xa0);
    assert.equal(encoded.filter((byte) => byte === 0xa3).length, 3);
  });

  it('keeps non-ASCII UPNs as UTF-8', () => {
    const upn = 'jürgen.ßtraße@corp.example.test';
    assert.ok(ber(userFilter({ kind: 'upn', value: upn })).includes(Buffer.from(upn, 'utf8')));
  });

  it('matches objectSid on the binary SID, bytes ≥ 0x80 included', () => {
    const sid = 'S-1-5-21-3298587818-163239216-3008937011-1103';
    const binary = sidToBinary(sid);
    assert.ok(binary.some((byte) => byte >= 0x80));
    const filter = userFilter({ kind: 'sid', value: sid });
    assert.ok(ber(filter).includes(binary), 'the BER carries the 28 SID bytes unchanged');
    assert.equal(
      filter.toString(),
      `(&${PERSON}(objectSid=${[...binary].map((byte) => `\\${byte.toString(16).padStart(2, '0')}`).join('')}))`,
    );
  });

  it('refuses a malformed SID before anything is sent', () => {
    assert.throws(() => userFilter({ kind: 'sid', value: 'S-1-5-21-x' }), InvalidSidError);
  });
});
