import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  EnvelopeError,
  importEncryptionKey,
  openRequest,
  readRequestHeader,
  RequestExpiredError,
  sealRequest,
  type EnvelopeFailure,
  type RequestKeyVault,
  type RequestToSeal,
  type SealedRequest,
  type WritebackRequest,
} from '../../../shared/wire/index.js';
import { generateEncryptionKey, TestVault, VAULT_URL } from './keys.js';

const CANARY = 'Canary-Pässwörd-7f3a9c!';
const CANARY_CURRENT = 'Current-Canary-31e5d0';
const NOW = new Date('2026-11-22T04:00:00.000Z');
const EXPIRES = new Date('2026-11-22T04:05:00.123Z');

const contoso = generateEncryptionKey('contoso');
const contosoKey = importEncryptionKey(contoso.publicJwk);
const vault = new TestVault().add(contoso);

/** Every error a test provoked, to check none of them leaks a password. */
const provoked: unknown[] = [];

function toSeal(payload: WritebackRequest, header: Partial<RequestToSeal['header']> = {}): RequestToSeal {
  return {
    header: { tenantId: 'contoso', operationId: randomUUID(), expiresAt: EXPIRES, ...header },
    payload,
  };
}

const reset: WritebackRequest = {
  operation: 'reset',
  user: { kind: 'upn', value: 'alice@contoso.test' },
  newPassword: CANARY,
  flags: { forceChangeAtNextLogon: true },
};
const change: WritebackRequest = {
  operation: 'change',
  user: { kind: 'sid', value: 'S-1-5-21-3623811015-3361044348-30300820-1013' },
  currentPassword: CANARY_CURRENT,
  newPassword: CANARY,
};
const unlock: WritebackRequest = { operation: 'unlock', user: { kind: 'upn', value: 'bob@contoso.test' } };

async function refusal(
  promise: Promise<unknown> | (() => unknown),
  reasons: EnvelopeFailure | EnvelopeFailure[],
): Promise<EnvelopeError> {
  const expected = Array.isArray(reasons) ? reasons : [reasons];
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    provoked.push(error);
    assert.ok(error instanceof EnvelopeError, `expected an EnvelopeError, got ${String(error)}`);
    assert.ok(
      expected.includes(error.reason),
      `expected ${expected.join('|')}, got ${error.reason}: ${error.message}`,
    );
    return error;
  }
  assert.fail(`expected a refusal (${expected.join('|')})`);
}

function flip(body: Buffer, index: number, mask = 0x01): Buffer {
  const copy = Buffer.from(body);
  copy[index] = copy[index]! ^ mask;
  return copy;
}

/** Offsets of the regions of a version-1 body (see the layout in envelope.ts). */
function regions(sealed: SealedRequest) {
  const b = sealed.body;
  const tenantEnd = 2 + b[1]!;
  const operationIdEnd = tenantEnd + 16;
  const expiryEnd = operationIdEnd + 6;
  const headerEnd = expiryEnd + 16;
  const modulus = b.readUInt16BE(headerEnd);
  const ekStart = headerEnd + 2;
  const ivStart = ekStart + modulus;
  const ciphertextStart = ivStart + 12;
  const tagStart = b.length - 16;
  return {
    tenant: [2, tenantEnd],
    operationId: [tenantEnd, operationIdEnd],
    expiry: [operationIdEnd, expiryEnd],
    keyVersion: [expiryEnd, headerEnd],
    ek: [ekStart, ivStart],
    iv: [ivStart, ciphertextStart],
    ciphertext: [ciphertextStart, tagStart],
    tag: [tagStart, b.length],
    headerEnd,
    ciphertextStart,
    modulus,
  } as const;
}

describe('request envelope: round trips', () => {
  it('reset: header, flags, user and password come back exactly', async () => {
    const sealed = sealRequest(toSeal(reset), contosoKey);
    const opened = await openRequest(sealed, vault, NOW);
    assert.deepEqual(opened.header, sealed.header);
    assert.deepEqual(opened.header, {
      version: 1,
      tenantId: 'contoso',
      operationId: sealed.messageId,
      keyVersion: contoso.keyId.split('/').pop(),
      expiresAt: EXPIRES,
    });
    assert.deepEqual(opened.payload, { ...reset, flags: { forceChangeAtNextLogon: true, unlock: false } });
  });

  it('reset without flags, and with both flags', async () => {
    const plain = sealRequest(toSeal({ operation: 'reset', user: reset.user, newPassword: 'x' }), contosoKey);
    const both = sealRequest(
      toSeal({ ...reset, flags: { forceChangeAtNextLogon: true, unlock: true } }),
      contosoKey,
    );
    const [a, b] = await Promise.all([openRequest(plain, vault, NOW), openRequest(both, vault, NOW)]);
    assert.deepEqual(a.payload, {
      operation: 'reset',
      user: reset.user,
      newPassword: 'x',
      flags: { forceChangeAtNextLogon: false, unlock: false },
    });
    assert.deepEqual(b.payload.operation === 'reset' && b.payload.flags, {
      forceChangeAtNextLogon: true,
      unlock: true,
    });
  });

  it('change: both passwords, with a SID', async () => {
    const sealed = sealRequest(toSeal(change), contosoKey);
    const opened = await openRequest(sealed, vault, NOW);
    assert.deepEqual(opened.payload, change);
  });

  it('unlock: no password block, so no decrypt call', async () => {
    const local = new TestVault().add(contoso);
    const sealed = sealRequest(toSeal(unlock), contosoKey);
    const opened = await openRequest(sealed, local, NOW);
    assert.deepEqual(opened.payload, unlock);
    assert.deepEqual(
      local.calls.map((c) => c.operation),
      ['unwrapKey'],
    );
  });

  it('passwords are carried byte for byte: spaces, NUL, combining marks, emoji, 256 characters', async () => {
    const passwords = [
      ' leading and trailing ',
      'nul\u0000inside',
      'e\u0301 (not normalised) é',
      '🔑'.repeat(128),
      'a'.repeat(256),
      '€'.repeat(256),
      '\ud83d\ude00'.repeat(128),
    ];
    for (const password of passwords) {
      const sealed = sealRequest(
        toSeal({ operation: 'change', user: change.user, currentPassword: password, newPassword: password }),
        contosoKey,
      );
      const opened = await openRequest(sealed, vault, NOW);
      assert.ok(opened.payload.operation === 'change');
      assert.equal(opened.payload.currentPassword, password);
      assert.equal(opened.payload.newPassword, password);
    }
  });

  it('each seal uses a fresh key and IV: the same request never gives the same body', () => {
    const request = toSeal(reset);
    const a = sealRequest(request, contosoKey);
    const b = sealRequest(request, contosoKey);
    assert.notDeepEqual(a.body, b.body);
    const ra = regions(a);
    assert.deepEqual(a.body.subarray(0, ra.headerEnd), b.body.subarray(0, ra.headerEnd), 'same header');
  });

  it('works with RSA 3072 and 4096 keys too', async () => {
    for (const bits of [3072, 4096]) {
      const version = generateEncryptionKey('contoso', bits);
      const sealed = sealRequest(toSeal(change), importEncryptionKey(version.publicJwk));
      assert.equal(regions(sealed).modulus, bits / 8);
      const opened = await openRequest(sealed, new TestVault().add(version), NOW);
      assert.deepEqual(opened.payload, change);
    }
  });

  it('application properties mirror the header; messageId is the operation id; no password anywhere readable', () => {
    const sealed = sealRequest(toSeal(change), contosoKey);
    assert.deepEqual(sealed.applicationProperties, {
      envelopeVersion: 1,
      tenantId: 'contoso',
      keyVersion: sealed.header.keyVersion,
      expiresAt: EXPIRES,
    });
    assert.equal(sealed.messageId, sealed.header.operationId);
    const visible = JSON.stringify({ properties: sealed.applicationProperties, header: sealed.header });
    for (const secret of [CANARY, CANARY_CURRENT]) {
      assert.ok(!visible.includes(secret));
      assert.equal(sealed.body.indexOf(Buffer.from(secret, 'utf8')), -1);
      assert.equal(sealed.body.toString('latin1').includes(secret), false);
    }
    assert.ok(!visible.includes('S-1-5-21'), 'the user is personal data: body only, encrypted');
  });
});

describe('request envelope: key rollover', () => {
  it('a request sealed under an old version opens with that version while a newer one exists', async () => {
    const older = generateEncryptionKey('contoso');
    const newer = generateEncryptionKey('contoso');
    const rolled = new TestVault().add(older).add(newer);
    const oldSealed = sealRequest(toSeal(change), importEncryptionKey(older.publicJwk));
    const newSealed = sealRequest(toSeal(change), importEncryptionKey(newer.publicJwk));
    assert.deepEqual((await openRequest(oldSealed, rolled, NOW)).payload, change);
    assert.deepEqual((await openRequest(newSealed, rolled, NOW)).payload, change);
    assert.deepEqual(
      [...new Set(rolled.calls.map((c) => c.keyId))],
      [older.keyId, newer.keyId],
      'each request used exactly the version it names',
    );
  });

  it('a version no longer in the vault: unwrapFailed, with the vault error as cause', async () => {
    const gone = generateEncryptionKey('contoso');
    const sealed = sealRequest(toSeal(reset), importEncryptionKey(gone.publicJwk));
    const error = await refusal(openRequest(sealed, vault, NOW), 'unwrapFailed');
    assert.match(String((error.cause as Error).message), /KeyNotFound/);
  });

  it('key ids are built under the agent’s own vault, whatever vault sealed the request', async () => {
    const elsewhere = generateEncryptionKey('contoso', 2048, 'https://attacker.example');
    const local = new TestVault().add(elsewhere);
    const sealed = sealRequest(toSeal(unlock), importEncryptionKey(elsewhere.publicJwk));
    await refusal(openRequest(sealed, local, NOW), 'unwrapFailed');
    assert.ok(local.calls.every((c) => c.keyId.startsWith(`${VAULT_URL}/keys/writeback-contoso-enc/`)));
  });

  it('a decrypt failure of the password block is decryptFailed', async () => {
    const failing: RequestKeyVault = {
      vaultUrl: VAULT_URL,
      unwrapKey: (keyId, alg, wrapped) => vault.unwrapKey(keyId, alg, wrapped),
      decrypt: async () => {
        throw new Error('Forbidden: key disabled');
      },
    };
    const sealed = sealRequest(toSeal(reset), contosoKey);
    await refusal(openRequest(sealed, failing, NOW), 'decryptFailed');
  });

  it('an unwrap that returns a key of the wrong size is refused', async () => {
    const short: RequestKeyVault = {
      vaultUrl: VAULT_URL,
      unwrapKey: async () => Buffer.alloc(16),
      decrypt: (keyId, alg, value) => vault.decrypt(keyId, alg, value),
    };
    const sealed = sealRequest(toSeal(reset), contosoKey);
    await refusal(openRequest(sealed, short, NOW), 'unwrapFailed');
  });
});

describe('request envelope: expiry', () => {
  it('an expired request is RequestExpired with its operation id, and no password is decrypted', async () => {
    const local = new TestVault().add(contoso);
    const sealed = sealRequest(toSeal(change), contosoKey);
    for (const now of [EXPIRES, new Date(EXPIRES.getTime() + 1), new Date('2030-01-01T00:00:00Z')]) {
      try {
        await openRequest(sealed, local, now);
        assert.fail('expected RequestExpired');
      } catch (error) {
        provoked.push(error);
        assert.ok(error instanceof RequestExpiredError, String(error));
        assert.equal(error.operationId, sealed.header.operationId);
        assert.equal(error.tenantId, 'contoso');
        assert.deepEqual(error.expiresAt, EXPIRES);
      }
    }
    assert.ok(
      local.calls.every((c) => c.operation === 'unwrapKey'),
      'no decrypt of the password block',
    );
  });

  it('one millisecond before expiry it opens', async () => {
    const sealed = sealRequest(toSeal(reset), contosoKey);
    await openRequest(sealed, vault, new Date(EXPIRES.getTime() - 1));
  });

  it('a forged, later expiry is caught by the tag, not believed', async () => {
    const sealed = sealRequest(toSeal(reset), contosoKey);
    const r = regions(sealed);
    const forged = Buffer.from(sealed.body);
    forged.writeUIntBE(EXPIRES.getTime() + 3_600_000, r.expiry[0], 6);
    const properties = {
      ...sealed.applicationProperties,
      expiresAt: new Date(EXPIRES.getTime() + 3_600_000),
    };
    const message = { ...sealed, body: forged, applicationProperties: properties };
    await refusal(openRequest(message, vault, new Date(EXPIRES.getTime() + 60_000)), 'integrity');
  });
});

describe('request envelope: tampering', () => {
  const sealed = sealRequest(toSeal(change), contosoKey);
  const r = regions(sealed);

  it('the version byte: unsupportedVersion', async () => {
    for (const version of [0, 2, 0x41, 255]) {
      const body = Buffer.from(sealed.body);
      body[0] = version;
      await refusal(() => readRequestHeader({ ...sealed, body }), 'unsupportedVersion');
      await refusal(openRequest({ ...sealed, body }, vault, NOW), 'unsupportedVersion');
    }
  });

  it('any header byte with the properties left alone: headerMismatch or malformed', async () => {
    for (let i = 1; i < r.headerEnd; i++) {
      await refusal(openRequest({ ...sealed, body: flip(sealed.body, i) }, vault, NOW), [
        'headerMismatch',
        'malformed',
      ]);
    }
  });

  it('any header byte with the properties forged to match: refused by the parser, the vault or the tag', async () => {
    let forgeries = 0;
    for (let i = 1; i < r.headerEnd; i++) {
      for (const mask of [0x01, 0x20, 0x80]) {
        const body = flip(sealed.body, i, mask);
        let forged;
        try {
          forged = forgeMessage(body);
        } catch (error) {
          // The flip made the header unreadable (a length, a tenant id character): already refused.
          await refusal(Promise.reject(error), ['malformed', 'headerMismatch']);
          continue;
        }
        // operation id and expiry are only protected by the tag; a changed tenant or key version
        // also names a key the vault does not have.
        const tagOnly = i >= r.operationId[0] && i < r.expiry[1];
        forgeries++;
        await refusal(
          openRequest(forged, vault, NOW),
          tagOnly ? 'integrity' : ['unwrapFailed', 'integrity', 'malformed'],
        );
      }
    }
    // Every flip of the operation id, expiry and key version is a consistent forgery.
    assert.ok(forgeries >= (16 + 6 + 16) * 3, `only ${forgeries} forgeries reached openRequest`);
  });

  for (const region of ['ek', 'iv', 'ciphertext', 'tag'] as const) {
    it(`every byte of ${region}: refused`, async () => {
      const [start, end] = r[region];
      // ek is RSA: sample it (each refusal is a private-key operation); the rest, every byte.
      const step = region === 'ek' ? 17 : 1;
      for (let i = start; i < end; i += step) {
        await refusal(
          openRequest({ ...sealed, body: flip(sealed.body, i) }, vault, NOW),
          region === 'ek' ? 'unwrapFailed' : 'integrity',
        );
      }
    });
  }

  it('the password block inside the ciphertext: integrity (the GCM layer covers it)', async () => {
    // GCM is a stream cipher: the password block sits at the same offset in the ciphertext as
    // in the payload, after operation, flags, user kind and the length-prefixed user id.
    const userBytes = Buffer.byteLength(change.user.value, 'utf8');
    const blockStart = r.ciphertextStart + 3 + 2 + userBytes;
    for (const i of [blockStart, blockStart + 1, blockStart + 100, r.ciphertext[1] - 1]) {
      await refusal(openRequest({ ...sealed, body: flip(sealed.body, i) }, vault, NOW), 'integrity');
    }
  });

  it('a wrapped key length that is not an RSA modulus size: malformed', async () => {
    const body = Buffer.from(sealed.body);
    body.writeUInt16BE(255, r.headerEnd);
    await refusal(openRequest({ ...sealed, body }, vault, NOW), 'malformed');
  });

  it('a trailing byte: refused', async () => {
    await refusal(
      openRequest({ ...sealed, body: Buffer.concat([sealed.body, Buffer.of(0)]) }, vault, NOW),
      'integrity',
    );
  });
});

/** A message whose messageId and properties match whatever header `body` carries (an attacker's forgery). */
function forgeMessage(body: Buffer) {
  try {
    readRequestHeader({ body });
  } catch (error) {
    // An unreadable header throws its own refusal; a readable one only lacks its properties.
    if (!(error instanceof EnvelopeError) || error.reason !== 'headerMismatch') throw error;
  }
  const tenantLength = body[1]!;
  const tenantId = body.subarray(2, 2 + tenantLength).toString('latin1');
  const hex = body.subarray(2 + tenantLength, 18 + tenantLength).toString('hex');
  const messageId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  const expiresAt = new Date(body.readUIntBE(18 + tenantLength, 6));
  const keyVersion = body.subarray(24 + tenantLength, 40 + tenantLength).toString('hex');
  const message = {
    body,
    messageId,
    applicationProperties: { envelopeVersion: 1, tenantId, keyVersion, expiresAt },
  };
  readRequestHeader(message); // the forgery is consistent
  return message;
}

describe('request envelope: header and application properties', () => {
  const sealed = sealRequest(toSeal(reset), contosoKey);

  it('each property changed, missing or of the wrong type: headerMismatch naming it', async () => {
    const changes: Record<string, unknown>[] = [
      { envelopeVersion: 2 },
      { envelopeVersion: '1' },
      { tenantId: 'fabrikam' },
      { keyVersion: 'b'.repeat(32) },
      { keyVersion: sealed.header.keyVersion.toUpperCase() },
      { expiresAt: new Date(EXPIRES.getTime() + 1) },
      { expiresAt: EXPIRES.getTime() },
      { expiresAt: EXPIRES.toISOString() },
    ];
    for (const change of changes) {
      const properties = { ...sealed.applicationProperties, ...change };
      const error = await refusal(
        openRequest({ ...sealed, applicationProperties: properties }, vault, NOW),
        'headerMismatch',
      );
      assert.ok(error.message.includes(Object.keys(change)[0]!), error.message);
    }
    for (const name of Object.keys(sealed.applicationProperties)) {
      const properties: Record<string, unknown> = { ...sealed.applicationProperties };
      delete properties[name];
      await refusal(
        openRequest({ ...sealed, applicationProperties: properties }, vault, NOW),
        'headerMismatch',
      );
    }
    await refusal(
      openRequest({ body: sealed.body, messageId: sealed.messageId }, vault, NOW),
      'headerMismatch',
    );
    await refusal(openRequest({ ...sealed, applicationProperties: null }, vault, NOW), 'headerMismatch');
  });

  it('a messageId that is not the operation id: headerMismatch', async () => {
    for (const messageId of [
      randomUUID(),
      sealed.messageId.toUpperCase(),
      undefined,
      Buffer.from(sealed.messageId),
    ]) {
      const error = await refusal(openRequest({ ...sealed, messageId }, vault, NOW), 'headerMismatch');
      assert.match(error.message, /messageId/);
    }
  });

  it('other properties (e.g. tracing’s Diagnostic-Id) are ignored', async () => {
    const properties = { ...sealed.applicationProperties, 'Diagnostic-Id': '00-abc-def-01' };
    await openRequest({ ...sealed, applicationProperties: properties }, vault, NOW);
  });

  it('readRequestHeader gives the agent the tenant before any Key Vault call', () => {
    const local = new TestVault().add(contoso);
    const header = readRequestHeader(sealed);
    assert.deepEqual(header, sealed.header);
    assert.equal(local.calls.length, 0);
  });

  it('a request of another tenant: the header says so (the agent drops it), and its key would not fit', async () => {
    const fabrikam = generateEncryptionKey('fabrikam');
    const other = sealRequest(
      toSeal(reset, { tenantId: 'fabrikam' }),
      importEncryptionKey(fabrikam.publicJwk),
    );
    assert.equal(readRequestHeader(other).tenantId, 'fabrikam');
    const error = await refusal(openRequest(other, vault, NOW), 'unwrapFailed');
    assert.match(error.message, /writeback-fabrikam-enc/);
  });
});

describe('request envelope: strict parsing', () => {
  const bodies = [reset, change, unlock].map((payload) => sealRequest(toSeal(payload), contosoKey));

  it('every truncation of every kind of body is a typed error, never a crash or a hang', async () => {
    for (const sealed of bodies) {
      for (let length = 0; length < sealed.body.length; length++) {
        const body = sealed.body.subarray(0, length);
        await refusal(openRequest({ ...sealed, body }, vault, NOW), ['malformed', 'integrity']);
      }
    }
  });

  it('random garbage and non-binary bodies: typed errors', async () => {
    for (let i = 0; i < 300; i++) {
      const body = randomBytes(i % 7 === 0 ? i : (i * 13) % 900);
      await refusal(openRequest({ body }, vault, NOW), ['malformed', 'unsupportedVersion', 'headerMismatch']);
    }
    for (const body of [
      undefined,
      null,
      'text',
      42,
      { type: 'Buffer', data: [1] },
      Buffer.alloc(17 * 1024, 1),
    ]) {
      await refusal(openRequest({ body }, vault, NOW), 'malformed');
    }
  });
});

describe('sealRequest: input it cannot carry', () => {
  const cases: [string, RequestToSeal][] = [
    ['tenant id with bad characters', toSeal(reset, { tenantId: 'con_toso' })],
    ['upper-case tenant id', toSeal(reset, { tenantId: 'Contoso' })],
    ['operation id that is not a UUID', toSeal(reset, { operationId: 'op-1' })],
    ['upper-case UUID', toSeal(reset, { operationId: randomUUID().toUpperCase() })],
    ['invalid expiry', toSeal(reset, { expiresAt: new Date(Number.NaN) })],
    ['empty password', toSeal({ ...reset, newPassword: '' })],
    ['lone surrogate in a password', toSeal({ ...reset, newPassword: `${CANARY}\ud800` })],
    ['password over 1024 UTF-8 bytes', toSeal({ ...reset, newPassword: `${CANARY}${'€'.repeat(340)}` })],
    ['empty current password', toSeal({ ...change, currentPassword: '' })],
    ['bad SID', toSeal({ ...unlock, user: { kind: 'sid', value: 'S-1-x' } })],
    ['empty UPN', toSeal({ ...unlock, user: { kind: 'upn', value: '' } })],
    [
      'UPN over 1024 bytes',
      toSeal({ ...unlock, user: { kind: 'upn', value: `${'a'.repeat(1020)}@c.test` } }),
    ],
    ['unknown operation', toSeal({ ...unlock, operation: 'delete' } as unknown as WritebackRequest)],
  ];
  for (const [name, request] of cases) {
    it(`refuses ${name}`, async () => {
      const error = await refusal(() => sealRequest(request, contosoKey), 'invalidInput');
      assert.ok(!error.message.includes(CANARY));
    });
  }

  it('refuses a key of another tenant', async () => {
    const fabrikamKey = importEncryptionKey(generateEncryptionKey('fabrikam').publicJwk);
    await refusal(() => sealRequest(toSeal(reset), fabrikamKey), 'invalidInput');
  });
});

describe('importEncryptionKey', () => {
  it('accepts the SDK shape (bytes) and plain JSON (base64url)', () => {
    const fromJson = importEncryptionKey({
      kid: contoso.keyId,
      kty: 'RSA-HSM',
      n: Buffer.from(contoso.publicJwk.n as Uint8Array).toString('base64url'),
      e: Buffer.from(contoso.publicJwk.e as Uint8Array).toString('base64url'),
    });
    assert.equal(fromJson.keyId, contoso.keyId);
    assert.equal(fromJson.tenantId, 'contoso');
    assert.equal(fromJson.modulusBytes, 256);
    assert.equal(fromJson.version, contoso.keyId.split('/').pop());
  });

  it('refuses other key types, missing or versionless kids, other key names and weak keys', async () => {
    const jwk = contoso.publicJwk;
    const versionless = contoso.keyId.slice(0, contoso.keyId.lastIndexOf('/'));
    const bad = [
      { ...jwk, kty: 'EC' },
      { ...jwk, kid: undefined },
      { ...jwk, kid: versionless },
      { ...jwk, kid: contoso.keyId.replace('-enc/', '-sig/') },
      { ...jwk, kid: contoso.keyId.replace('https:', 'http:') },
      { ...jwk, kid: `${versionless}/v1` },
      { ...jwk, n: undefined },
      { ...jwk, n: Buffer.alloc(8, 1) },
      { ...generateEncryptionKey('contoso', 1024).publicJwk },
    ];
    for (const candidate of bad) await refusal(() => importEncryptionKey(candidate), 'invalidInput');
  });
});

describe('no password in any error', () => {
  it('none of the errors provoked above mentions a password', () => {
    assert.ok(provoked.length > 100, `only ${provoked.length} errors provoked`);
    for (const error of provoked) {
      const text = [
        error instanceof Error ? error.message : String(error),
        error instanceof Error ? (error.stack ?? '') : '',
        JSON.stringify(error),
        error instanceof Error && error.cause instanceof Error ? error.cause.message : '',
      ].join('\n');
      for (const secret of [CANARY, CANARY_CURRENT]) assert.ok(!text.includes(secret), text);
    }
  });
});
