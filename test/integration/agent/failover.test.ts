/**
 * Two agents on one tenant, and `kill -9` (docs/architecture.md, "Two agents per tenant"): the
 * whole pipeline, one agent in a process of its own (the CLI, test/support/agent-process.ts) and one
 * in this process, both on one shared directory (test/support/shared-directory.ts) that counts how
 * often each password was set and can hold a write so that an agent dies exactly mid-apply. A steady
 * trickle of self-service resets runs throughout, each with a password of its own, each for one of
 * a few users. Then:
 * 1. the active agent (the process) is killed while the directory holds its write, before applying
 *    it: the standby takes over and applies that operation, once;
 * 2. the active agent (in-process) stops gracefully: a new standby process takes over at once;
 * 3. that one is killed after the directory applied its write, before it heard so: the agent that
 *    takes over answers succeeded without applying it again.
 * Every accepted operation must end succeeded, and every password be set exactly once. The failover
 * times are printed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEMO_POLICY } from '../../../agent/directory/index.js';
import { startService, type ServiceProcess } from '../../../local/process/child.js';
import {
  RemoteDirectory,
  startSharedDirectory,
  type SharedDirectory,
} from '../../support/shared-directory.js';
import {
  DEMO_USER_PASSWORD,
  eventually,
  startPipeline,
  type PipelineUnderTest,
} from '../../support/pipeline.js';

const AGENT_PROCESS = fileURLToPath(new URL('../../support/agent-process.js', import.meta.url));
const USERS = ['ana', 'ben', 'cai', 'dee'].map((name) => `${name}@contoso.test`);
/** The agents' timing, short for a test: a standby asks every 0.3 s, a write may take 2 s. */
const AGENT_OPTIONS = {
  applyWindowMs: 2_000,
  standbyRetryMs: 300,
  serviceBusDeadlineMs: 5_000,
  keyVaultDeadlineMs: 5_000,
  reconnectBackoffMs: 200,
  maxReconnectBackoffMs: 1_000,
};
const LOCK_DURATION_MS = 60_000; // the request queue's lockDuration (shared/tenants/queues.ts)

interface Accepted {
  operationId: string;
  password: string;
  user: string;
}

type LogEntry = Record<string, unknown>;
const parse = (lines: string[]): LogEntry[] =>
  lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as LogEntry);

describe('two agents on one tenant: failover without a double apply or a false failure', () => {
  let shared: SharedDirectory;
  let p: PipelineUnderTest;
  let dir: string;
  const processes: ServiceProcess[] = [];
  const accepted: Accepted[] = [];
  const measured: Record<string, number> = {};
  let trickle: Promise<void> | undefined;
  let trickling = true;

  /** An agent of the tenant in a process of its own, as an operator runs it. */
  async function startProcessAgent(agentId: string): Promise<ServiceProcess> {
    const configPath = join(dir, `${agentId}.json`);
    await writeFile(
      configPath,
      JSON.stringify(p.agentConfigFile({ agentId, stateDirectory: join(dir, agentId), healthPort: 0 })),
      { mode: 0o600 },
    );
    const agent = await startService({
      name: agentId,
      script: AGENT_PROCESS,
      args: ['--config', configPath],
      env: {
        PATH: process.env['PATH'],
        TEST_DIRECTORY_URL: shared.url,
        TEST_AGENT_OPTIONS: JSON.stringify(AGENT_OPTIONS),
      },
      ready: /"event":"started"/,
      onLine: (line) => process.env['AGENT_TEST_LOGS'] && process.stderr.write(`${agentId}: ${line}\n`),
    });
    processes.push(agent);
    return agent;
  }

  const eventsOf = (agent: ServiceProcess, name: string) =>
    parse(agent.output().split('\n')).filter((e) => e['event'] === name);
  const inProcessEvents = (name: string, since = 0) =>
    parse(p.agentLogs().slice(since)).filter((e) => e['event'] === name);

  /** Resets through the API, one every 200 ms, rotating over the users; keeps the accepted ones. */
  async function runTrickle(): Promise<void> {
    const tokens = await Promise.all(USERS.map((user) => p.token({ user })));
    for (let i = 0; trickling; i++) {
      const password = `Trickle-${i}-Passw0rd`;
      const answer = await p.call('POST', `/tenants/${p.tenantId}/me/password/reset`, {
        token: tokens[i % USERS.length]!,
        body: { newPassword: password },
      });
      // 503 WritebackOffline can answer while no fresh heartbeat says an agent is online: not accepted.
      if (answer.status === 202 || answer.status === 200) {
        accepted.push({
          operationId: answer.body.operationId as string,
          password,
          user: USERS[i % USERS.length]!,
        });
      } else {
        assert.equal(answer.status, 503, answer.text);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** The operation that set `password`. */
  const operationOf = (password: string) => accepted.find((a) => a.password === password)!;

  async function finalState(operationId: string): Promise<Record<string, unknown>> {
    const token = await p.token({ admin: true, user: `admin@${p.tenantId}.test` });
    return eventually(
      async () => {
        const answer = await p.call('GET', `/tenants/${p.tenantId}/operations/${operationId}`, { token });
        return answer.body.status === 'pending' ? undefined : answer.body;
      },
      30_000,
      `operation ${operationId} to end`,
    );
  }

  before(async () => {
    shared = await startSharedDirectory({
      users: USERS.map((userPrincipalName) => ({ userPrincipalName, password: DEMO_USER_PASSWORD })),
      policy: DEMO_POLICY,
    });
    p = await startPipeline({
      agent: false,
      directory: new RemoteDirectory(shared.url),
      agentConfig: { agentId: 'agent-b' },
      agentOptions: AGENT_OPTIONS,
      env: { WRITEBACK_SYNC_WAIT: 'PT0S', RATE_LIMIT_PER_USER: '1000/PT15M' },
    });
    dir = await mkdtemp(join(tmpdir(), 'failover-agents-'));
  });
  after(async () => {
    trickling = false;
    await trickle?.catch(() => undefined);
    for (const agent of processes) await agent.stop('SIGKILL');
    process.stdout.write(`# failover times (ms): ${JSON.stringify(measured)}\n`);
    await p?.stop();
    await shared?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('one agent is active and the other on standby; both send heartbeats, the status route lists both', async () => {
    const a = await startProcessAgent('agent-a');
    assert.equal(eventsOf(a, 'sessionAccepted').length, 1, 'the first agent takes the request session');
    await p.startAgent();
    await eventually(
      async () => (inProcessEvents('standby').length > 0 ? true : undefined),
      10_000,
      'standby',
    );
    assert.equal(p.agent()!.health().role, 'standby');
    assert.equal((await fetch(p.agent()!.healthUrl)).status, 200, 'a standby is healthy');
    const token = await p.token();
    const status = await eventually(
      async () => {
        const answer = await p.call('GET', `/tenants/${p.tenantId}/writeback/status`, { token });
        const agents = answer.body.agents as { agentId: string; state: string }[];
        const states = Object.fromEntries(agents.map((x) => [x.agentId, x.state]));
        return states['agent-a'] === 'online' && states['agent-b'] === 'standby' ? answer.body : undefined;
      },
      15_000,
      'agent-a online and agent-b on standby in the status',
    );
    assert.equal(status.state, 'online');
    trickle = runTrickle();
    await eventually(async () => (accepted.length >= 5 ? true : undefined), 15_000, 'resets flowing');
  });

  it('kill -9 of the active agent before its write lands: the standby takes over and applies it once', async () => {
    const [a] = processes;
    const hold = shared.holdNextWrite('before');
    const password = await hold.reached;
    const killedAt = Date.now();
    await a!.stop('SIGKILL');
    await eventually(
      async () => (inProcessEvents('sessionAccepted').length > 0 ? true : undefined),
      LOCK_DURATION_MS + 5_000,
      'the standby taking the request session',
    );
    measured['killBeforeWrite'] = Date.now() - killedAt;
    assert.ok(measured['killBeforeWrite'] < LOCK_DURATION_MS + 5_000);
    const held = operationOf(password);
    const ended = await finalState(held.operationId);
    measured['heldOperationAnswered'] = Date.now() - killedAt;
    assert.equal(ended.status, 'succeeded', JSON.stringify(ended));
    assert.equal(shared.timesSet(password), 1, 'applied once, by the agent that took over');
    const takeover = inProcessEvents('takenOver').find((e) => e['operationId'] === held.operationId);
    assert.equal(takeover?.['applied'], false);
    assert.equal(takeover?.['appliedBy'], 'agent-a');
  });

  it('a graceful stop hands the session to the standby at once; the stopped agent says going-offline', async () => {
    const c = await startProcessAgent('agent-c');
    await eventually(
      async () => (eventsOf(c, 'standby').length > 0 ? true : undefined),
      10_000,
      'c on standby',
    );
    const stoppedAt = Date.now();
    await p.stopAgent();
    await eventually(
      async () => (eventsOf(c, 'sessionAccepted').length > 0 ? true : undefined),
      10_000,
      'agent-c taking the request session',
    );
    measured['gracefulHandover'] = Date.now() - stoppedAt;
    assert.ok(inProcessEvents('heartbeat').some((e) => e['state'] === 'going-offline'));
  });

  it('kill -9 after the write landed, before the agent heard so: the next one answers succeeded, without applying again', async () => {
    const c = processes[1]!;
    const since = p.agentLogs().length;
    await p.startAgent();
    await eventually(
      async () => (inProcessEvents('standby', since).length > 0 ? true : undefined),
      10_000,
      'b back on standby',
    );
    const hold = shared.holdNextWrite('after');
    const password = await hold.reached;
    const killedAt = Date.now();
    await c.stop('SIGKILL');
    await eventually(
      async () => (inProcessEvents('sessionAccepted', since).length > 0 ? true : undefined),
      LOCK_DURATION_MS + 5_000,
      'agent-b taking the request session again',
    );
    measured['killAfterWrite'] = Date.now() - killedAt;
    const held = operationOf(password);
    const ended = await finalState(held.operationId);
    assert.equal(ended.status, 'succeeded', JSON.stringify(ended));
    assert.equal(shared.timesSet(password), 1, 'not applied a second time');
    const takeover = inProcessEvents('takenOver', since).find((e) => e['operationId'] === held.operationId);
    assert.equal(takeover?.['applied'], true);
    assert.equal(takeover?.['appliedBy'], 'agent-c');
  });

  it('every accepted operation ended succeeded, and set its password exactly once', async () => {
    await eventually(
      async () => (accepted.length >= 25 ? true : undefined),
      20_000,
      'more resets after the failovers',
    );
    trickling = false;
    await trickle;
    const outcomes = await Promise.all(accepted.map((a) => finalState(a.operationId)));
    const failed = outcomes.filter((o) => o.status !== 'succeeded');
    assert.deepEqual(failed, [], 'no accepted operation failed or expired');
    for (const { password } of accepted) assert.equal(shared.timesSet(password), 1, `${password} set once`);
    // Each user ends with the password of their last reset.
    for (const user of USERS) {
      const last = accepted.filter((a) => a.user === user).pop();
      if (last) assert.equal(shared.directory.logOn({ kind: 'upn', value: user }, last.password), 'ok');
    }
    process.stdout.write(`# ${accepted.length} resets accepted, all applied once\n`);
  });
});
