/**
 * Requests the pipeline turns away, over HTTP against the whole pipeline with the real agent: invalid
 * input (400), tokens (401, 403), writeback not enabled (409) or no agent alive (503, for a heartbeat
 * that is absent, stale, or a graceful going-offline). Each refusal is checked to change nothing: no
 * row in `operations`, and nothing reaches the agent (a barrier operation sent afterwards is the only
 * request the agent receives) or waits on the tenant's queue.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { HttpAnswer } from '../../support/pipeline.js';
import { eventually } from '../../support/pipeline.js';
import {
  assertProblem,
  DEMO_USER_PASSWORD,
  partitionRows,
  peekQueue,
  refusedWithoutEffect,
  rejectedAuthorizations,
  ReplySender,
  startOperationsPipeline,
  vaultSigner,
  waitForState,
  type OperationsPipeline,
} from './support.js';

describe('refused requests change nothing', () => {
  let o: OperationsPipeline;
  let fabrikamSend: string;
  // The operations and their index and idempotency rows; the rate limits' counters (`limit-…`) share
  // the partition and move with every admitted attempt, the barrier's included.
  const rowKeys = async (partition: string) =>
    (await partitionRows(o.p.cloud, 'operations', partition))
      .map((row) => String(row.rowKey))
      .filter((key) => !key.startsWith('limit-'))
      .sort();

  before(async () => {
    o = await startOperationsPipeline();
    // A second tenant, enabled but with no agent ever started.
    const enabled = await o.p.call('PUT', '/tenants/fabrikam/writeback', {
      token: await o.p.token({ tenant: 'fabrikam', user: 'admin@fabrikam.test', admin: true }),
    });
    assert.equal(enabled.status, 201, enabled.text);
    fabrikamSend = (enabled.body.agentConnectionStrings as { send: string }).send;
  });
  after(() => o?.stop());

  test('400 InvalidRequest for malformed, incomplete, unknown, oversized and out-of-range input', async () => {
    const token = await o.userToken(`alice@${o.tenantId}.test`);
    const admin = await o.adminToken();
    const json = { 'content-type': 'application/json' };
    const invalid = async (what: string, answer: Promise<HttpAnswer>) => {
      const result = await answer;
      assertProblem(result, 400, 'InvalidRequest', { what });
      return { what, result };
    };
    await refusedWithoutEffect(o, async () => {
      const results = [
        await invalid(
          'malformed JSON',
          o.post('me/password/reset', token, undefined, { rawBody: '{"newPassword": "Abc', headers: json }),
        ),
        await invalid(
          'not JSON',
          o.post('me/password/reset', token, undefined, {
            rawBody: 'newPassword=Abcdefgh1!',
            headers: { 'content-type': 'text/plain' },
          }),
        ),
        await invalid(
          'JSON sent as text/plain by default',
          o.post('me/password/reset', token, undefined, { rawBody: '{"newPassword":"Valid-Passw0rd!"}' }),
        ),
        await invalid('no body', o.post('me/password/reset', token)),
        await invalid('a JSON array', o.post('me/password/reset', token, ['Valid-Passw0rd!'])),
        await invalid('missing newPassword', o.post('me/password/reset', token, {})),
        await invalid(
          'missing currentPassword',
          o.post('me/password/change', token, { newPassword: 'Valid-Passw0rd!' }),
        ),
        await invalid(
          'unknown field',
          o.post('me/password/reset', token, {
            newPassword: 'Valid-Passw0rd!',
            confirmPassword: 'Valid-Passw0rd!',
          }),
        ),
        await invalid(
          'unknown field on admin reset',
          o.post(`users/bob@${o.tenantId}.test/password/reset`, admin, {
            newPassword: 'Valid-Passw0rd!',
            expire: true,
          }),
        ),
        await invalid('empty password', o.post('me/password/reset', token, { newPassword: '' })),
        await invalid(
          'empty current password',
          o.post('me/password/change', token, { currentPassword: '', newPassword: 'Valid-Passw0rd!' }),
        ),
        await invalid(
          'password not a string',
          o.post('me/password/reset', token, { newPassword: 12345678901 }),
        ),
        await invalid('null password', o.post('me/password/reset', token, { newPassword: null })),
        await invalid(
          '257 characters',
          o.post('me/password/reset', token, { newPassword: `Aa1${'x'.repeat(254)}` }),
        ),
        await invalid(
          '257 code points',
          o.post('me/password/reset', token, { newPassword: `Aa1${'😀'.repeat(254)}` }),
        ),
        await invalid(
          'a lone surrogate',
          o.post('me/password/reset', token, undefined, {
            rawBody: '{"newPassword":"Valid-Passw0rd!\\ud800"}',
            headers: json,
          }),
        ),
        await invalid(
          'flag not a boolean',
          o.post(`users/bob@${o.tenantId}.test/password/reset`, admin, { forceChangeAtNextLogon: 'yes' }),
        ),
        await invalid(
          'oversized body',
          o.post('me/password/reset', token, { newPassword: 'Valid-Passw0rd!', padding: 'x'.repeat(20_000) }),
        ),
        await invalid(
          'bad upn',
          o.post('users/not-a-upn/password/reset', admin, { newPassword: 'Valid-Passw0rd!' }),
        ),
        await invalid('upn with two @', o.post(`users/a@b@${o.tenantId}.test/unlock`, admin)),
        await invalid('a body on unlock', o.post('me/unlock', token, { newPassword: 'Valid-Passw0rd!' })),
        await invalid(
          'malformed JSON on unlock',
          o.p.call('POST', `/tenants/${o.tenantId}/users/bob@${o.tenantId}.test/unlock`, {
            token: admin,
            rawBody: '{',
            headers: { 'content-type': 'application/json' },
          }),
        ),
        await invalid('upper-case tenant id', o.p.call('POST', `/tenants/Contoso/me/unlock`, { token })),
        await invalid(
          'Idempotency-Key too long',
          o.post('me/unlock', token, undefined, { headers: { 'idempotency-key': 'k'.repeat(256) } }),
        ),
      ];
      // Never an echo of a value: each issue names the field.
      for (const { what, result } of results)
        assert.doesNotMatch(result.text, /Valid-Passw0rd|Abcdefgh1/, what);
      const unknown = results.find((r) => r.what === 'unknown field')!.result;
      assert.match(JSON.stringify(unknown.body.errors), /confirmPassword/);
    });
    // The same limits, through a body without content-length (chunked): still 400.
    const chunks = new ReadableStream({
      start(controller) {
        controller.enqueue(
          new TextEncoder().encode(`{"newPassword":"Valid-Passw0rd!","padding":"${'x'.repeat(20_000)}"}`),
        );
        controller.close();
      },
    });
    const chunked = await fetch(`${o.p.cloud.api}/tenants/${o.tenantId}/me/password/reset`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: chunks,
      duplex: 'half',
    } as RequestInit);
    assert.equal(chunked.status, 400, await chunked.text());
  });

  test('400 InvalidRequest for a bad operation id or waitSeconds on GET …/operations/{id}', async () => {
    const token = await o.userToken(`alice@${o.tenantId}.test`);
    const get = (path: string) => o.p.call('GET', `/tenants/${o.tenantId}/operations/${path}`, { token });
    const id = randomUUID();
    for (const path of [
      'not-an-operation',
      id.toUpperCase(),
      `${id}x`,
      `${id}?waitSeconds=61`,
      `${id}?waitSeconds=-1`,
      `${id}?waitSeconds=1.5`,
      `${id}?waitSeconds=soon`,
    ]) {
      assertProblem(await get(path), 400, 'InvalidRequest');
    }
    assertProblem(await get(`${id}?waitSeconds=0`), 404, 'NotFound');
  });

  test('401 Unauthenticated: no, expired, not yet valid, wrong-audience or -issuer, forged, tampered or malformed token', async () => {
    const tokens = await rejectedAuthorizations(o.p);
    const routes: [string, unknown][] = [
      ['me/password/reset', { newPassword: 'Valid-Passw0rd!' }],
      ['me/password/change', { currentPassword: DEMO_USER_PASSWORD, newPassword: 'Valid-Passw0rd!' }],
      ['me/unlock', undefined],
      [`users/bob@${o.tenantId}.test/password/reset`, { newPassword: 'Valid-Passw0rd!' }],
      [`users/bob@${o.tenantId}.test/unlock`, undefined],
    ];
    await refusedWithoutEffect(o, async () => {
      for (const { what, authorization, detail } of tokens) {
        const headers: Record<string, string> = authorization ? { authorization } : {};
        for (const [route, body] of routes) {
          const answer = await o.p.call('POST', `/tenants/${o.tenantId}/${route}`, {
            headers,
            ...(body !== undefined ? { body } : {}),
          });
          assertProblem(answer, 401, 'Unauthenticated', { what: `${what} on ${route}` });
          assert.match(String(answer.body.detail), detail, `${what} on ${route}`);
        }
        const get = await o.p.call('GET', `/tenants/${o.tenantId}/operations/${randomUUID()}`, { headers });
        assertProblem(get, 401, 'Unauthenticated', { what: `${what} on GET` });
      }
    });
  });

  // Found by fuzzing (test/integration/api/fuzzed-requests.test.ts): these answered 500 InternalError.
  test('401 Unauthenticated on me/ routes: a token whose onprem_sid or upn cannot name an on-premises user', async () => {
    const claims = [
      { onPremisesSid: 'not-a-sid', upn: `alice@${o.tenantId}.test` },
      { onPremisesSid: `S-1-${'9'.repeat(16)}-1` },
      { upn: `${'a'.repeat(1100)}@${o.tenantId}.test` },
      { upn: `alice\udc00@${o.tenantId}.test` },
      { upn: 'alice' },
    ];
    await refusedWithoutEffect(o, async () => {
      for (const claim of claims) {
        const token = await o.p.cloud.identity.mintToken({ tenant: o.tenantId, oid: randomUUID(), ...claim });
        for (const [path, body] of [
          ['me/password/reset', { newPassword: 'Valid-Passw0rd!' }],
          ['me/unlock', undefined],
        ] as const) {
          const answer = await o.post(path, token, body);
          const what = `${JSON.stringify(claim).slice(0, 60)} on ${path}`;
          assertProblem(answer, 401, 'Unauthenticated', { what });
          assert.match(String(answer.body.detail), /onprem_sid|upn/, what);
        }
      }
    });
  });

  test('403 Forbidden: a token of another tenant, a non-admin on admin routes', async () => {
    const fabrikamUser = await o.p.token({ tenant: 'fabrikam', user: `alice@${o.tenantId}.test` });
    const fabrikamAdmin = await o.p.token({ tenant: 'fabrikam', user: 'admin@fabrikam.test', admin: true });
    const alice = await o.userToken(`alice@${o.tenantId}.test`);
    await refusedWithoutEffect(o, async () => {
      for (const token of [fabrikamUser, fabrikamAdmin]) {
        assertProblem(
          await o.post('me/password/reset', token, { newPassword: 'Valid-Passw0rd!' }),
          403,
          'Forbidden',
        );
        assertProblem(await o.post('me/unlock', token), 403, 'Forbidden');
        assertProblem(
          await o.post(`users/bob@${o.tenantId}.test/password/reset`, token, {
            newPassword: 'Valid-Passw0rd!',
          }),
          403,
          'Forbidden',
        );
        assertProblem(await o.post(`users/bob@${o.tenantId}.test/unlock`, token), 403, 'Forbidden');
      }
      assertProblem(
        await o.post(`users/bob@${o.tenantId}.test/password/reset`, alice, {
          newPassword: 'Valid-Passw0rd!',
        }),
        403,
        'Forbidden',
      );
      assertProblem(await o.post(`users/bob@${o.tenantId}.test/password/reset`, alice), 403, 'Forbidden');
      assertProblem(await o.post(`users/bob@${o.tenantId}.test/unlock`, alice), 403, 'Forbidden');
      // A role of another application's name is not the role.
      const lookalike = await o.p.cloud.identity.mintToken({
        tenant: o.tenantId,
        upn: `alice@${o.tenantId}.test`,
        roles: ['Writeback.Admins', 'writeback.admin'],
      });
      assertProblem(await o.post(`users/bob@${o.tenantId}.test/unlock`, lookalike), 403, 'Forbidden');
    });
  });

  test('409 WritebackDisabled for a tenant never enabled', async () => {
    const token = await o.p.token({ tenant: 'northwind', user: 'alice@northwind.test' });
    const admin = await o.p.token({ tenant: 'northwind', user: 'admin@northwind.test', admin: true });
    const northwind = (path: string, t: string, body?: unknown) =>
      o.p.call('POST', `/tenants/northwind/${path}`, { token: t, ...(body !== undefined ? { body } : {}) });
    assertProblem(
      await northwind('me/password/reset', token, { newPassword: 'Valid-Passw0rd!' }),
      409,
      'WritebackDisabled',
    );
    assertProblem(
      await northwind('me/password/change', token, {
        currentPassword: 'Old-Passw0rd!',
        newPassword: 'Valid-Passw0rd!',
      }),
      409,
      'WritebackDisabled',
    );
    assertProblem(await northwind('me/unlock', token), 409, 'WritebackDisabled');
    assertProblem(
      await northwind('users/bob@northwind.test/password/reset', admin),
      409,
      'WritebackDisabled',
    );
    assertProblem(await northwind('users/bob@northwind.test/unlock', admin), 409, 'WritebackDisabled');
    assert.deepEqual(await rowKeys('northwind'), []);
  });

  test('503 WritebackOffline with Retry-After: an enabled tenant whose agent never sent a heartbeat, or a stale one', async () => {
    const token = await o.p.token({ tenant: 'fabrikam', user: 'alice@fabrikam.test' });
    const admin = await o.p.token({ tenant: 'fabrikam', user: 'admin@fabrikam.test', admin: true });
    const absent = await o.p.call('POST', '/tenants/fabrikam/me/password/reset', {
      token,
      body: { newPassword: 'Valid-Passw0rd!' },
    });
    assertProblem(absent, 503, 'WritebackOffline', { retryAfter: true });
    assert.equal(absent.headers.get('retry-after'), '2', 'HEARTBEAT_INTERVAL is PT2S');

    // A heartbeat signed 70 s ago (older than 2 × 2 s + 1 min): the agent is stale, the tenant offline.
    const replies = new ReplySender(fabrikamSend, 'fabrikam');
    try {
      await replies.heartbeat(
        await vaultSigner(o.p.cloud, 'fabrikam'),
        'fabrikam-dc1',
        new Date(Date.now() - 70_000),
      );
    } finally {
      await replies.close();
    }
    const status = await eventually(
      async () => {
        const s = await o.p.call('GET', '/tenants/fabrikam/writeback/status', { token });
        return (s.body.agents as unknown[]).length > 0 ? s.body : undefined;
      },
      20_000,
      'the stale heartbeat recorded',
    );
    assert.equal(status.state, 'offline');
    assert.deepEqual(
      (status.agents as { agentId: string; state: string }[]).map((a) => [a.agentId, a.state]),
      [['fabrikam-dc1', 'stale']],
    );
    const stale = await o.p.call('POST', '/tenants/fabrikam/users/bob@fabrikam.test/unlock', {
      token: admin,
    });
    assertProblem(stale, 503, 'WritebackOffline', { retryAfter: true });

    assert.deepEqual(await rowKeys('fabrikam'), []);
    assert.deepEqual(await peekQueue(o.p.cloud, 'writeback-fabrikam'), []);
    // Refusals are audited as such, with no operation.
    const audit = await partitionRows(o.p.cloud, 'audit', 'fabrikam');
    const refused = audit.filter((row) => row.code === 'WritebackOffline');
    assert.equal(refused.length, 2, JSON.stringify(audit));
    for (const row of refused) {
      assert.equal(row.outcome, 'refused');
      assert.equal(row.operationId, undefined);
    }
  });

  test('503 WritebackOffline once the agent has gone offline; 409 WritebackDisabled after DELETE …/writeback', async () => {
    const token = await o.userToken(`bob@${o.tenantId}.test`);
    const admin = await o.adminToken();
    const key = { 'idempotency-key': randomUUID() };
    const before = await rowKeys(o.tenantId);
    await o.p.stopAgent();
    await waitForState(o.p, 'offline');
    const offline = await o.post(
      'me/password/reset',
      token,
      { newPassword: 'Valid-Passw0rd!' },
      { headers: key },
    );
    assertProblem(offline, 503, 'WritebackOffline', { retryAfter: true });
    assertProblem(await o.post(`users/bob@${o.tenantId}.test/unlock`, admin), 503, 'WritebackOffline', {
      retryAfter: true,
    });
    assert.deepEqual(await peekQueue(o.p.cloud, `writeback-${o.tenantId}`), []);
    assert.deepEqual(await rowKeys(o.tenantId), before);

    // The refused request did not use up its Idempotency-Key: once the agent is back, it is sent anew.
    await o.p.startAgent();
    await waitForState(o.p, 'online');
    const retried = await o.post(
      'me/password/reset',
      token,
      { newPassword: 'Valid-Passw0rd!' },
      { headers: key },
    );
    assert.equal(retried.status, 200, retried.text);
    // Its operation, and now its key.
    const afterRetry = await rowKeys(o.tenantId);
    assert.deepEqual(
      afterRetry
        .filter((key) => !before.includes(key))
        .map((key) => key.replace(/^idempotency-.*/, 'idempotency')),
      [String(retried.body.operationId), 'idempotency'],
    );

    await o.p.stopAgent();
    const disabled = await o.p.call('DELETE', `/tenants/${o.tenantId}/writeback`, { token: admin });
    assert.equal(disabled.status, 200, disabled.text);
    assertProblem(
      await o.post('me/password/reset', token, { newPassword: 'Valid-Passw0rd!' }),
      409,
      'WritebackDisabled',
    );
    assertProblem(
      await o.post('me/password/change', token, {
        currentPassword: DEMO_USER_PASSWORD,
        newPassword: 'Valid-Passw0rd!',
      }),
      409,
      'WritebackDisabled',
    );
    assertProblem(
      await o.post(`users/bob@${o.tenantId}.test/password/reset`, admin),
      409,
      'WritebackDisabled',
    );
    // A repeat of an accepted request is answered from its record, even now.
    const replayed = await o.post(
      'me/password/reset',
      token,
      { newPassword: 'Valid-Passw0rd!' },
      { headers: key },
    );
    assert.equal(replayed.status, 200, replayed.text);
    assert.equal(replayed.body.operationId, retried.body.operationId);
    assert.deepEqual(await rowKeys(o.tenantId), afterRetry);
    await waitForState(o.p, 'disabled');
  });
});
