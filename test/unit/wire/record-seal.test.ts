/** The exactly-once record as the request session's state holds it: signed with the tenant's -sig key. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { base64url } from 'jose';
import { openRecord, ReplyError, sealRecord } from '../../../shared/wire/index.js';
import { generateSignatureKey, resolverOf } from './keys.js';

const RECORD = { v: 1, ops: { 'op-1': { s: 'd', x: 1, t: 1, r: { outcome: 'succeeded' } } } };
const refused = (reason: string) => (error: unknown) =>
  error instanceof ReplyError && error.reason === reason;

describe('sealRecord / openRecord', () => {
  it('round-trips a record signed with the tenant’s key, as a string or bytes', async () => {
    const key = generateSignatureKey('contoso');
    const sealed = await sealRecord('contoso', RECORD, key.signer);
    assert.deepEqual(await openRecord(sealed, 'contoso', resolverOf(key)), RECORD);
    assert.deepEqual(await openRecord(Buffer.from(sealed), 'contoso', resolverOf(key)), RECORD);
  });

  it('refuses what is not a signed record of this tenant, before or after looking a key up', async () => {
    const key = generateSignatureKey('contoso');
    const other = generateSignatureKey('fabrikam');
    const sealed = await sealRecord('contoso', RECORD, key.signer);
    await assert.rejects(openRecord(RECORD, 'contoso', resolverOf(key)), refused('malformed'));
    await assert.rejects(openRecord('a.b', 'contoso', resolverOf(key)), refused('malformed'));
    await assert.rejects(
      openRecord(await sealRecord('fabrikam', RECORD, other.signer), 'contoso', resolverOf(key, other)),
      refused('wrongKey'),
    );
    await assert.rejects(openRecord(sealed, 'contoso', resolverOf()), refused('unknownKey'));
    // The content changed after signing: the signature no longer verifies.
    const [header, , signature] = sealed.split('.');
    const forged = base64url.encode(
      JSON.stringify({ tenantId: 'contoso', record: { v: 1, ops: {} }, iat: 1 }),
    );
    await assert.rejects(
      openRecord(`${header}.${forged}.${signature}`, 'contoso', resolverOf(key)),
      refused('badSignature'),
    );
  });
});
