/**
 * The asynchronous side of the pipeline, with WRITEBACK_SYNC_WAIT = PT0S (every password route answers
 * 202 at once) and WRITEBACK_MESSAGE_TTL = PT5S: following Location with ?waitSeconds, requests waiting
 * on the queue while no agent takes them (a scripted heartbeat keeps the tenant online), their size and
 * content, expiry, the result arriving on another host than the one holding the request, duplicate and
 * foreign results, and a canary password that must appear nowhere.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { ServiceBusReceivedMessage } from '@azure/service-bus';
import rhea from 'rhea';
import type { FunctionsHost } from '../../../local/functions-host/index.js';
import type { UserIdentifier } from '../../../shared/domain/index.js';
import { signResult, type ReplySigner } from '../../../shared/wire/index.js';
import { eventually, type HttpAnswer } from '../../support/pipeline.js';
import {
  receivedOperations,
  assertProblem,
  DEMO_USER_PASSWORD,
  everyEntity,
  partitionRows,
  peekQueue,
  ReplySender,
  startOperationsPipeline,
  UUID,
  vaultSigner,
  waitForState,
  type OperationsPipeline,
  delay,
} from './support.js';

const TTL_MS = 5_000;
const upnOf = (value: string): UserIdentifier => ({ kind: 'upn', value });

/** The AMQP message the Service Bus SDK sends for a request (the sections its toRheaMessage builds), encoded by rhea. */
function amqpBytes(message: ServiceBusReceivedMessage): number {
  const created = new Date();
  return rhea.message.encode({
    body: rhea.message.data_section(message.body as Buffer),
    message_annotations: {},
    ttl: message.timeToLive,
    creation_time: created,
    absolute_expiry_time: new Date(created.getTime() + (message.timeToLive ?? 0)),
    message_id: message.messageId as string,
    correlation_id: message.correlationId as string,
    application_properties: message.applicationProperties,
  }).length;
}

describe('pending operations, expiry, correlation across hosts, and secrets', () => {
  let o: OperationsPipeline;
  let secondHost: FunctionsHost | undefined;
  let contosoReplies: ReplySender;
  let fabrikamReplies: ReplySender;
  let contosoSigner: ReplySigner;
  let fabrikamSigner: ReplySigner;
  const canary = `Canary-${randomUUID()}-Aa1!`;
  /** A 64-character password holding the canary. */
  const canary64 = (tag: string) => `${canary}-${tag}`.padEnd(64, 'z');
  /** Generated temporary passwords: as secret as the canary. */
  const temporaryPasswords: string[] = [];
  /** Requests peeked on the queue, and every HTTP answer: checked for the canary at the end. */
  const peeked: ServiceBusReceivedMessage[] = [];
  const answers: HttpAnswer[] = [];

  const post = async (...args: Parameters<OperationsPipeline['post']>) => {
    const answer = await o.post(...args);
    answers.push(answer);
    return answer;
  };

  /** A 202 as docs/api.md says; returns the operation id. */
  const accepted = (answer: HttpAnswer, temporary = false): string => {
    assert.equal(answer.status, 202, answer.text);
    const id = String(answer.body.operationId);
    assert.match(id, UUID);
    assert.deepEqual(
      Object.keys(answer.body).sort(),
      temporary ? ['operationId', 'status', 'temporaryPassword'] : ['operationId', 'status'],
    );
    assert.equal(answer.body.status, 'pending');
    assert.equal(answer.headers.get('location'), `/api/tenants/${o.tenantId}/operations/${id}`);
    assert.equal(answer.headers.get('retry-after'), '2');
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    if (temporary) temporaryPasswords.push(String(answer.body.temporaryPassword));
    return id;
  };

  /** Follows a 202's Location with ?waitSeconds, as a portal would. */
  const follow = async (answer: HttpAnswer, token: string, api = o.p.cloud.host.url) => {
    const got = await o.p.call('GET', `${answer.headers.get('location')}?waitSeconds=20`, { token, api });
    answers.push(got);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.operationId, answer.body.operationId);
    return got.body;
  };

  /** Host output lines (of the first host unless told) that mention `operationId` and match `pattern`. */
  const hostLines = (operationId: string, pattern: RegExp, host: FunctionsHost = o.p.cloud.host) =>
    host
      .output()
      .split('\n')
      .filter((line) => line.includes(operationId) && pattern.test(line));

  /** Makes the tenant look online without an agent taking requests: the real agent stops, a scripted one beats. */
  const onlineWithoutAgent = async () => {
    await o.p.stopAgent();
    await contosoReplies.heartbeat(contosoSigner, 'scripted-responder', new Date());
    await eventually(
      async () => {
        const s = await o.p.call('GET', `/tenants/${o.tenantId}/writeback/status`, {
          token: await o.userToken(`alice@${o.tenantId}.test`),
        });
        const agents = s.body.agents as { agentId: string; state: string }[];
        const real = agents.find((a) => a.agentId !== 'scripted-responder');
        return s.body.state === 'online' && real?.state === 'offline' ? true : undefined;
      },
      20_000,
      'online through the scripted heartbeat only',
    );
  };

  before(async () => {
    o = await startOperationsPipeline({
      env: { WRITEBACK_SYNC_WAIT: 'PT0S', WRITEBACK_MESSAGE_TTL: 'PT5S' },
    });
    const enabled = await o.p.call('PUT', '/tenants/fabrikam/writeback', {
      token: await o.p.token({ tenant: 'fabrikam', user: 'admin@fabrikam.test', admin: true }),
    });
    assert.equal(enabled.status, 201, enabled.text);
    contosoReplies = new ReplySender(o.p.agentConnectionStrings.send, o.tenantId);
    fabrikamReplies = new ReplySender(
      (enabled.body.agentConnectionStrings as { send: string }).send,
      'fabrikam',
    );
    contosoSigner = await vaultSigner(o.p.cloud, o.tenantId);
    fabrikamSigner = await vaultSigner(o.p.cloud, 'fabrikam');
  });
  after(async () => {
    await contosoReplies?.close();
    await fabrikamReplies?.close();
    await o?.stop();
  });

  test('every password route answers 202 + Location + Retry-After; following it with waitSeconds gives the outcome', async () => {
    const admin = await o.adminToken();
    const [u1, u2, u3, u4, u5, u6, u7] = [
      'p-reset',
      'p-change',
      'p-wrong',
      'p-unlock',
      'p-admin',
      'p-temp',
      'p-admin-unlock',
    ].map((name) => o.addUser(name)) as [string, string, string, string, string, string, string];
    const t1 = await o.userToken(u1);
    const reset = await post('me/password/reset', t1, { newPassword: canary64('1') });
    accepted(reset);
    const done = await follow(reset, t1);
    assert.equal(done.status, 'succeeded');
    assert.ok(!Number.isNaN(Date.parse(String(done.completedAt))));
    assert.equal(o.directory.logOn(upnOf(u1), canary64('1')), 'ok');

    const t2 = await o.userToken(u2);
    const change = await post('me/password/change', t2, {
      currentPassword: DEMO_USER_PASSWORD,
      newPassword: canary64('2'),
    });
    accepted(change);
    assert.equal((await follow(change, t2)).status, 'succeeded');
    // The same password again: the history refuses it, and the GET carries the problem.
    const history = await post('me/password/change', t2, {
      currentPassword: canary64('2'),
      newPassword: canary64('2'),
    });
    accepted(history);
    const refused = await follow(history, t2);
    assert.equal(refused.status, 'failed');
    assert.equal(typeof refused.completedAt, 'string');
    const error = refused.error as Record<string, unknown>;
    assert.equal(error.code, 'PasswordPolicy');
    assert.equal(error.status, 422);
    assert.equal(error.reason, 'history');

    const t3 = await o.userToken(u3);
    const wrong = await post('me/password/change', t3, {
      currentPassword: canary,
      newPassword: canary64('3'),
    });
    accepted(wrong);
    const incorrect = await follow(wrong, t3);
    assert.deepEqual(
      [incorrect.status, (incorrect.error as { code: string }).code],
      ['failed', 'CurrentPasswordIncorrect'],
    );

    const t4 = await o.userToken(u4);
    const unlock = await post('me/unlock', t4);
    accepted(unlock);
    assert.equal((await follow(unlock, t4)).status, 'succeeded');

    const adminReset = await post(`users/${u5}/password/reset`, admin, {
      newPassword: canary64('4'),
      forceChangeAtNextLogon: true,
    });
    accepted(adminReset);
    assert.equal((await follow(adminReset, admin)).status, 'succeeded');
    assert.equal(o.directory.logOn(upnOf(u5), canary64('4')), 'mustChange');

    const generated = await post(`users/${u6}/password/reset`, admin);
    accepted(generated, true);
    assert.equal((await follow(generated, admin)).status, 'succeeded');
    assert.equal(o.directory.logOn(upnOf(u6), String(generated.body.temporaryPassword)), 'ok');

    const adminUnlock = await post(`users/${u7}/unlock`, admin);
    accepted(adminUnlock);
    const unlocked = await follow(adminUnlock, admin);
    assert.equal(unlocked.kind, 'unlock');
    assert.equal(unlocked.status, 'succeeded');
  });

  let waiting: { id: string; kind: string; answer: HttpAnswer; token: string }[] = [];
  const idempotencyKey = randomUUID();

  test('while no agent takes them, requests wait on the queue: under 1 KB, no password, no user in their properties', async (t) => {
    await onlineWithoutAgent();
    const admin = await o.adminToken();
    const [u8, u9, u10, u11, u12] = ['q-reset', 'q-change', 'q-unlock', 'q-admin', 'q-temp'].map((name) =>
      o.addUser(name),
    ) as [string, string, string, string, string];
    const t8 = await o.userToken(u8);
    const t9 = await o.userToken(u9);
    const t10 = await o.userToken(u10);
    // As a portal with distributed tracing sends them: the trace context travels in the message.
    const traced = {
      traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
    };
    const requests: [string, string, Promise<HttpAnswer>][] = [
      ['reset', t8, post('me/password/reset', t8, { newPassword: canary64('5') }, { headers: traced })],
      [
        'change',
        t9,
        post(
          'me/password/change',
          t9,
          { currentPassword: canary64('6'), newPassword: canary64('7') },
          { headers: traced },
        ),
      ],
      ['unlock', t10, post('me/unlock', t10, undefined, { headers: traced })],
      [
        'admin reset',
        admin,
        post(
          `users/${u11}/password/reset`,
          admin,
          { newPassword: canary64('8'), forceChangeAtNextLogon: true, unlock: true },
          { headers: { ...traced, 'idempotency-key': idempotencyKey } },
        ),
      ],
      ['generated reset', admin, post(`users/${u12}/password/reset`, admin, undefined, { headers: traced })],
    ];
    waiting = [];
    for (const [kind, token, request] of requests) {
      const answer = await request;
      waiting.push({ id: accepted(answer, kind === 'generated reset'), kind, answer, token });
    }

    const first = waiting[0]!;
    const pending = await o.getOperation(first.id, first.token, 0);
    assert.equal(pending.status, 200, pending.text);
    assert.equal(pending.body.status, 'pending');
    assert.equal(pending.headers.get('retry-after'), '2');
    assert.equal(pending.body.completedAt, undefined);
    assert.equal(pending.body.error, undefined);

    const messages = await peekQueue(o.p.cloud, `writeback-${o.tenantId}`);
    peeked.push(...messages);
    assert.deepEqual(messages.map((m) => m.messageId).sort(), waiting.map((w) => w.id).sort());
    for (const message of messages) {
      const { kind } = waiting.find((w) => w.id === message.messageId)!;
      assert.ok(Buffer.isBuffer(message.body), `${kind}: a binary body`);
      const body = message.body as Buffer;
      assert.equal(message.correlationId, message.messageId);
      assert.equal(message.timeToLive, TTL_MS);
      const properties = message.applicationProperties ?? {};
      // The header, for routing and logs (the operation id is the messageId), and the trace context: no personal data.
      assert.deepEqual(Object.keys(properties).sort(), [
        'envelopeVersion',
        'expiresAt',
        'keyVersion',
        'tenantId',
        'traceparent',
      ]);
      assert.equal(properties.traceparent, traced.traceparent);
      assert.equal(properties.tenantId, o.tenantId);
      const text = JSON.stringify(properties);
      assert.doesNotMatch(text, /@|Canary/i, `${kind}: no user and no password in the properties`);
      for (const secret of [canary, ...temporaryPasswords]) {
        for (const encoding of ['utf8', 'utf16le', 'latin1'] as const) {
          assert.equal(
            body.includes(Buffer.from(secret, encoding)),
            false,
            `${kind}: no password in the body`,
          );
        }
        assert.equal(body.toString('base64').includes(Buffer.from(secret).toString('base64')), false);
      }
      const propertyBytes = rhea.message.encode({ application_properties: properties }).length;
      const onTheWire = amqpBytes(message);
      t.diagnostic(
        `${kind}: body ${body.length} B + application properties ${propertyBytes} B = ${body.length + propertyBytes} B; AMQP message ${onTheWire} B`,
      );
      assert.ok(body.length + propertyBytes < 1024, `${kind}: ${body.length} + ${propertyBytes} bytes`);
      assert.ok(onTheWire < 1024, `${kind}: ${onTheWire} bytes as AMQP`);
    }
  });

  test('requests no agent took end WritebackExpired: on GET after expiry and grace, on an idempotent retry (504), and by the broker', async () => {
    const first = waiting[0]!;
    const { body } = await o.getOperation(first.id, first.token);
    // TTL 5 s, grace min(60 s, TTL) = 5 s: ended on read once both have passed.
    const waitSeconds = Math.ceil((Date.parse(String(body.expiresAt)) + TTL_MS - Date.now()) / 1000) + 1;
    assert.ok(waitSeconds <= 60);
    const expired = await o.getOperation(first.id, first.token, Math.max(waitSeconds, 0));
    assert.equal(expired.status, 200, expired.text);
    assert.equal(expired.body.status, 'expired');
    assert.equal(typeof expired.body.completedAt, 'string');
    const error = expired.body.error as Record<string, unknown>;
    assert.equal(error.code, 'WritebackExpired');
    assert.equal(error.status, 504);

    // The admin reset, asked again with its Idempotency-Key once its own expiry and grace have passed
    // (it was sent after the first request): its outcome, 504 WritebackExpired.
    const adminReset = waiting.find((w) => w.kind === 'admin reset')!;
    const adminState = await o.getOperation(adminReset.id, adminReset.token);
    await delay(Math.max(0, Date.parse(String(adminState.body.expiresAt)) + TTL_MS - Date.now() + 500));
    const retry = await post(
      `users/q-admin@${o.tenantId}.test/password/reset`,
      adminReset.token,
      { newPassword: canary64('8'), forceChangeAtNextLogon: true, unlock: true },
      { headers: { 'idempotency-key': idempotencyKey } },
    );
    assertProblem(retry, 504, 'WritebackExpired', { operationId: true });
    assert.equal(retry.body.operationId, adminReset.id);

    // The broker dropped the expired requests (the emulator, like Service Bus, never delivers a message
    // past its time-to-live): the agent, back, receives none of them and applies nothing. A barrier
    // operation sent after it started is the only request it gets.
    const logFrom = o.p.agentLogs().length;
    await o.p.startAgent();
    await waitForState(o.p, 'online');
    const barrierToken = await o.userToken(o.addUser('after-expiry'));
    const barrier = await post('me/unlock', barrierToken);
    accepted(barrier);
    assert.equal((await follow(barrier, barrierToken)).status, 'succeeded');
    assert.deepEqual(receivedOperations(o.p, logFrom), [barrier.body.operationId]);
    assert.deepEqual(await peekQueue(o.p.cloud, `writeback-${o.tenantId}`), []);
    // Each ends expired when read (the expiry timer, every minute, would end them too).
    for (const w of waiting) {
      const state = await o.getOperation(w.id, w.token);
      assert.equal(state.body.status, 'expired', state.text);
      assert.equal((state.body.error as { code: string }).code, 'WritebackExpired');
    }
    assert.equal(o.directory.logOn(upnOf(`q-reset@${o.tenantId}.test`), DEMO_USER_PASSWORD), 'ok');
    assert.equal(o.directory.userState(upnOf(`q-admin@${o.tenantId}.test`))?.mustChangePassword, false);
    // Ended once each, whoever noticed first: the row (the operation's audit record) says so, and no
    // pending index row is left.
    const rows = await partitionRows(o.p.cloud, 'operations', o.tenantId);
    for (const w of waiting) {
      const row = rows.find((r) => r.rowKey === w.id);
      assert.equal(row?.state, 'expired', JSON.stringify(row));
      assert.equal(row?.code, 'WritebackExpired');
      assert.equal(
        rows.filter((r) => String(r.rowKey).startsWith('pending-') && r.operationId === w.id).length,
        0,
      );
    }
  });

  test('the result arrives on the other of two hosts: a host without the replies function still answers 200', async () => {
    secondHost = await o.p.startSecondHost({
      'AzureWebJobs.replies.Disabled': 'true',
      WRITEBACK_SYNC_WAIT: 'PT25S',
    });
    const second = `${secondHost.url}/api`;
    await waitForState(o.p, 'online');
    const upn = o.addUser('two-hosts');
    const token = await o.userToken(upn);
    const newPassword = canary64('9');
    const answer = await post('me/password/reset', token, { newPassword }, { api: second });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.status, 'succeeded');
    const id = String(answer.body.operationId);
    assert.equal(o.directory.logOn(upnOf(upn), newPassword), 'ok');
    assert.equal(hostLines(id, /Result recorded/).length, 1, 'the first host recorded the result');
    assert.equal(hostLines(id, /Result recorded/, secondHost).length, 0);
    assert.doesNotMatch(secondHost.output(), /Result recorded|Heartbeat recorded/);

    // And the other way round: accepted by the first host (202), followed on the second.
    const unlock = await post('me/unlock', token);
    accepted(unlock);
    const followed = await follow(unlock, token, secondHost.url);
    assert.equal(followed.status, 'succeeded');
  });

  test("a duplicate or late result keeps the first outcome; another tenant's result changes nothing", async () => {
    await onlineWithoutAgent();
    const admin = await o.adminToken();
    const answer = await post(`users/${o.addUser('duplicates')}/unlock`, admin);
    const id = accepted(answer);

    // fabrikam's agent, genuinely signed, names contoso's operation: fabrikam has no such operation.
    await fabrikamReplies.result(fabrikamSigner, {
      tenantId: 'fabrikam',
      operationId: id,
      outcome: 'AgentFailure',
      finishedAt: new Date(),
    });
    await eventually(
      async () => (hostLines(id, /Reply dropped \(unknownOperation\)/).length > 0 ? true : undefined),
      20_000,
      "fabrikam's result dropped",
    );
    assert.equal((await o.getOperation(id, admin)).body.status, 'pending');

    const finishedAt = new Date(Date.now() - 1_000);
    const result = await signResult(
      { tenantId: o.tenantId, operationId: id, outcome: 'succeeded', finishedAt },
      contosoSigner,
    );
    await contosoReplies.send(result, 'result');
    await eventually(
      async () => (hostLines(id, /Result recorded: .*outcome succeeded/).length === 1 ? true : undefined),
      20_000,
      'the result recorded',
    );
    // The same result again, and another outcome for the same operation: both ignored.
    await contosoReplies.send(result, 'result');
    await contosoReplies.result(contosoSigner, {
      tenantId: o.tenantId,
      operationId: id,
      outcome: 'PasswordPolicy',
      reason: 'history',
      finishedAt: new Date(),
    });
    await eventually(
      async () => (hostLines(id, /Result ignored/).length === 2 ? true : undefined),
      20_000,
      'both later results ignored',
    );
    const state = await o.getOperation(id, admin);
    assert.equal(state.body.status, 'succeeded');
    assert.equal(state.body.completedAt, finishedAt.toISOString());
    assert.equal(state.body.error, undefined);

    assert.equal(hostLines(id, /Result recorded/).length, 1);

    const row = (await partitionRows(o.p.cloud, 'operations', o.tenantId)).find((r) => r.rowKey === id);
    assert.equal(row?.state, 'succeeded', JSON.stringify(row));
  });

  test('a canary password appears in no log, table, queue property or answer', async () => {
    const token = await o.userToken(o.addUser('canary'));
    const json = { 'content-type': 'application/json' };
    // Refused input that carries it, too.
    const refusals = [
      await post('me/password/reset', token, undefined, {
        rawBody: `{"newPassword": "${canary}`,
        headers: json,
      }),
      await post('me/password/reset', token, { newPassword: canary, confirmPassword: canary }),
      await post('me/password/reset', token, { newPassword: canary.padEnd(257, 'x') }),
      await post('me/password/reset', token, { newPassword: [canary] }),
      await post('me/password/change', token, { currentPassword: canary }),
      await post('users/not-a-upn/password/reset', await o.adminToken(), { newPassword: canary }),
    ];
    for (const refusal of refusals) assertProblem(refusal, 400, 'InvalidRequest');

    const secrets = [canary, ...temporaryPasswords];
    assert.ok(temporaryPasswords.length >= 2);
    const places: [string, string][] = [
      ['the first host output', o.p.cloud.host.output()],
      ['the second host output', secondHost?.output() ?? ''],
      ["the agent's log", o.p.agentLogs().join('')],
      ['the tables', JSON.stringify(await everyEntity(o.p.cloud))],
      ['the request properties', JSON.stringify(peeked.map((m) => m.applicationProperties))],
      ['the request bodies', peeked.map((m) => (m.body as Buffer).toString('latin1')).join('')],
    ];
    assert.ok(secondHost && peeked.length >= 5);
    for (const [place, text] of places) {
      assert.ok(text.length > 0, `${place} is empty`);
      for (const secret of secrets) assert.equal(text.includes(secret), false, `a password is in ${place}`);
    }
    // Answers: only a generated password, in the answer that generated it.
    for (const answer of answers) assert.equal(answer.text.includes(canary), false, answer.text);
    assert.ok(answers.length > 20);
    // The agent's log names no user either.
    assert.doesNotMatch(o.p.agentLogs().join(''), /@contoso\.test/);
  });

  test('after disable and enable again, no agent of the old enablement makes the tenant online', async () => {
    // The scripted agent of the enablement being replaced beat a moment ago (test above).
    const admin = await o.adminToken();
    const disabled = await o.p.call('DELETE', `/tenants/${o.tenantId}/writeback`, { token: admin });
    assert.equal(disabled.status, 200, disabled.text);
    const enabled = await o.p.call('PUT', `/tenants/${o.tenantId}/writeback`, { token: admin });
    assert.equal(enabled.status, 201, enabled.text);
    const token = await o.userToken(`alice@${o.tenantId}.test`);
    const status = await o.p.call('GET', `/tenants/${o.tenantId}/writeback/status`, { token });
    assert.equal(status.body.state, 'offline', status.text);
    const refused = await post('me/unlock', token);
    assertProblem(refused, 503, 'WritebackOffline', { retryAfter: true });
  });
});
