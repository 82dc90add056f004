/** The key rollover's wire: the sealed credentials control message and the agent's signed acknowledgement. */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  CREDENTIALS_ACK_TYPE,
  EnvelopeError,
  importEncryptionKey,
  openRequest,
  ReplyError,
  sealRequest,
  signCredentialsAck,
  verifyReply,
  type CredentialsAck,
  type RequestToSeal,
} from '../../../shared/wire/index.js';
import { generateEncryptionKey, generateSignatureKey, resolverOf, TestVault } from './keys.js';

const NOW = new Date('2026-11-22T04:00:00.000Z');
const EXPIRES = new Date('2026-11-22T04:05:00.000Z');
const contoso = generateEncryptionKey('contoso');
const contosoKey = importEncryptionKey(contoso.publicJwk);
const vault = new TestVault().add(contoso);
const sasKey = () => randomBytes(32).toString('base64');

function control(listenKey: string, sendKey: string): RequestToSeal {
  return {
    header: { tenantId: 'contoso', operationId: randomUUID(), expiresAt: EXPIRES },
    payload: { operation: 'credentials', listenKey, sendKey },
  };
}

describe('credentials control message', () => {
  it('round trips the two SAS keys, sealed like a password (RSA under the key version, then GCM)', async () => {
    const listenKey = sasKey();
    const sendKey = sasKey();
    const sealed = sealRequest(control(listenKey, sendKey), contosoKey);
    // Neither key appears in the body or the properties.
    for (const key of [listenKey, sendKey]) {
      assert.equal(sealed.body.includes(Buffer.from(key)), false);
      assert.equal(JSON.stringify(sealed.applicationProperties).includes(key), false);
    }
    assert.ok(sealed.body.length < 1024, `control message of ${sealed.body.length} bytes`);
    const opened = await openRequest(sealed, vault, NOW);
    assert.deepEqual(opened.payload, { operation: 'credentials', listenKey, sendKey });
    // One unwrap and one decrypt, like a change.
    assert.deepEqual(
      vault.calls.slice(-2).map((c) => c.operation),
      ['unwrapKey', 'decrypt'],
    );
  });

  it('refuses keys that are not SAS keys, without echoing them', () => {
    for (const bad of ['', 'has space', 'x'.repeat(257), 'semi;colon']) {
      assert.throws(
        () => sealRequest(control(bad, sasKey()), contosoKey),
        (error: unknown) =>
          error instanceof EnvelopeError &&
          error.reason === 'invalidInput' &&
          /listenKey/.test(error.message) &&
          (bad === '' || !error.message.includes(bad)),
      );
    }
  });
});

describe('credentials acknowledgement', () => {
  const signing = generateSignatureKey('contoso');
  const other = generateSignatureKey('fabrikam');
  const resolve = resolverOf(signing, other);
  const ack: CredentialsAck = {
    tenantId: 'contoso',
    rolloverId: randomUUID(),
    agentId: 'dc-agent-01',
    acknowledgedAt: NOW,
  };

  it('verifies, typed, with the key that signed it', async () => {
    const jws = await signCredentialsAck(ack, signing.signer);
    const header = JSON.parse(Buffer.from(jws.split('.')[0]!, 'base64url').toString()) as { typ: string };
    assert.equal(header.typ, CREDENTIALS_ACK_TYPE);
    const verified = await verifyReply(jws, resolve, { now: new Date(NOW.getTime() + 1000) });
    assert.equal(verified.kind, 'credentialsAck');
    assert.ok(verified.kind === 'credentialsAck');
    assert.deepEqual(verified.credentialsAck, ack);
    assert.equal(verified.keyId, signing.keyId);
  });

  it("is refused when signed with another tenant's key or malformed", async () => {
    await assert.rejects(signCredentialsAck(ack, other.signer), (e: unknown) => e instanceof ReplyError);
    await assert.rejects(
      signCredentialsAck({ ...ack, rolloverId: 'not-a-uuid' }, signing.signer),
      (e: unknown) => e instanceof ReplyError && e.reason === 'malformed',
    );
  });
});
