/**
 * Every password route through the whole pipeline (the app in the local Functions host, Azurite, both
 * emulators, the identity provider and the real agent with an in-memory directory), driven over HTTP as
 * a portal would: the 200 answers, every outcome the agent can report mapped as docs/api.md says,
 * result correlation through GET …/operations/{id}, idempotent retries, and the audit trail.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { UserIdentifier } from '../../../shared/domain/index.js';
import { eventually } from '../../support/pipeline.js';
import {
  assertProblem,
  DEMO_USER_PASSWORD,
  everyEntity,
  partitionRows,
  receivedOperations,
  startOperationsPipeline,
  UUID,
  type OperationsPipeline,
} from './support.js';

const upnOf = (value: string): UserIdentifier => ({ kind: 'upn', value });
/** A password the demo policy takes; random, so that it never holds an account name (AD's complexity rule). */
const strong = () => `Pw-${randomUUID()}-Aa1!`;

describe('password operations through the real agent', () => {
  let o: OperationsPipeline;
  /** Every password sent in this file, to prove none of them was stored or logged. */
  const secrets: string[] = [];
  /** Operations whose audit row the last test checks: id → what it must say. */
  const audited = new Map<string, Record<string, unknown>>();

  const password = () => {
    const value = strong();
    secrets.push(value);
    return value;
  };

  /** Locks a user out as AD does: lockout threshold (5) bad logons. */
  const lockOut = (upn: string) => {
    for (let i = 0; i < 5; i++) o.directory.logOn(upnOf(upn), 'Wrong-Passw0rd!');
    assert.equal(o.directory.userState(upnOf(upn))?.lockedOut, true);
  };

  /** GET …/operations/{id} as `token`: 200 with the operation's final state. */
  const finalState = async (operationId: string, token: string) => {
    const got = await o.getOperation(operationId, token);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.operationId, operationId);
    assert.notEqual(got.body.status, 'pending', got.text);
    return got.body;
  };

  before(async () => {
    o = await startOperationsPipeline();
  });
  after(() => o?.stop());

  test('self-service reset: 200 { operationId, status, completedAt }; the new password logs on, the old one not', async () => {
    const upn = o.addUser('self-reset');
    const token = await o.userToken(upn);
    const newPassword = password();
    const answer = await o.post('me/password/reset', token, { newPassword });
    assert.equal(answer.status, 200, answer.text);
    assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    assert.deepEqual(Object.keys(answer.body).sort(), ['completedAt', 'operationId', 'status']);
    assert.match(String(answer.body.operationId), UUID);
    assert.equal(answer.body.status, 'succeeded');
    assert.ok(!Number.isNaN(Date.parse(String(answer.body.completedAt))), answer.text);
    assert.equal(o.directory.logOn(upnOf(upn), newPassword), 'ok');
    assert.equal(o.directory.logOn(upnOf(upn), DEMO_USER_PASSWORD), 'badPassword');

    const id = String(answer.body.operationId);
    const state = await finalState(id, token);
    assert.equal(state.kind, 'reset');
    assert.equal(state.status, 'succeeded');
    assert.equal(state.completedAt, answer.body.completedAt);
    assert.ok(Date.parse(String(state.createdAt)) <= Date.parse(String(state.completedAt)));
    assert.ok(Date.parse(String(state.expiresAt)) > Date.parse(String(state.createdAt)));
    assert.equal(state.error, undefined);
    audited.set(id, { action: 'PasswordReset', outcome: 'succeeded', target: `upn:${upn}`, actorUpn: upn });
  });

  test('a password reaches the directory exactly as typed: 256 code points, spaces kept, no normalisation', async () => {
    const admin = await o.adminToken();
    // 256 code points (509 UTF-16 units, 1,015 UTF-8 bytes): the longest password the API takes.
    const longest = `Aa1${'😀'.repeat(253)}`;
    assert.equal([...longest].length, 256);
    const emoji = o.addUser('longest-password');
    const answer = await o.post(`users/${emoji}/password/reset`, admin, { newPassword: longest });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(o.directory.logOn(upnOf(emoji), longest), 'ok');
    // A change carries two passwords: the largest request there is.
    const other = `Bb2${'😃'.repeat(253)}`;
    const changed = await o.post('me/password/change', await o.userToken(emoji), {
      currentPassword: longest,
      newPassword: other,
    });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(o.directory.logOn(upnOf(emoji), other), 'ok');

    // Decomposed é and surrounding spaces: AD must get these code points, not trimmed, not NFC.
    const spaced = ` Cafe\u0301-${randomUUID().slice(0, 6)}-Passw0rd! `;
    secrets.push(spaced);
    const upn = o.addUser('exact-password');
    const reset = await o.post('me/password/reset', await o.userToken(upn), { newPassword: spaced });
    assert.equal(reset.status, 200, reset.text);
    assert.equal(o.directory.logOn(upnOf(upn), spaced.trim()), 'badPassword');
    assert.equal(o.directory.logOn(upnOf(upn), spaced.normalize('NFC')), 'badPassword');
    assert.equal(o.directory.logOn(upnOf(upn), spaced), 'ok');
  });

  test('change: 200, then 422 PasswordPolicy (history, tooShort, complexity) and 422 CurrentPasswordIncorrect', async () => {
    const upn = o.addUser('changer');
    const token = await o.userToken(upn);
    const first = password();
    const changed = await o.post('me/password/change', token, {
      currentPassword: DEMO_USER_PASSWORD,
      newPassword: first,
    });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.body.status, 'succeeded');
    assert.equal(o.directory.logOn(upnOf(upn), first), 'ok');
    audited.set(String(changed.body.operationId), { action: 'PasswordChange', outcome: 'succeeded' });

    // The same password again: it is in the history (the current one counts).
    const again = await o.post('me/password/change', token, { currentPassword: first, newPassword: first });
    assertProblem(again, 422, 'PasswordPolicy', { operationId: true, reason: 'history' });
    const history = await finalState(String(again.body.operationId), token);
    assert.equal(history.status, 'failed');
    assert.deepEqual(
      { ...(history.error as Record<string, unknown>), title: undefined, detail: undefined },
      { code: 'PasswordPolicy', status: 422, reason: 'history', title: undefined, detail: undefined },
    );
    audited.set(String(again.body.operationId), {
      action: 'PasswordChange',
      outcome: 'failed',
      code: 'PasswordPolicy',
      reason: 'history',
    });

    const wrong = await o.post('me/password/change', token, {
      currentPassword: password(),
      newPassword: password(),
    });
    assertProblem(wrong, 422, 'CurrentPasswordIncorrect', { operationId: true });
    assert.equal((await finalState(String(wrong.body.operationId), token)).status, 'failed');
    assert.equal(o.directory.logOn(upnOf(upn), first), 'ok', 'nothing changed');

    // The directory's own rules, on another user (the change limit is per user).
    const other = o.addUser('changer-policy');
    const otherToken = await o.userToken(other);
    const short = await o.post('me/password/change', otherToken, {
      currentPassword: DEMO_USER_PASSWORD,
      newPassword: 'Sh0rt!',
    });
    assertProblem(short, 422, 'PasswordPolicy', { operationId: true, reason: 'tooShort' });
    const simple = await o.post('me/password/change', otherToken, {
      currentPassword: DEMO_USER_PASSWORD,
      newPassword: 'onlylowercaseletters',
    });
    assertProblem(simple, 422, 'PasswordPolicy', { operationId: true, reason: 'complexity' });
    // Reset goes through the same policy.
    const resetShort = await o.post('me/password/reset', otherToken, { newPassword: 'Sh0rt!' });
    assertProblem(resetShort, 422, 'PasswordPolicy', { operationId: true, reason: 'tooShort' });
    assert.equal(o.directory.logOn(upnOf(other), DEMO_USER_PASSWORD), 'ok', 'nothing changed');
  });

  test('a change on a locked-out account is 502 AgentFailure; me/unlock clears the lockout', async () => {
    const upn = o.addUser('locked-self');
    const token = await o.userToken(upn);
    lockOut(upn);
    const refused = await o.post('me/password/change', token, {
      currentPassword: DEMO_USER_PASSWORD,
      newPassword: password(),
    });
    assertProblem(refused, 502, 'AgentFailure', { operationId: true });
    const state = await finalState(String(refused.body.operationId), token);
    assert.equal((state.error as { code: string; status: number }).code, 'AgentFailure');
    assert.equal((state.error as { code: string; status: number }).status, 502);

    const unlocked = await o.post('me/unlock', token);
    assert.equal(unlocked.status, 200, unlocked.text);
    assert.deepEqual(Object.keys(unlocked.body).sort(), ['completedAt', 'operationId', 'status']);
    assert.equal(o.directory.userState(upnOf(upn))?.lockedOut, false);
    assert.equal((await finalState(String(unlocked.body.operationId), token)).kind, 'unlock');
    audited.set(String(unlocked.body.operationId), { action: 'AccountUnlock', outcome: 'succeeded' });
  });

  test('admin unlock, and admin reset with newPassword, forceChangeAtNextLogon and unlock', async () => {
    const admin = await o.adminToken();
    const locked = o.addUser('locked-by-admin');
    lockOut(locked);
    const unlocked = await o.post(`users/${locked}/unlock`, admin);
    assert.equal(unlocked.status, 200, unlocked.text);
    assert.equal(unlocked.body.status, 'succeeded');
    assert.equal(o.directory.userState(upnOf(locked))?.lockedOut, false);

    const upn = o.addUser('reset-by-admin');
    lockOut(upn);
    const newPassword = password();
    const reset = await o.post(`users/${upn}/password/reset`, admin, {
      newPassword,
      forceChangeAtNextLogon: true,
      unlock: true,
    });
    assert.equal(reset.status, 200, reset.text);
    assert.deepEqual(Object.keys(reset.body).sort(), ['completedAt', 'operationId', 'status']);
    const state = o.directory.userState(upnOf(upn));
    assert.equal(state?.lockedOut, false);
    assert.equal(state?.mustChangePassword, true);
    assert.equal(o.directory.logOn(upnOf(upn), newPassword), 'mustChange');
    audited.set(String(reset.body.operationId), {
      action: 'PasswordReset',
      outcome: 'succeeded',
      target: `upn:${upn}`,
      actorUpn: `admin@${o.tenantId}.test`,
      route: 'admin',
      flags: 'forceChangeAtNextLogon,unlock',
    });
  });

  test('admin reset without newPassword: a temporary password is returned once, and it logs on', async () => {
    const admin = await o.adminToken();
    const upn = o.addUser('temporary');
    const reset = await o.post(`users/${upn}/password/reset`, admin);
    assert.equal(reset.status, 200, reset.text);
    assert.deepEqual(Object.keys(reset.body).sort(), [
      'completedAt',
      'operationId',
      'status',
      'temporaryPassword',
    ]);
    const temporary = String(reset.body.temporaryPassword);
    secrets.push(temporary);
    assert.ok([...temporary].length >= 10, 'at least the policy minimum');
    assert.equal(o.directory.logOn(upnOf(upn), temporary), 'ok');
    const state = await finalState(String(reset.body.operationId), admin);
    assert.equal(state.temporaryPassword, undefined, 'only the reset answer shows it');
    assert.equal(JSON.stringify(state).includes(temporary), false);
    audited.set(String(reset.body.operationId), {
      action: 'PasswordReset',
      outcome: 'succeeded',
      flags: 'generatedPassword',
    });

    // With flags but no password in the body: generated too, and must be changed at next logon.
    const other = o.addUser('temporary-forced');
    const forced = await o.post(`users/${other}/password/reset`, admin, { forceChangeAtNextLogon: true });
    assert.equal(forced.status, 200, forced.text);
    secrets.push(String(forced.body.temporaryPassword));
    assert.equal(o.directory.logOn(upnOf(other), String(forced.body.temporaryPassword)), 'mustChange');
  });

  test('me/ routes act on the onprem_sid of the token when it has one, not on its upn', async () => {
    const upn = o.addUser('by-sid');
    const sid = o.directory.userState(upnOf(upn))!.sid;
    const bystander = o.addUser('bystander');
    const token = await o.userToken(bystander, { sid });
    const newPassword = password();
    const answer = await o.post('me/password/reset', token, { newPassword });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(o.directory.logOn(upnOf(upn), newPassword), 'ok');
    assert.equal(o.directory.logOn(upnOf(bystander), DEMO_USER_PASSWORD), 'ok', 'the upn is not used');
    const row = await o.p.cloud
      .table('operations')
      .getEntity<Record<string, unknown>>(o.tenantId, String(answer.body.operationId));
    assert.equal(row.userKind, 'sid');
    assert.equal(row.user, sid);
  });

  test('agent outcomes: UserNotFound 404, ProtectedAccount 403, AccountDisabled 403, each with its operationId', async () => {
    const admin = await o.adminToken();
    const cases: [string, string, number, string][] = [
      [
        'admin reset of an unknown user',
        `users/nobody@${o.tenantId}.test/password/reset`,
        404,
        'UserNotFound',
      ],
      ['admin unlock of an unknown user', `users/nobody@${o.tenantId}.test/unlock`, 404, 'UserNotFound'],
      [
        'admin reset of a protected account',
        `users/da@${o.tenantId}.test/password/reset`,
        403,
        'ProtectedAccount',
      ],
      ['admin unlock of a disabled account', `users/gone@${o.tenantId}.test/unlock`, 403, 'AccountDisabled'],
    ];
    for (const [what, path, status, code] of cases) {
      const answer = await o.post(
        path,
        admin,
        path.endsWith('reset') ? { newPassword: password() } : undefined,
      );
      assertProblem(answer, status, code, { operationId: true });
      const state = await finalState(String(answer.body.operationId), admin);
      assert.equal(state.status, 'failed', what);
      assert.equal((state.error as { code: string }).code, code, what);
      assert.equal((state.error as { status: number }).status, status, what);
    }
    // Self-service: a token whose upn the directory does not hold, and the protected and disabled users.
    const ghost = await o.post('me/password/reset', await o.userToken(`ghost@${o.tenantId}.test`), {
      newPassword: password(),
    });
    assertProblem(ghost, 404, 'UserNotFound', { operationId: true });
    audited.set(String(ghost.body.operationId), {
      action: 'PasswordReset',
      outcome: 'failed',
      code: 'UserNotFound',
      target: `upn:ghost@${o.tenantId}.test`,
    });
    const da = await o.post('me/password/change', await o.userToken(`da@${o.tenantId}.test`), {
      currentPassword: DEMO_USER_PASSWORD,
      newPassword: password(),
    });
    assertProblem(da, 403, 'ProtectedAccount', { operationId: true });
    const gone = await o.post('me/unlock', await o.userToken(`gone@${o.tenantId}.test`));
    assertProblem(gone, 403, 'AccountDisabled', { operationId: true });
    assert.equal(o.directory.logOn(upnOf(`da@${o.tenantId}.test`), DEMO_USER_PASSWORD), 'ok');
  });

  test('GET …/operations/{id}: the requester and admins read it; others 403; unknown 404', async () => {
    const upn = o.addUser('reader');
    const token = await o.userToken(upn);
    const answer = await o.post('me/unlock', token);
    assert.equal(answer.status, 200, answer.text);
    const id = String(answer.body.operationId);
    // A finished operation answers at once, whatever the wait.
    const waited = await o.getOperation(id, token, 60);
    assert.equal(waited.status, 200, waited.text);
    assert.equal(waited.body.status, 'succeeded');
    assert.equal(waited.headers.get('retry-after'), null);
    assert.equal((await o.getOperation(id, await o.adminToken())).body.status, 'succeeded');

    const other = await o.getOperation(id, await o.userToken(o.addUser('not-the-requester')));
    assertProblem(other, 403, 'Forbidden');
    assert.equal(other.text.includes(upn), false);
    const otherTenantAdmin = await o.p.token({
      tenant: 'fabrikam',
      user: 'admin@fabrikam.test',
      admin: true,
    });
    assertProblem(await o.getOperation(id, otherTenantAdmin), 403, 'Forbidden');
    // On another tenant's route the operation does not exist: each tenant's operations are its own.
    const elsewhere = await o.p.call('GET', `/tenants/fabrikam/operations/${id}`, {
      token: otherTenantAdmin,
    });
    assertProblem(elsewhere, 404, 'NotFound');
    assertProblem(await o.getOperation(randomUUID(), token), 404, 'NotFound');
  });

  test('idempotent retry: the same Idempotency-Key answers the first operation and sends nothing', async () => {
    const cloud = o.p.cloud;
    const upn = o.addUser('idempotent');
    const token = await o.userToken(upn);
    const key = randomUUID();
    const headers = { 'idempotency-key': key };
    const newPassword = password();
    const operationRows = async () =>
      (await partitionRows(cloud, 'operations', o.tenantId)).filter((row) => UUID.test(String(row.rowKey)));

    const first = await o.post('me/password/reset', token, { newPassword }, { headers });
    assert.equal(first.status, 200, first.text);
    const rowsAfterFirst = (await operationRows()).length;
    const logFrom = o.p.agentLogs().length;

    const again = await o.post('me/password/reset', token, { newPassword }, { headers });
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.body, first.body);
    // A retry with another password in the body is still the same request: the first outcome.
    const changedBody = await o.post('me/password/reset', token, { newPassword: password() }, { headers });
    assert.equal(changedBody.body.operationId, first.body.operationId);
    assert.equal(o.directory.logOn(upnOf(upn), newPassword), 'ok', 'applied once, with the first password');

    // The same key for another kind of request: 400, nothing sent.
    const misuse = await o.post('me/unlock', token, undefined, { headers });
    assertProblem(misuse, 400, 'InvalidRequest');

    // Another user's same key is theirs: a new operation.
    const bob = o.addUser('idempotent-other');
    const bobs = await o.post('me/unlock', await o.userToken(bob), undefined, { headers });
    assert.equal(bobs.status, 200, bobs.text);
    assert.notEqual(bobs.body.operationId, first.body.operationId);

    // A failed operation is replayed as its problem, with the same operationId.
    const failKey = { 'idempotency-key': randomUUID() };
    const failed = await o.post('me/password/reset', token, { newPassword: 'Sh0rt!' }, { headers: failKey });
    assertProblem(failed, 422, 'PasswordPolicy', { operationId: true, reason: 'tooShort' });
    const failedAgain = await o.post(
      'me/password/reset',
      token,
      { newPassword: 'Sh0rt!' },
      { headers: failKey },
    );
    assertProblem(failedAgain, 422, 'PasswordPolicy', { operationId: true, reason: 'tooShort' });
    assert.equal(failedAgain.body.operationId, failed.body.operationId);

    // The agent received exactly the two new operations (bob's and the failed one), nothing for the repeats.
    await eventually(
      async () => (receivedOperations(o.p, logFrom).length >= 2 ? true : undefined),
      10_000,
      'the agent received both',
    );
    assert.deepEqual(
      receivedOperations(o.p, logFrom).sort(),
      [bobs.body.operationId, failed.body.operationId].sort(),
    );
    assert.equal((await operationRows()).length, rowsAfterFirst + 2);
  });

  test('idempotent retry of a generated reset: the temporary password is not shown again', async () => {
    const admin = await o.adminToken();
    const upn = o.addUser('idempotent-temporary');
    const headers = { 'idempotency-key': `retry-${randomUUID()}` };
    const first = await o.post(`users/${upn}/password/reset`, admin, undefined, { headers });
    assert.equal(first.status, 200, first.text);
    secrets.push(String(first.body.temporaryPassword));
    const logFrom = o.p.agentLogs().length;
    const again = await o.post(`users/${upn}/password/reset`, admin, undefined, { headers });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.operationId, first.body.operationId);
    assert.equal(again.body.temporaryPassword, undefined);
    assert.equal(o.directory.logOn(upnOf(upn), String(first.body.temporaryPassword)), 'ok');
    // A key longer than 255 characters is refused.
    const long = await o.post(`users/${upn}/unlock`, admin, undefined, {
      headers: { 'idempotency-key': 'k'.repeat(256) },
    });
    assertProblem(long, 400, 'InvalidRequest');
    // Requests reach the agent in queue order: after this one, it has received nothing else.
    const barrier = await o.post(`users/${upn}/unlock`, admin);
    assert.equal(barrier.status, 200, barrier.text);
    assert.deepEqual(receivedOperations(o.p, logFrom), [barrier.body.operationId]);
  });

  test('concurrent retries with one Idempotency-Key: one operation; the others answer it or 503 with Retry-After', async () => {
    const upn = o.addUser('concurrent-retries');
    const token = await o.userToken(upn);
    const headers = { 'idempotency-key': randomUUID() };
    const logFrom = o.p.agentLogs().length;
    const answers = await Promise.all(
      [1, 2, 3, 4].map(() => o.post('me/unlock', token, undefined, { headers })),
    );
    const succeeded = answers.filter((a) => a.status === 200);
    assert.ok(succeeded.length >= 1, answers.map((a) => a.text).join('\n'));
    const operationId = succeeded[0]!.body.operationId;
    for (const answer of answers) {
      if (answer.status === 200) assert.equal(answer.body.operationId, operationId);
      // Still being accepted by the first: a transient 503 that says when to retry.
      else assertProblem(answer, 503, 'ServiceUnavailable', { retryAfter: true });
    }
    const later = await o.post('me/unlock', token, undefined, { headers });
    assert.equal(later.body.operationId, operationId);
    await eventually(
      async () => (receivedOperations(o.p, logFrom).length > 0 ? true : undefined),
      10_000,
      'received',
    );
    const barrier = await o.post('me/unlock', await o.userToken(o.addUser('after-concurrent')));
    assert.equal(barrier.status, 200, barrier.text);
    assert.deepEqual(receivedOperations(o.p, logFrom), [operationId, barrier.body.operationId]);
  });

  test('audit: each operation’s row holds requester, target, kind, outcome, reason and times; no password anywhere', async () => {
    // An accepted operation's own row is its audit record (docs/state.md); `audit` holds refusals.
    const kinds: Record<string, string> = {
      PasswordReset: 'reset',
      PasswordChange: 'change',
      AccountUnlock: 'unlock',
    };
    assert.equal(audited.size, 7);
    const auditRows = await partitionRows(o.p.cloud, 'audit', o.tenantId);
    for (const [operationId, expected] of audited) {
      const row = await o.p.cloud
        .table('operations')
        .getEntity<Record<string, unknown>>(o.tenantId, operationId);
      const seen: Record<string, unknown> = {
        action: Object.keys(kinds).find((action) => kinds[action] === row.kind),
        outcome: row.state,
        target: `${String(row.userKind)}:${String(row.user)}`,
        actorUpn: row.requesterUpn,
        route: row.requesterRoute,
        code: row.code,
        reason: row.reason,
        flags:
          ['forceChangeAtNextLogon', 'unlock', 'generatedPassword']
            .filter((flag) => row[flag] === true)
            .join(',') || undefined,
      };
      for (const [column, value] of Object.entries(expected))
        assert.equal(seen[column], value, `${column} of ${JSON.stringify(row)}`);
      assert.match(String(row.requesterObjectId), UUID);
      assert.ok(String(row.requesterUpn).endsWith(`@${o.tenantId}.test`));
      assert.match(String(seen.target), /^(upn|sid):/);
      assert.ok(['self', 'admin'].includes(String(row.requesterRoute)));
      const requestedAt = Date.parse(String(row.createdAt));
      const at = Date.parse(String(row.completedAt));
      assert.ok(requestedAt <= at, JSON.stringify(row));
      if (row.state === 'succeeded') assert.equal(row.code, undefined);
      if (row.code !== 'PasswordPolicy') assert.equal(row.reason, undefined);
      // Accepted operations are not repeated in `audit`.
      assert.equal(auditRows.filter((a) => a.operationId === operationId).length, 0);
    }

    // No password sent in this file, and no generated one, is in a table, the host's or the agent's log.
    const tables = JSON.stringify(await everyEntity(o.p.cloud));
    const hostOutput = o.p.cloud.host.output();
    const agentLog = o.p.agentLogs().join('');
    assert.ok(secrets.length >= 15);
    for (const secret of secrets) {
      assert.equal(tables.includes(secret), false, 'a password is in a table');
      assert.equal(hostOutput.includes(secret), false, "a password is in the host's output");
      assert.equal(agentLog.includes(secret), false, "a password is in the agent's log");
    }
  });
});
