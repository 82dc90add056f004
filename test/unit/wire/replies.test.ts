import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { base64url, SignJWT, UnsecuredJWT } from 'jose';
import {
  HEARTBEAT_TYPE,
  importSignatureKey,
  ReplyError,
  RESULT_TYPE,
  signHeartbeat,
  signResult,
  verifyReply,
  type HeartbeatReply,
  type ReplyFailure,
  type ResultReply,
} from '../../../shared/wire/index.js';
import { generateEncryptionKey, generateSignatureKey, resolverOf } from './keys.js';

const NOW = new Date('2026-11-22T04:00:00.000Z');
const contoso = generateSignatureKey('contoso');
const fabrikam = generateSignatureKey('fabrikam');
const resolve = resolverOf(contoso, fabrikam);

const result: ResultReply = {
  tenantId: 'contoso',
  operationId: randomUUID(),
  outcome: 'PasswordPolicy',
  reason: 'history',
  detail: 'the password was used recently',
  finishedAt: new Date('2026-11-22T03:59:59.250Z'),
};

const heartbeat: HeartbeatReply = {
  tenantId: 'contoso',
  agentId: 'dc-agent-01.contoso.test',
  agentVersion: '1.2.3',
  startedAt: new Date('2026-11-21T22:00:00.000Z'),
  now: NOW,
  policy: { minLength: 10, complexity: true, historyLength: 5, minimumAgeSeconds: 0, lockoutThreshold: 5 },
  state: 'online',
};

async function refusal(promise: Promise<unknown>, reason: ReplyFailure): Promise<ReplyError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ReplyError, `expected a ReplyError, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    return error;
  }
  assert.fail(`expected a refusal (${reason})`);
}

/** A compact JWS assembled by hand and signed with node:crypto (for replies our signer would refuse to make). */
function handmade(header: object, claims: object, privateKey: KeyObject): string {
  const input = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${base64url.encode(signature)}`;
}

function claimsOf(jws: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

function headerOf(jws: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jws.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('replies: valid ones verify', () => {
  it('a result: typed, with key id and validity', async () => {
    const jws = await signResult(result, contoso.signer, NOW);
    assert.deepEqual(headerOf(jws), { alg: 'ES256', kid: contoso.keyId, typ: RESULT_TYPE });
    const verified = await verifyReply(jws, resolve, { now: NOW });
    assert.deepEqual(verified, {
      kind: 'result',
      result,
      keyId: contoso.keyId,
      issuedAt: NOW,
      expiresAt: new Date(NOW.getTime() + 24 * 3600_000),
    });
  });

  it('a succeeded result without reason or detail', async () => {
    const plain: ResultReply = {
      tenantId: 'contoso',
      operationId: randomUUID(),
      outcome: 'succeeded',
      finishedAt: NOW,
    };
    const verified = await verifyReply(await signResult(plain, contoso.signer, NOW), resolve, { now: NOW });
    assert.ok(verified.kind === 'result');
    assert.deepEqual(verified.result, plain);
  });

  it('a heartbeat, online and going offline', async () => {
    for (const state of ['online', 'going-offline'] as const) {
      const jws = await signHeartbeat({ ...heartbeat, state }, contoso.signer);
      assert.equal(headerOf(jws).typ, HEARTBEAT_TYPE);
      const verified = await verifyReply(jws, resolve, { now: new Date(NOW.getTime() + 5_000) });
      assert.deepEqual(verified, {
        kind: 'heartbeat',
        heartbeat: { ...heartbeat, state },
        keyId: contoso.keyId,
        issuedAt: NOW,
        expiresAt: new Date(NOW.getTime() + 11 * 60_000),
      });
    }
  });

  it('the signer is given the SHA-256 digest of the JWS signing input, as Key Vault sign expects', async () => {
    const jws = await signResult(result, contoso.signer, NOW);
    const [header, payload, signature] = jws.split('.') as [string, string, string];
    const digest = createHash('sha256').update(`${header}.${payload}`).digest();
    assert.deepEqual(contoso.signer.digests.at(-1), digest);
    // And the raw r || s it returned is what node:crypto verifies as IEEE P1363 ECDSA-SHA256.
    assert.ok(
      verify(
        'sha256',
        Buffer.from(`${header}.${payload}`),
        { key: contoso.publicKey, dsaEncoding: 'ieee-p1363' },
        Buffer.from(signature, 'base64url'),
      ),
    );
  });

  it('the resolver may return the SDK-shaped public JWK imported with importSignatureKey', async () => {
    const jws = await signResult(result, contoso.signer, NOW);
    const key = importSignatureKey(contoso.publicJwk);
    const verified = await verifyReply(jws, async () => key, { now: NOW });
    assert.equal(verified.kind, 'result');
  });
});

describe('replies: interop with Key Vault’s signature format', () => {
  it('jose verifies a JWS whose signature is node:crypto ECDSA-SHA256 in IEEE P1363 (raw r || s) form', async () => {
    const jws = handmade(
      { alg: 'ES256', kid: contoso.keyId, typ: RESULT_TYPE },
      { ...claimsOf(await signResult(result, contoso.signer, NOW)) },
      contoso.privateKey,
    );
    const verified = await verifyReply(jws, resolve, { now: NOW });
    assert.equal(verified.kind, 'result');
  });

  it('the DER form (what node:crypto gives by default) is not a JWS signature', async () => {
    const claims = claimsOf(await signResult(result, contoso.signer, NOW));
    const input = `${base64url.encode(JSON.stringify({ alg: 'ES256', kid: contoso.keyId, typ: RESULT_TYPE }))}.${base64url.encode(JSON.stringify(claims))}`;
    const der = sign('sha256', Buffer.from(input), contoso.privateKey);
    await refusal(verifyReply(`${input}.${base64url.encode(der)}`, resolve, { now: NOW }), 'badSignature');
  });
});

describe('replies: refused', () => {
  it('signed with another key than its kid names: badSignature', async () => {
    const impostor = generateSignatureKey('contoso');
    const jws = await signResult(result, { ...impostor.signer, kid: contoso.keyId }, NOW);
    await refusal(verifyReply(jws, resolve, { now: NOW }), 'badSignature');
  });

  it('a tampered payload or header: badSignature', async () => {
    const jws = await signResult(result, contoso.signer, NOW);
    const [header, , signature] = jws.split('.') as [string, string, string];
    const forged = base64url.encode(
      JSON.stringify({ ...claimsOf(jws), outcome: 'succeeded', reason: undefined }),
    );
    await refusal(verifyReply(`${header}.${forged}.${signature}`, resolve, { now: NOW }), 'badSignature');
    const otherOperation = base64url.encode(JSON.stringify({ ...claimsOf(jws), operationId: randomUUID() }));
    await refusal(
      verifyReply(`${header}.${otherOperation}.${signature}`, resolve, { now: NOW }),
      'badSignature',
    );
    const bits = Buffer.from(signature, 'base64url');
    bits[5] = bits[5]! ^ 1;
    await refusal(
      verifyReply(`${jws.split('.').slice(0, 2).join('.')}.${base64url.encode(bits)}`, resolve, { now: NOW }),
      'badSignature',
    );
  });

  it('HS256 (even with a kid of the tenant), RS256 and EdDSA: wrongAlgorithm', async () => {
    const claims = claimsOf(await signResult(result, contoso.signer, NOW));
    const hs = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: contoso.keyId, typ: RESULT_TYPE })
      .sign(new TextEncoder().encode('a shared secret of thirty-two bytes!'));
    await refusal(verifyReply(hs, resolve, { now: NOW }), 'wrongAlgorithm');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const rs = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: contoso.keyId, typ: RESULT_TYPE })
      .sign(rsa);
    await refusal(verifyReply(rs, resolve, { now: NOW }), 'wrongAlgorithm');
    const ed = generateKeyPairSync('ed25519').privateKey;
    const eddsa = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', kid: contoso.keyId, typ: RESULT_TYPE })
      .sign(ed);
    await refusal(verifyReply(eddsa, resolve, { now: NOW }), 'wrongAlgorithm');
  });

  it('alg none, or an ES256 header with no signature: unsigned', async () => {
    const claims = claimsOf(await signResult(result, contoso.signer, NOW));
    const none = new UnsecuredJWT(claims).encode();
    await refusal(verifyReply(none, resolve, { now: NOW }), 'unsigned');
    const jws = await signResult(result, contoso.signer, NOW);
    await refusal(verifyReply(`${jws.slice(0, jws.lastIndexOf('.'))}.`, resolve, { now: NOW }), 'unsigned');
  });

  it('a reply of contoso signed with fabrikam’s key and kid: wrongTenant', async () => {
    const claims = claimsOf(await signResult(result, contoso.signer, NOW));
    const jws = handmade(
      { alg: 'ES256', kid: fabrikam.keyId, typ: RESULT_TYPE },
      claims,
      fabrikam.privateKey,
    );
    const error = await refusal(verifyReply(jws, resolve, { now: NOW }), 'wrongTenant');
    assert.match(error.message, /contoso.*fabrikam/);
    const hb = claimsOf(await signHeartbeat(heartbeat, contoso.signer));
    const hbJws = handmade(
      { alg: 'ES256', kid: fabrikam.keyId, typ: HEARTBEAT_TYPE },
      hb,
      fabrikam.privateKey,
    );
    await refusal(verifyReply(hbJws, resolve, { now: NOW }), 'wrongTenant');
  });

  it('a kid that is missing, versionless, an encryption key or another key: wrongKey', async () => {
    const claims = claimsOf(await signResult(result, contoso.signer, NOW));
    const versionless = contoso.keyId.slice(0, contoso.keyId.lastIndexOf('/'));
    const kids = [
      undefined,
      versionless,
      generateEncryptionKey('contoso').keyId,
      contoso.keyId.replace('writeback-contoso-sig', 'other-key'),
      contoso.keyId.replace('https:', 'http:'),
      42,
    ];
    for (const kid of kids) {
      const jws = handmade({ alg: 'ES256', kid, typ: RESULT_TYPE }, claims, contoso.privateKey);
      await refusal(verifyReply(jws, resolve, { now: NOW }), 'wrongKey');
    }
  });

  it('a kid the resolver does not know: unknownKey, with the resolver’s error as cause', async () => {
    const unknown = generateSignatureKey('contoso');
    const jws = await signResult(result, unknown.signer, NOW);
    const error = await refusal(verifyReply(jws, resolve, { now: NOW }), 'unknownKey');
    assert.match((error.cause as Error).message, /KeyNotFound/);
  });

  it('malformed: not text, wrong shape, bad encoding, unknown typ, schema failures', async () => {
    for (const jws of [
      undefined,
      42,
      {},
      '',
      'a.b',
      'a.b.c.d',
      '!!!.e30.AAAA',
      `${base64url.encode('not json')}.e30.AAAA`,
    ]) {
      await refusal(verifyReply(jws, resolve, { now: NOW }), 'malformed');
    }
    const claims = claimsOf(await signResult(result, contoso.signer, NOW));
    const untyped = handmade({ alg: 'ES256', kid: contoso.keyId }, claims, contoso.privateKey);
    await refusal(verifyReply(untyped, resolve, { now: NOW }), 'malformed');
    const wrongTyp = handmade(
      { alg: 'ES256', kid: contoso.keyId, typ: HEARTBEAT_TYPE },
      claims,
      contoso.privateKey,
    );
    await refusal(verifyReply(wrongTyp, resolve, { now: NOW }), 'malformed');
    const bad = [
      { ...claims, outcome: 'Hacked' },
      { ...claims, outcome: 'succeeded' },
      { ...claims, reason: undefined },
      { ...claims, operationId: 'not-a-uuid' },
      { ...claims, tenantId: undefined },
      { ...claims, finishedAt: 'yesterday' },
      { ...claims, detail: 'x'.repeat(501) },
    ];
    for (const payload of bad) {
      const jws = handmade(
        { alg: 'ES256', kid: contoso.keyId, typ: RESULT_TYPE },
        payload,
        contoso.privateKey,
      );
      await refusal(verifyReply(jws, resolve, { now: NOW }), 'malformed');
    }
    const notJson = `${base64url.encode(JSON.stringify({ alg: 'ES256', kid: contoso.keyId, typ: RESULT_TYPE }))}.${base64url.encode('[1,2')}`;
    const signed = `${notJson}.${base64url.encode(sign('sha256', Buffer.from(notJson), { key: contoso.privateKey, dsaEncoding: 'ieee-p1363' }))}`;
    await refusal(verifyReply(signed, resolve, { now: NOW }), 'malformed');
  });

  it('a bytes reply (a Service Bus body) verifies like a string', async () => {
    const jws = await signResult(result, contoso.signer, NOW);
    const verified = await verifyReply(Buffer.from(jws), resolve, { now: NOW });
    assert.equal(verified.kind, 'result');
  });
});

describe('replies: freshness', () => {
  const minutes = (n: number) => new Date(NOW.getTime() + n * 60_000);

  it('a heartbeat is good for 11 minutes (2 × interval + 1 minute) plus 2 minutes of clock skew', async () => {
    const jws = await signHeartbeat(heartbeat, contoso.signer);
    await verifyReply(jws, resolve, { now: minutes(12) });
    await refusal(verifyReply(jws, resolve, { now: minutes(14) }), 'expired');
    const long = await signHeartbeat(heartbeat, contoso.signer, 3600);
    await verifyReply(long, resolve, { now: minutes(50) });
  });

  it('a result is good for 24 hours', async () => {
    const jws = await signResult(result, contoso.signer, NOW);
    await verifyReply(jws, resolve, { now: minutes(23 * 60) });
    await refusal(verifyReply(jws, resolve, { now: minutes(24 * 60 + 3) }), 'expired');
  });

  it('a reply issued in the future (beyond clock skew) is refused', async () => {
    const jws = await signHeartbeat({ ...heartbeat, now: minutes(10) }, contoso.signer);
    await refusal(verifyReply(jws, resolve, { now: NOW }), 'expired');
    await verifyReply(await signHeartbeat({ ...heartbeat, now: minutes(1) }, contoso.signer), resolve, {
      now: NOW,
    });
  });

  it('an old reply with a far expiry is refused after 24 hours anyway', async () => {
    const claims = {
      ...claimsOf(await signHeartbeat(heartbeat, contoso.signer)),
      exp: Math.floor(NOW.getTime() / 1000) + 7 * 86400,
    };
    const jws = handmade(
      { alg: 'ES256', kid: contoso.keyId, typ: HEARTBEAT_TYPE },
      claims,
      contoso.privateKey,
    );
    await verifyReply(jws, resolve, { now: minutes(60) });
    await refusal(verifyReply(jws, resolve, { now: minutes(25 * 60) }), 'expired');
  });

  it('replies without iat or exp, or with non-numeric ones, are malformed', async () => {
    const claims = claimsOf(await signHeartbeat(heartbeat, contoso.signer));
    for (const claim of ['iat', 'exp']) {
      for (const value of [undefined, 'soon']) {
        const jws = handmade(
          { alg: 'ES256', kid: contoso.keyId, typ: HEARTBEAT_TYPE },
          { ...claims, [claim]: value },
          contoso.privateKey,
        );
        const error = await refusal(verifyReply(jws, resolve, { now: NOW }), 'malformed');
        assert.match(error.message, new RegExp(claim));
      }
    }
  });
});

describe('replies: the agent cannot sign what the cloud would refuse', () => {
  it('a signer whose kid is another tenant’s key: wrongKey', async () => {
    await refusal(signResult(result, fabrikam.signer, NOW), 'wrongKey');
    await refusal(signHeartbeat(heartbeat, fabrikam.signer), 'wrongKey');
  });

  it('a reason without PasswordPolicy, PasswordPolicy without reason, a bad agent id: malformed', async () => {
    await refusal(signResult({ ...result, outcome: 'succeeded' }, contoso.signer, NOW), 'malformed');
    await refusal(signResult({ ...result, reason: undefined }, contoso.signer, NOW), 'malformed');
    await refusal(signHeartbeat({ ...heartbeat, agentId: 'has spaces' }, contoso.signer), 'malformed');
    await refusal(
      signHeartbeat({ ...heartbeat, policy: { ...heartbeat.policy, minLength: -1 } }, contoso.signer),
      'malformed',
    );
  });

  it('a signer that returns a DER signature: refused before anything is sent', async () => {
    const der = { kid: contoso.keyId, sign: async () => Buffer.alloc(71, 1) };
    await refusal(signResult(result, der, NOW), 'badSignature');
  });

  it('importSignatureKey refuses keys that are not EC P-256', () => {
    assert.throws(() => importSignatureKey({ ...contoso.publicJwk, crv: 'P-384' }), ReplyError);
    assert.throws(() => importSignatureKey({ kty: 'RSA' }), ReplyError);
  });
});
