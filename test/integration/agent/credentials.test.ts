/**
 * Key rollover, the agent's side (docs/key-rollover.md). The test plays the cloud with the official SDKs: it
 * regenerates the key of each of the agent's SAS rules that the agent does not use
 * (ServiceBusAdministrationClient getQueue + updateQueue), seals a credentials control message
 * with the tenant's Key Vault key, sends it on the request queue, waits for the signed
 * acknowledgement on the replies queue, and retires the old keys. The agent runs in-process from
 * a configuration file whose connection strings are files, inline strings, or environment variables.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ServiceBusClient } from '@azure/service-bus';
import { startAgent, type RunningAgent } from '../../../agent/agent.js';
import { loadAgentConfig } from '../../../agent/config.js';
import { DEMO_POLICY, InMemoryDirectory } from '../../../agent/directory/index.js';
import { jsonLogger } from '../../../agent/log.js';
import type { UserIdentifier } from '../../../shared/domain/index.js';
import { agentSessionId, type SealedRequest, type VerifiedReply } from '../../../shared/wire/index.js';
import {
  delay,
  demoUsers,
  startAgentStack,
  writeConfig,
  type AgentKeys,
  type AgentStack,
  type TenantFixture,
} from './support.js';

const upn = (name: string): UserIdentifier => ({ kind: 'upn', value: `${name}@contoso.test` });
const withKey = (connectionString: string, key: string) =>
  connectionString.replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${key}`);
const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

/** Every SAS key the test has seen, for the check that none reaches a log line. */
const SAS_KEYS = new Set<string>();
const remember = (keys: AgentKeys): AgentKeys => {
  SAS_KEYS.add(keys.listenKey);
  SAS_KEYS.add(keys.sendKey);
  return keys;
};
const keyOf = (connectionString: string) => /SharedAccessKey=([^;]+)/.exec(connectionString)![1]!;

interface Running {
  agent: RunningAgent;
  logs: string[];
  events(name: string): Record<string, unknown>[];
}

/** Log lines of every agent any test started, for the canary check. */
const ALL_LOGS: string[] = [];

async function runAgent(configPath: string, env: Record<string, string> = {}): Promise<Running> {
  const logs: string[] = [];
  // Each agent has a directory of its own here: these tests look at keys, not at who applied what.
  const agent = await startAgent(loadAgentConfig(configPath, env), {
    directory: new InMemoryDirectory({ users: demoUsers(), policy: DEMO_POLICY }),
    logger: jsonLogger({}, (line) => {
      logs.push(line);
      ALL_LOGS.push(line);
      if (process.env['AGENT_TEST_LOGS']) process.stderr.write(line);
    }),
    keyVaultClientOptions: { retryOptions: { maxRetries: 0 } },
    serviceBusClientOptions: { retryOptions: { maxRetries: 2, timeoutInMs: 10_000 } },
    retryBackoffMs: 100,
    maxRetryBackoffMs: 1000,
    standbyRetryMs: 300,
  });
  return {
    agent,
    logs,
    events: (name) =>
      logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((entry) => entry['event'] === name),
  };
}

type SecretsIn = 'files' | 'inline' | 'env';

/** A folder with the agent's configuration file (and secret files), as an operator would set it up. */
async function installAgent(
  stack: AgentStack,
  tenant: TenantFixture,
  secretsIn: SecretsIn,
  extra: Record<string, unknown> = {},
) {
  const dir = await mkdtemp(join(stack.dir, `${tenant.tenantId}-`));
  const env: Record<string, string> = {};
  let serviceBus: Record<string, unknown>;
  if (secretsIn === 'files') {
    await writeFile(join(dir, 'requests.secret'), `${tenant.listenConnectionString}\n`, { mode: 0o600 });
    await writeFile(join(dir, 'replies.secret'), `${tenant.sendConnectionString}\n`, { mode: 0o600 });
    serviceBus = {
      requestsConnectionString: { file: 'requests.secret' },
      repliesConnectionString: { file: 'replies.secret' },
    };
  } else if (secretsIn === 'env') {
    env['WRITEBACK_REQUESTS_CONNECTION'] = tenant.listenConnectionString;
    env['WRITEBACK_REPLIES_CONNECTION'] = tenant.sendConnectionString;
    serviceBus = {
      requestsConnectionString: { env: 'WRITEBACK_REQUESTS_CONNECTION' },
      repliesConnectionString: { env: 'WRITEBACK_REPLIES_CONNECTION' },
    };
  } else {
    serviceBus = {
      requestsConnectionString: tenant.listenConnectionString,
      repliesConnectionString: tenant.sendConnectionString,
    };
  }
  const stateDirectory = join(dir, 'state');
  const configPath = await writeConfig(dir, tenant.configFile(stateDirectory, { serviceBus, ...extra }));
  return { dir, env, configPath, stateDirectory };
}

async function reset(tenant: TenantFixture, name = 'alice'): Promise<string> {
  const sealed = await tenant.seal({
    operation: 'reset',
    user: upn(name),
    newPassword: `Rolled-${randomBytes(6).toString('hex')}-A1`,
  });
  await tenant.send(sealed);
  return (await tenant.result(sealed.messageId)).result.outcome;
}

/** A control message, into the request session or (as the cloud does for each agent it sees) agents' own. */
async function sendControl(
  tenant: TenantFixture,
  keys: AgentKeys,
  agentIds: string[] = [],
): Promise<SealedRequest> {
  const sealed = await tenant.seal({ operation: 'credentials', ...keys }, { operationId: randomUUID() });
  if (agentIds.length === 0) await tenant.send(sealed);
  for (const agentId of agentIds) await tenant.send(sealed, undefined, agentSessionId(agentId));
  return sealed;
}

function ackOf(tenant: TenantFixture, rolloverId: string, timeoutMs = 20_000) {
  return tenant.reply(
    (r) => r.kind === 'credentialsAck' && r.credentialsAck.rolloverId === rolloverId,
    timeoutMs,
  ) as Promise<VerifiedReply & { kind: 'credentialsAck' }>;
}

/** Polls until `check` holds, failing after `timeoutMs`. */
async function eventually(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    assert.ok(Date.now() < deadline, `${what} within ${timeoutMs} ms`);
    await delay(20);
  }
}

/** Whether the emulator lets a new client with this connection string in. */
async function accepted(connectionString: string, queue: string, right: 'Listen' | 'Send'): Promise<boolean> {
  const client = new ServiceBusClient(connectionString, {
    retryOptions: { maxRetries: 0, timeoutInMs: 5000 },
  });
  try {
    if (right === 'Listen') await client.createReceiver(queue).peekMessages(1);
    else await client.createSender(queue).createMessageBatch();
    return true;
  } catch (error) {
    assert.match(String((error as { code?: unknown }).code), /Unauthorized/, String(error));
    return false;
  } finally {
    await client.close();
  }
}

describe('key rollover: the agent takes new SAS keys from a control message', () => {
  let stack: AgentStack;
  before(async () => {
    stack = await startAgentStack();
  });
  after(async () => {
    await stack?.close();
  });

  describe('with its connection strings in secret files', () => {
    let tenant: TenantFixture;
    let install: Awaited<ReturnType<typeof installAgent>>;
    let running: Running;
    let control: SealedRequest;
    let secondary: AgentKeys;

    before(async () => {
      tenant = await stack.provisionTenant('contoso');
      remember({
        listenKey: keyOf(tenant.listenConnectionString),
        sendKey: keyOf(tenant.sendConnectionString),
      });
      install = await installAgent(stack, tenant, 'files');
      running = await runAgent(install.configPath);
      await tenant.reply((r) => r.kind === 'heartbeat');
    });
    after(async () => {
      await running?.agent.stop();
    });

    it('stores the new strings in the files, reconnects without dropping a request, and acknowledges signed with the new -sig version', async () => {
      assert.equal(await reset(tenant), 'succeeded');
      // The cloud rolls every key: -enc and -sig in Key Vault, then the SAS key the agent does not use.
      const sigVersion = await tenant.rotateSignatureKey();
      await tenant.rotateEncryptionKey();
      secondary = remember(await tenant.regenerateAgentKeys('secondaryKey'));

      const resets = async (count: number) => {
        const sealed = [];
        for (let i = 0; i < count; i++) {
          const one = await tenant.seal({
            operation: 'reset',
            user: upn(i % 2 ? 'bob' : 'alice'),
            newPassword: `During-Roll-${i}-${randomBytes(4).toString('hex')}-Z9`,
          });
          await tenant.send(one);
          sealed.push(one);
        }
        return sealed;
      };
      const before = await resets(4);
      control = await sendControl(tenant, secondary);
      const afterwards = await resets(4);

      const ack = await ackOf(tenant, control.messageId);
      assert.equal(ack.credentialsAck.tenantId, 'contoso');
      assert.equal(ack.credentialsAck.agentId, 'test-agent-contoso');
      assert.equal(ack.keyId.split('/').pop(), sigVersion, 'signed with the -sig version the rollover made');
      for (const sealed of [...before, ...afterwards]) {
        assert.equal((await tenant.result(sealed.messageId)).result.outcome, 'succeeded');
      }

      for (const [file, original, key] of [
        ['requests.secret', tenant.listenConnectionString, secondary.listenKey],
        ['replies.secret', tenant.sendConnectionString, secondary.sendKey],
      ] as const) {
        const path = join(install.dir, file);
        assert.equal(await readFile(path, 'utf8'), `${withKey(original, key)}\n`);
        assert.equal(await modeOf(path), 0o600);
      }

      const [rolled, ...more] = running.events('credentialsRolled');
      assert.equal(more.length, 0);
      assert.equal(rolled?.['rolloverId'], control.messageId);
      assert.equal(rolled?.['generation'], 2, 'a new connection on the new keys');
      assert.deepEqual(
        (rolled?.['persisted'] as { to: string; path: string }[]).map((p) => [p.to, p.path]),
        [
          ['file', join(install.dir, 'requests.secret')],
          ['file', join(install.dir, 'replies.secret')],
        ],
      );
      assert.equal(typeof running.agent.health().credentialsRolledAt, 'string');
      // The old connection closes once what it delivered (the control message among them) has settled.
      await eventually('the old connection closed', () => running.events('credentialsRetired').length === 1);
      // The request session moved to the new connection once the control message was completed.
      await eventually(
        'the request session taken again on the new connection',
        () => running.events('sessionAccepted').pop()?.['generation'] === 2,
      );
      assert.equal(running.agent.health().connectionGeneration, 2);
      assert.equal(running.agent.health().inFlight, 0);
      assert.deepEqual(await tenant.deadLetters(200), []);
    });

    it('works on once the cloud retires the old keys, which the emulator then refuses; a restart reads the new strings', async () => {
      const oldListen = tenant.listenConnectionString;
      const oldSend = tenant.sendConnectionString;
      assert.equal(
        await accepted(oldListen, tenant.requestQueue, 'Listen'),
        true,
        'both keys work during the roll',
      );
      remember(await tenant.regenerateAgentKeys('primaryKey'));
      assert.equal(await accepted(oldListen, tenant.requestQueue, 'Listen'), false);
      assert.equal(await accepted(oldSend, tenant.repliesQueue, 'Send'), false);
      assert.equal(
        await accepted(withKey(oldListen, secondary.listenKey), tenant.requestQueue, 'Listen'),
        true,
      );

      assert.equal(await reset(tenant, 'bob'), 'succeeded');
      await running.agent.heartbeat(); // on the new Send key

      await running.agent.stop();
      running = await runAgent(install.configPath);
      assert.equal(await reset(tenant), 'succeeded');
    });

    it('acknowledges a redelivered control message again, without reconnecting', async () => {
      await tenant.send(control); // the same message again: the agent already uses these keys
      const ack = await ackOf(tenant, control.messageId);
      assert.equal(ack.credentialsAck.rolloverId, control.messageId);
      assert.equal(running.events('credentialsUnchanged').length, 1);
      assert.equal(running.events('credentialsRolled').length, 0);
      assert.equal(running.agent.health().credentialsRolledAt, null);
      assert.equal(await reset(tenant), 'succeeded');
    });

    it('keeps its connection, its files and its work, and does not acknowledge, when the keys are not the rules’ keys', async () => {
      const files = await Promise.all(
        ['requests.secret', 'replies.secret'].map((f) => readFile(join(install.dir, f), 'utf8')),
      );
      const wrong = remember({
        listenKey: randomBytes(32).toString('base64'),
        sendKey: randomBytes(32).toString('base64'),
      });
      const bad = await sendControl(tenant, wrong);
      const refusals = () =>
        running.events('credentialsRefused').filter((e) => e['rolloverId'] === bad.messageId);
      await eventually('the new keys refused twice (retried)', () => refusals().length >= 2);
      assert.equal(refusals()[0]!['step'], 'verifying the new keys');
      assert.equal(await reset(tenant, 'bob'), 'succeeded');
      assert.equal(running.events('credentialsRolled').length, 0);
      assert.deepEqual(
        await Promise.all(
          ['requests.secret', 'replies.secret'].map((f) => readFile(join(install.dir, f), 'utf8')),
        ),
        files,
      );
      assert.ok(
        !tenant
          .received()
          .some((r) => r.kind === 'credentialsAck' && r.credentialsAck.rolloverId === bad.messageId),
        'no acknowledgement for keys the agent could not use',
      );
    });

    it('looks the signing key up when a request comes sealed with an -enc version it has not seen', async () => {
      assert.equal(await reset(tenant), 'succeeded'); // under the current -enc version: seen
      const sigVersion = await tenant.rotateSignatureKey();
      const encVersion = await tenant.rotateEncryptionKey();
      const sealed = await tenant.seal({ operation: 'unlock', user: upn('alice') });
      assert.equal(sealed.header.keyVersion, encVersion);
      await tenant.send(sealed);
      const reply = await tenant.result(sealed.messageId);
      assert.equal(reply.result.outcome, 'succeeded');
      // The signer's own schedule is hourly: only the new -enc version explains the new -sig one.
      assert.equal(reply.keyId.split('/').pop(), sigVersion);
    });
  });

  describe('two agents, one on standby', () => {
    it('each takes the new keys from a control message in its own session; the standby takes over on them once the old keys are gone', async () => {
      const tenant = await stack.provisionTenant('woodgrove');
      remember({
        listenKey: keyOf(tenant.listenConnectionString),
        sendKey: keyOf(tenant.sendConnectionString),
      });
      const installA = await installAgent(stack, tenant, 'files', { agentId: 'agent-a' });
      const installB = await installAgent(stack, tenant, 'files', { agentId: 'agent-b' });
      const a = await runAgent(installA.configPath);
      const b = await runAgent(installB.configPath);
      try {
        await eventually('agent-b on standby', () => b.agent.health().role === 'standby');
        assert.equal(a.agent.health().role, 'active');
        assert.equal(b.agent.health().agentSession, 'active', 'the standby holds its own session');

        const keys = remember(await tenant.regenerateAgentKeys('secondaryKey'));
        const control = await sendControl(tenant, keys, ['agent-a', 'agent-b']);
        const acks = [await ackOf(tenant, control.messageId), await ackOf(tenant, control.messageId)];
        assert.deepEqual(acks.map((ack) => ack.credentialsAck.agentId).sort(), ['agent-a', 'agent-b']);
        for (const install of [installA, installB]) {
          assert.equal(
            await readFile(join(install.dir, 'requests.secret'), 'utf8'),
            `${withKey(tenant.listenConnectionString, keys.listenKey)}\n`,
          );
        }
        // The cloud retires the old keys once both acknowledged; the pair works on. (Moving the request
        // session to the new connection lets it go for a moment: the standby may have taken it.)
        remember(await tenant.regenerateAgentKeys('primaryKey'));
        assert.equal(await reset(tenant), 'succeeded');
        await eventually(
          'one agent active, the other on standby',
          () =>
            [a, b].some((x) => x.agent.health().role === 'active') &&
            [a, b].some((x) => x.agent.health().role === 'standby'),
        );
        const [active, standby] = a.agent.health().role === 'active' ? [a, b] : [b, a];
        await standby.agent.heartbeat(); // the standby's heartbeats, on the new Send key

        await active.agent.stop();
        await eventually('the standby taking over', () => standby.agent.health().role === 'active');
        assert.equal(await reset(tenant, 'bob'), 'succeeded');
      } finally {
        await a.agent.stop();
        await b.agent.stop();
      }
    });
  });

  describe('with its connection strings inline in the configuration file', () => {
    it('rewrites those two fields in the file, keeps the rest, and works on the new keys', async () => {
      const tenant = await stack.provisionTenant('fabrikam');
      remember({
        listenKey: keyOf(tenant.listenConnectionString),
        sendKey: keyOf(tenant.sendConnectionString),
      });
      const install = await installAgent(stack, tenant, 'inline');
      const original = JSON.parse(await readFile(install.configPath, 'utf8')) as Record<string, unknown>;
      const running = await runAgent(install.configPath);
      try {
        const keys = remember(await tenant.regenerateAgentKeys('secondaryKey'));
        const control = await sendControl(tenant, keys);
        await ackOf(tenant, control.messageId);
        const text = await readFile(install.configPath, 'utf8');
        const written = JSON.parse(text) as Record<string, unknown>;
        assert.deepEqual(written['serviceBus'], {
          requestsConnectionString: withKey(tenant.listenConnectionString, keys.listenKey),
          repliesConnectionString: withKey(tenant.sendConnectionString, keys.sendKey),
        });
        assert.deepEqual({ ...written, serviceBus: null }, { ...original, serviceBus: null });
        assert.match(text, /^{\n {2}"tenantId"/, 'the indentation is kept');
        assert.equal(await modeOf(install.configPath), 0o600);
        const persisted = running.events('credentialsRolled')[0]?.['persisted'] as { to: string }[];
        assert.deepEqual(
          persisted.map((p) => p.to),
          ['configFile', 'configFile'],
        );
        remember(await tenant.regenerateAgentKeys('primaryKey'));
        assert.equal(await reset(tenant), 'succeeded');
      } finally {
        await running.agent.stop();
      }
    });
  });

  describe('with its connection strings in environment variables', () => {
    it('writes the new strings to the state directory, warns the operator, works on, and warns again at the next start', async () => {
      const tenant = await stack.provisionTenant('tailspin');
      remember({
        listenKey: keyOf(tenant.listenConnectionString),
        sendKey: keyOf(tenant.sendConnectionString),
      });
      const install = await installAgent(stack, tenant, 'env');
      let running = await runAgent(install.configPath, install.env);
      try {
        const keys = remember(await tenant.regenerateAgentKeys('secondaryKey'));
        const control = await sendControl(tenant, keys);
        await ackOf(tenant, control.messageId);

        const stateFiles = {
          WRITEBACK_REQUESTS_CONNECTION: [
            join(install.stateDirectory, 'credentials', 'requests-connection-string'),
            withKey(tenant.listenConnectionString, keys.listenKey),
          ],
          WRITEBACK_REPLIES_CONNECTION: [
            join(install.stateDirectory, 'credentials', 'replies-connection-string'),
            withKey(tenant.sendConnectionString, keys.sendKey),
          ],
        } as const;
        const warnings = running.logs
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .filter((e) => e['event'] === 'credentialsNotPersisted');
        assert.equal(warnings.length, 2);
        for (const [name, [path, value]] of Object.entries(stateFiles)) {
          assert.equal(await readFile(path, 'utf8'), `${value}\n`);
          assert.equal(await modeOf(path), 0o600);
          const warning = warnings.find((w) => w['env'] === name);
          assert.ok(warning, `a warning names ${name}`);
          assert.equal(warning['level'], 'warn');
          assert.equal(warning['path'], path);
          assert.equal(warning['reason'], 'environment');
          assert.ok(String(warning['message']).includes(name) && String(warning['message']).includes(path));
          assert.match(String(warning['message']), /before the next restart/i);
        }
        assert.equal(await reset(tenant), 'succeeded');

        // Restarted with the environment unchanged (the old keys are not retired yet): it says so again.
        await running.agent.stop();
        running = await runAgent(install.configPath, install.env);
        const pending = running.events('credentialsPending');
        assert.deepEqual(pending.map((e) => e['env']).sort(), Object.keys(stateFiles).sort());
        assert.equal(await reset(tenant), 'succeeded');
      } finally {
        await running.agent.stop();
      }
    });
  });

  it('never writes a SAS key or a connection string into a log line', () => {
    assert.ok(ALL_LOGS.length > 20);
    assert.ok(SAS_KEYS.size >= 10);
    for (const line of ALL_LOGS) {
      for (const key of SAS_KEYS)
        assert.ok(!line.includes(key), `a log line holds a SAS key: ${line.slice(0, 120)}`);
      assert.ok(!line.includes('SharedAccessKey='), 'a log line holds a connection string');
    }
  });
});
