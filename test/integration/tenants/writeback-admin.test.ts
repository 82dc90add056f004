/**
 * `PUT | GET | DELETE /api/tenants/{tenantId}/writeback` end to end: the real app in the local host,
 * provisioning against the Service Bus emulator, the Key Vault emulator and Azurite, checked through
 * the official SDKs, and the agent's connection strings used as an agent would use them.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { isServiceBusError, ServiceBusClient, type ServiceBusError } from '@azure/service-bus';
import type { FunctionsHost } from '../../../local/functions-host/index.js';
import { DEV_IDENTITIES } from '../../../local/stack/identities.js';
import { ProblemError } from '../../../shared/errors/index.js';
import { newSasKey, WritebackTenants } from '../../../shared/tenants/index.js';
import { REQUEST_SESSION_ID } from '../../../shared/wire/index.js';
import { startAppHost } from '../../support/app.js';
import { startCloud, type CloudUnderTest } from '../../support/cloud.js';

const ADMIN = 'Writeback.Admin';

let cloud: CloudUnderTest;
const clients: ServiceBusClient[] = [];

before(async () => {
  // The test reads writeback-replies itself: the app's replies function would take its messages first.
  cloud = await startCloud({
    env: { WRITEBACK_MESSAGE_TTL: 'PT2M', 'AzureWebJobs.replies.Disabled': 'true' },
  });
});
after(async () => {
  await closeClients();
  await cloud?.stop();
});

async function closeClients(): Promise<void> {
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
}

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

interface Enabled {
  tenantId: string;
  state: string;
  serviceBusEndpoint: string;
  requestQueue: string;
  repliesQueue: string;
  agentListenRule: string;
  agentSendRule: string;
  encryptionKeyId: string;
  signatureKeyId: string;
  enabledAt: string;
  enabledBy: { objectId: string; upn?: string };
  disabledAt?: string;
  disabledBy?: { objectId: string; upn?: string };
  updatedAt: string;
  agentConnectionStrings?: { listen: string; send: string };
}

async function call(
  method: 'PUT' | 'GET' | 'DELETE',
  tenant: string,
  token?: string,
  api = cloud.api,
): Promise<Answer> {
  const response = await fetch(`${api}/tenants/${tenant}/writeback`, {
    method,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

function token(tenant: string, roles: string[] = [ADMIN], upn = `admin@${tenant}.test`): Promise<string> {
  return cloud.identity.mintToken({ tenant, upn, roles });
}

function assertProblem(answer: Answer, status: number, code: string, detail?: RegExp): void {
  assert.equal(answer.status, status, answer.text);
  assert.equal(answer.headers.get('content-type'), 'application/problem+json');
  assert.equal(answer.body.code, code);
  if (detail) assert.match(String(answer.body.detail), detail);
}

function busClient(connectionString: string): ServiceBusClient {
  // Fail fast: the SDK's default retries turn an expected refusal into a minute-long wait.
  const client = new ServiceBusClient(connectionString, {
    retryOptions: { maxRetries: 0, timeoutInMs: 10_000 },
  });
  clients.push(client);
  return client;
}

const rootBus = (): ServiceBusClient => busClient(cloud.serviceBus.connectionString);

function refused(error: unknown): boolean {
  assert.ok(isServiceBusError(error), `expected a ServiceBusError, got ${String(error)}`);
  assert.ok(
    (['UnauthorizedAccess', 'MessagingEntityNotFound'] as ServiceBusError['code'][]).includes(error.code),
    `unexpected code ${error.code}`,
  );
  return true;
}

/** A request queue is a session queue: the cloud sends into its one request session. */
const isRequestQueue = (queue: string) => !queue.endsWith('-replies') && queue !== 'writeback-replies';

async function sendRequest(queue: string, body: string): Promise<void> {
  await rootBus().createSender(queue).sendMessages({ body, sessionId: REQUEST_SESSION_ID });
}

/** What an agent does to receive: it accepts the request session (a plain receiver elsewhere). */
function listenOn(client: ServiceBusClient, queue: string) {
  return client.acceptSession(queue, REQUEST_SESSION_ID, { receiveMode: 'receiveAndDelete' });
}

async function receiveOne(client: ServiceBusClient, queue: string): Promise<unknown> {
  const receiver = isRequestQueue(queue)
    ? await listenOn(client, queue)
    : client.createReceiver(queue, { receiveMode: 'receiveAndDelete' });
  try {
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 3_000 });
    return message?.body;
  } finally {
    await receiver.close();
  }
}

/** Every value of every row of `table` for `tenant`, as one string (to look for secrets). */
async function rowsOf(table: string, tenant: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  const client = cloud.table(table);
  for await (const entity of client.listEntities({
    queryOptions: { filter: `PartitionKey eq '${tenant}'` },
  })) {
    rows.push(entity as Record<string, unknown>);
  }
  return rows;
}

function sasKeyOf(connectionString: string): string {
  const key = /SharedAccessKey=([^;]+)/.exec(connectionString)?.[1];
  assert.ok(key);
  return key;
}

describe('writeback enablement of a tenant', () => {
  let first: Enabled;
  afterEach(closeClients);

  test('PUT as admin enables writeback: 201 with what the agent needs, once', async () => {
    const answer = await call('PUT', 'contoso', await token('contoso'));
    assert.equal(answer.status, 201, answer.text);
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    assert.equal(answer.headers.get('location'), '/api/tenants/contoso/writeback');
    first = answer.body as unknown as Enabled;
    assert.equal(first.tenantId, 'contoso');
    assert.equal(first.state, 'enabled');
    assert.equal(first.requestQueue, 'writeback-contoso');
    assert.equal(first.repliesQueue, 'writeback-contoso-replies');
    assert.equal(first.serviceBusEndpoint, `sb://127.0.0.1:${cloud.serviceBus.amqpPort}/`);
    assert.match(
      first.encryptionKeyId,
      new RegExp(`^${cloud.keyVault.vaultUri}/keys/writeback-contoso-enc/\\w+$`),
    );
    assert.match(
      first.signatureKeyId,
      new RegExp(`^${cloud.keyVault.vaultUri}/keys/writeback-contoso-sig/\\w+$`),
    );
    assert.equal(first.enabledBy.upn, 'admin@contoso.test');
    assert.ok(first.agentConnectionStrings);
    const { listen, send } = first.agentConnectionStrings;
    assert.match(
      listen,
      /SharedAccessKeyName=writeback-agent-listen;SharedAccessKey=[^;]{20,};EntityPath=writeback-contoso;/,
    );
    assert.match(
      send,
      /SharedAccessKeyName=writeback-agent-send;SharedAccessKey=[^;]{20,};EntityPath=writeback-contoso-replies;/,
    );
  });

  test('the queues, the rules (exactly Listen / Send) and the keys exist', async () => {
    const admin = cloud.serviceBusAdmin;
    const requests = await admin.getQueue('writeback-contoso');
    assert.equal(requests.defaultMessageTimeToLive, 'PT2M'); // WRITEBACK_MESSAGE_TTL
    assert.equal(requests.lockDuration, 'PT1M');
    assert.equal(requests.maxDeliveryCount, 5);
    assert.equal(requests.deadLetteringOnMessageExpiration, false);
    assert.equal(requests.requiresSession, true, 'agents compete for its one session');
    assert.equal(requests.forwardTo, undefined);
    assert.deepEqual(
      requests.authorizationRules?.map((r) => [r.keyName, r.accessRights]),
      [['writeback-agent-listen', ['Listen']]],
    );
    assert.equal(
      requests.authorizationRules?.[0]?.primaryKey,
      sasKeyOf(first.agentConnectionStrings!.listen),
    );

    const replies = await admin.getQueue('writeback-contoso-replies');
    assert.match(replies.forwardTo ?? '', /\/?writeback-replies$/);
    assert.deepEqual(
      replies.authorizationRules?.map((r) => [r.keyName, r.accessRights]),
      [['writeback-agent-send', ['Send']]],
    );
    assert.equal(await admin.queueExists('writeback-replies'), true);

    const keys = cloud.keyClient();
    const enc = await keys.getKey('writeback-contoso-enc');
    assert.equal(enc.id, first.encryptionKeyId);
    assert.equal(enc.keyType, 'RSA-HSM'); // WRITEBACK_KEY_PROTECTION defaults to hsm
    assert.equal(enc.key?.n?.length, 256);
    const sig = await keys.getKey('writeback-contoso-sig');
    assert.equal(sig.id, first.signatureKeyId);
    assert.equal(sig.keyType, 'EC-HSM');
    assert.equal(sig.key?.crv, 'P-256');
  });

  test('the tenants row and the audit row record it, without a secret', async () => {
    const [row, ...others] = await rowsOf('tenants', 'contoso');
    assert.equal(others.length, 0);
    assert.equal(row?.rowKey, 'writeback');
    assert.equal(row?.state, 'enabled');
    assert.equal(row?.encryptionKeyId, first.encryptionKeyId);
    assert.equal(row?.enabledByUpn, 'admin@contoso.test');
    const audit = await rowsOf('audit', 'contoso');
    assert.deepEqual(
      audit.map((a) => [a.action, a.actorUpn, a.outcome]),
      [['WritebackEnabled', 'admin@contoso.test', 'succeeded']],
    );
    const stored = JSON.stringify([row, audit]);
    for (const secret of [first.agentConnectionStrings!.listen, first.agentConnectionStrings!.send]) {
      assert.ok(!stored.includes(sasKeyOf(secret)), 'a SAS key is stored');
    }
  });

  test('the Listen string receives from the request queue and cannot send', async () => {
    await sendRequest('writeback-contoso', 'request-1');
    const agent = busClient(first.agentConnectionStrings!.listen);
    assert.equal(await receiveOne(agent, 'writeback-contoso'), 'request-1');
    await assert.rejects(agent.createSender('writeback-contoso').sendMessages({ body: 'no' }), refused);
    // The rule is the request queue's only: without EntityPath, it opens nothing else.
    const unscoped = busClient(first.agentConnectionStrings!.listen.replace(/EntityPath=[^;]+;/, ''));
    const other = unscoped.createReceiver('writeback-replies');
    await assert.rejects(other.receiveMessages(1, { maxWaitTimeInMs: 500 }), refused);
  });

  test('the Send string sends to the replies queue, which forwards into writeback-replies; it cannot receive', async () => {
    const agent = busClient(first.agentConnectionStrings!.send);
    const messageId = `forward-${randomUUID()}`;
    await agent.createSender('writeback-contoso-replies').sendMessages({ body: 'reply-1', messageId });
    // It arrives on writeback-replies: taken there by this test, or by the replies function, which
    // listens on it too and drops it (not a JWS), naming its messageId.
    const deadline = Date.now() + 10_000;
    let arrived = false;
    while (!arrived && Date.now() < deadline) {
      arrived =
        (await receiveOne(rootBus(), 'writeback-replies')) === 'reply-1' ||
        cloud.host.output().includes(`messageId=${messageId}`);
    }
    assert.ok(arrived, 'the reply was forwarded into writeback-replies');
    const receiver = agent.createReceiver('writeback-contoso-replies');
    await assert.rejects(receiver.receiveMessages(1, { maxWaitTimeInMs: 500 }), refused);
  });

  test('a second PUT changes nothing and reveals no secret', async () => {
    const before = await cloud.serviceBusAdmin.getQueue('writeback-contoso');
    const answer = await call('PUT', 'contoso', await token('contoso'));
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.agentConnectionStrings, undefined);
    assert.doesNotMatch(answer.text, /SharedAccessKey/);
    const { agentConnectionStrings: _secrets, ...configuration } = first;
    assert.deepEqual(answer.body, configuration);
    const after = await cloud.serviceBusAdmin.getQueue('writeback-contoso');
    assert.equal(after.authorizationRules?.[0]?.primaryKey, before.authorizationRules?.[0]?.primaryKey);
    assert.equal((await cloud.keyClient().getKey('writeback-contoso-enc')).id, first.encryptionKeyId);
    assert.equal((await rowsOf('audit', 'contoso')).length, 1);
  });

  test('GET answers the configuration without secrets', async () => {
    const answer = await call('GET', 'contoso', await token('contoso'));
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    const { agentConnectionStrings: _secrets, ...configuration } = first;
    assert.deepEqual(answer.body, configuration);
    assert.doesNotMatch(answer.text, /SharedAccessKey/);
  });

  test('a non-admin, another tenant and no token are refused', async () => {
    const user = await token('contoso', [], 'alice@contoso.test');
    for (const method of ['PUT', 'GET', 'DELETE'] as const) {
      assertProblem(await call(method, 'contoso', user), 403, 'Forbidden', /Writeback\.Admin/);
      assertProblem(await call(method, 'contoso', await token('fabrikam')), 403, 'Forbidden');
      assertProblem(await call(method, 'contoso'), 401, 'Unauthenticated');
    }
    // Nothing was provisioned for the other tenant's admin, and contoso is still enabled.
    assert.equal(await cloud.serviceBusAdmin.queueExists('writeback-fabrikam'), false);
    assert.equal((await call('GET', 'contoso', await token('contoso'))).body.state, 'enabled');
  });

  test('a bad tenant id is 400: upper case, a -replies suffix, bad characters', async () => {
    const admin = await token('contoso');
    assertProblem(await call('PUT', 'Contoso', admin), 400, 'InvalidRequest', /lower case/);
    assertProblem(await call('PUT', 'contoso-replies', admin), 400, 'InvalidRequest', /-replies/);
    assertProblem(await call('PUT', 'replies', admin), 400, 'InvalidRequest', /replies/);
    assertProblem(await call('GET', 'bad_tenant', admin), 400, 'InvalidRequest');
    assert.equal(await cloud.serviceBusAdmin.queueExists('writeback-contoso-replies-replies'), false);
  });

  test('GET and DELETE of a tenant never enabled are 409 WritebackDisabled', async () => {
    const admin = await token('fabrikam');
    assertProblem(await call('GET', 'fabrikam', admin), 409, 'WritebackDisabled', /never been enabled/);
    assertProblem(await call('DELETE', 'fabrikam', admin), 409, 'WritebackDisabled');
  });

  test('DELETE disables: queues and rules gone, every key version disabled, old strings refused', async () => {
    // An agent that is connected while the tenant is disabled.
    const connected = await listenOn(busClient(first.agentConnectionStrings!.listen), 'writeback-contoso');
    assert.deepEqual(await connected.receiveMessages(1, { maxWaitTimeInMs: 200 }), []);
    const answer = await call(
      'DELETE',
      'contoso',
      await token('contoso', [ADMIN], 'other-admin@contoso.test'),
    );
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.state, 'disabled');
    assert.equal((answer.body.disabledBy as { upn: string }).upn, 'other-admin@contoso.test');
    assert.equal(await cloud.serviceBusAdmin.queueExists('writeback-contoso'), false);
    assert.equal(await cloud.serviceBusAdmin.queueExists('writeback-contoso-replies'), false);
    assert.equal(
      await cloud.serviceBusAdmin.queueExists('writeback-replies'),
      true,
      'the shared queue stays',
    );
    const keys = cloud.keyClient();
    for (const name of ['writeback-contoso-enc', 'writeback-contoso-sig']) {
      const versions = [];
      for await (const version of keys.listPropertiesOfKeyVersions(name)) versions.push(version.enabled);
      assert.deepEqual(versions, [false]);
    }
    // Its session receiver was detached with the queue: the SDK then reports the session lost.
    await assert.rejects(connected.receiveMessages(1, { maxWaitTimeInMs: 500 }), (error: unknown) => {
      assert.ok(isServiceBusError(error));
      assert.equal(error.code, 'SessionLockLost');
      return true;
    });
    const listen = busClient(first.agentConnectionStrings!.listen);
    await assert.rejects(listenOn(listen, 'writeback-contoso'), refused);
    const send = busClient(first.agentConnectionStrings!.send);
    await assert.rejects(
      send.createSender('writeback-contoso-replies').sendMessages({ body: 'late' }),
      refused,
    );

    const [row] = await rowsOf('tenants', 'contoso');
    assert.equal(row?.state, 'disabled');
    assert.deepEqual(
      (await rowsOf('audit', 'contoso')).map((a) => a.action),
      ['WritebackEnabled', 'WritebackDisabled'],
    );
  });

  test('GET after DELETE shows the tenant disabled; a second DELETE changes nothing', async () => {
    const answer = await call('GET', 'contoso', await token('contoso'));
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.state, 'disabled');
    assert.ok(answer.body.disabledAt);
    const again = await call('DELETE', 'contoso', await token('contoso'));
    assert.equal(again.status, 200, again.text);
    assert.equal((again.body.disabledBy as { upn: string }).upn, 'other-admin@contoso.test');
    assert.equal((await rowsOf('audit', 'contoso')).length, 2);
  });

  test('PUT after DELETE re-enables with new keys and new SAS keys; the old strings stay refused', async () => {
    const answer = await call('PUT', 'contoso', await token('contoso'));
    assert.equal(answer.status, 201, answer.text);
    const second = answer.body as unknown as Enabled;
    assert.equal(second.state, 'enabled');
    assert.equal(second.disabledAt, undefined);
    assert.notEqual(second.encryptionKeyId, first.encryptionKeyId);
    assert.notEqual(second.signatureKeyId, first.signatureKeyId);
    assert.notEqual(
      sasKeyOf(second.agentConnectionStrings!.listen),
      sasKeyOf(first.agentConnectionStrings!.listen),
    );
    assert.notEqual(
      sasKeyOf(second.agentConnectionStrings!.send),
      sasKeyOf(first.agentConnectionStrings!.send),
    );
    const keys = cloud.keyClient();
    const versions = new Map<string, boolean | undefined>();
    for await (const version of keys.listPropertiesOfKeyVersions('writeback-contoso-enc')) {
      versions.set(version.id ?? '', version.enabled);
    }
    assert.equal(versions.get(first.encryptionKeyId), false, 'the old version stays disabled');
    assert.equal(versions.get(second.encryptionKeyId), true);

    // The queues exist again under the same names: the old credentials still open nothing.
    await sendRequest('writeback-contoso', 'request-2');
    const oldListen = busClient(first.agentConnectionStrings!.listen);
    await assert.rejects(listenOn(oldListen, 'writeback-contoso'), refused);
    const oldSend = busClient(first.agentConnectionStrings!.send);
    await assert.rejects(
      oldSend.createSender('writeback-contoso-replies').sendMessages({ body: 'x' }),
      refused,
    );
    assert.equal(
      await receiveOne(busClient(second.agentConnectionStrings!.listen), 'writeback-contoso'),
      'request-2',
    );
  });
});

describe('faults of Key Vault and Service Bus', () => {
  let faulty: FunctionsHost;
  afterEach(closeClients);
  before(async () => {
    // The same app and services, but signed in to Key Vault as an identity without any role.
    faulty = await startAppHost({
      ...cloud.env,
      KEYVAULT__clientId: DEV_IDENTITIES.noRole.clientId,
      KEYVAULT__clientSecret: DEV_IDENTITIES.noRole.clientSecret,
    });
  });
  after(async () => {
    await faulty?.stop();
  });

  test('a Key Vault fault half-way is a 503; the tenant is not enabled and a retried PUT completes it', async () => {
    const admin = await token('northwind');
    const failed = await call('PUT', 'northwind', admin, `${faulty.url}/api`);
    assertProblem(failed, 503, 'ServiceUnavailable', /Key Vault failed \(HTTP 403/);
    assert.equal(failed.headers.get('retry-after'), '5');
    // The queues were provisioned before the keys; the tenant is not enabled.
    assert.equal(await cloud.serviceBusAdmin.queueExists('writeback-northwind'), true);
    const state = await call('GET', 'northwind', admin);
    assert.equal(state.body.state, 'provisioning');

    const retried = await call('PUT', 'northwind', admin);
    assert.equal(retried.status, 201, retried.text);
    const enabled = retried.body as unknown as Enabled;
    assert.equal(enabled.state, 'enabled');
    assert.ok(enabled.encryptionKeyId);
    await sendRequest('writeback-northwind', 'after the retry');
    assert.equal(
      await receiveOne(busClient(enabled.agentConnectionStrings!.listen), 'writeback-northwind'),
      'after the retry',
    );
  });

  test('a disable that stopped half-way stops operations, and a PUT finishes it before enabling anew', async () => {
    const admin = await token('northwind');
    const before = (await call('GET', 'northwind', admin)).body as unknown as Enabled;
    assert.equal(before.state, 'enabled');
    const failed = await call('DELETE', 'northwind', admin, `${faulty.url}/api`);
    assertProblem(failed, 503, 'ServiceUnavailable', /Key Vault failed/);
    assert.equal((await call('GET', 'northwind', admin)).body.state, 'disabling');
    assert.equal(await cloud.serviceBusAdmin.queueExists('writeback-northwind'), false);

    const enabled = await call('PUT', 'northwind', admin);
    assert.equal(enabled.status, 201, enabled.text);
    const after = enabled.body as unknown as Enabled;
    assert.notEqual(after.encryptionKeyId, before.encryptionKeyId, 'the old agent key version is not reused');
    assert.notEqual(after.signatureKeyId, before.signatureKeyId);
    const keys = cloud.keyClient();
    for (const keyId of [before.encryptionKeyId, before.signatureKeyId]) {
      const [, name, version] = /\/keys\/([^/]+)\/([^/]+)$/.exec(keyId) ?? [];
      const old = await keys.getKey(name!, { version: version! });
      assert.equal(old.properties.enabled, false, `${keyId} stays disabled`);
    }
  });

  test('a Service Bus fault is a 503 that names Service Bus, and changes nothing it cannot finish', async () => {
    const broken = await startAppHost({
      ...cloud.env,
      ServiceBusConnection: cloud.serviceBus.connectionString.replace(
        /SharedAccessKey=[^;]+/,
        'SharedAccessKey=wrong',
      ),
    });
    try {
      const admin = await token('tailspin');
      const failed = await call('PUT', 'tailspin', admin, `${broken.url}/api`);
      assertProblem(failed, 503, 'ServiceUnavailable', /Service Bus failed \(HTTP 401/);
      assert.doesNotMatch(failed.text, /wrong|SharedAccessKey/);
      // The host's log names the fault, not the connection string.
      const log = await broken.waitForOutput((text) => /Service Bus failed/.test(text));
      assert.doesNotMatch(log, /SharedAccessKey=|SAS_KEY_VALUE/);
      assert.equal(await cloud.serviceBusAdmin.queueExists('writeback-tailspin'), false);
      assert.equal((await call('GET', 'tailspin', admin)).body.state, 'provisioning');
    } finally {
      await broken.stop();
    }
  });
});

describe('request queues made before they had sessions', () => {
  test('an enable that finds its request queue without sessions makes it again, with the same rule and keys', async () => {
    // What an enable that stopped half-way before this version left, or an old queue it resumes.
    const listenKey = newSasKey();
    await cloud.serviceBusAdmin.createQueue('writeback-litware', {
      requiresSession: false,
      authorizationRules: [
        {
          claimType: 'SharedAccessKey',
          keyName: 'writeback-agent-listen',
          accessRights: ['Listen'],
          primaryKey: listenKey,
          secondaryKey: newSasKey(),
        },
      ],
    });
    const answer = await call('PUT', 'litware', await token('litware'));
    assert.equal(answer.status, 201, answer.text);
    const queue = await cloud.serviceBusAdmin.getQueue('writeback-litware');
    assert.equal(queue.requiresSession, true);
    const enabled = answer.body as unknown as Enabled;
    assert.equal(
      sasKeyOf(enabled.agentConnectionStrings!.listen),
      listenKey,
      'the rule and its keys are kept',
    );
    await sendRequest('writeback-litware', 'in the session');
    assert.equal(
      await receiveOne(busClient(enabled.agentConnectionStrings!.listen), 'writeback-litware'),
      'in the session',
    );
  });
});

describe('the check the password routes make', () => {
  test('requireEnabled passes an enabled tenant only: 409 WritebackDisabled otherwise', async () => {
    // Built like the app builds it, from the same settings, in this process.
    const tenants = WritebackTenants.fromSettings({ ...cloud.env });
    const record = await tenants.requireEnabled('contoso');
    assert.equal(record.state, 'enabled');
    assert.equal(record.requestQueue, 'writeback-contoso');
    const refusedWith = (detail: RegExp) => (error: unknown) => {
      assert.ok(error instanceof ProblemError);
      assert.equal(error.code, 'WritebackDisabled');
      assert.equal(error.status, 409);
      assert.match(error.detail, detail);
      return true;
    };
    await assert.rejects(tenants.requireEnabled('tailspin'), refusedWith(/provisioning/));
    await assert.rejects(tenants.requireEnabled('fabrikam'), refusedWith(/never been enabled/));
    assert.equal((await call('DELETE', 'northwind', await token('northwind'))).status, 200);
    await assert.rejects(tenants.requireEnabled('northwind'), refusedWith(/disabled/));
  });
});
