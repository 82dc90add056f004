/**
 * When the active agent's machine goes silent rather than its process dying: its session lock
 * lapses after the queue's lock duration (3 s here) and the standby takes over; the write the silent
 * agent had begun is bounded by its deadline, so the directory refuses it when it finally arrives
 * after the standby applied the operation: applied once, answered once. Two agents in this process
 * against the emulators, the first through a fault proxy that freezes it (test/support/fault-proxy.ts),
 * both on one shared directory (test/support/shared-directory.ts).
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgent, type RunningAgent } from '../../../agent/agent.js';
import { parseAgentConfig } from '../../../agent/config.js';
import { DEMO_POLICY } from '../../../agent/directory/index.js';
import { jsonLogger } from '../../../agent/log.js';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.js';
import {
  RemoteDirectory,
  startSharedDirectory,
  type SharedDirectory,
} from '../../support/shared-directory.js';
import { delay, demoUsers, startAgentStack, type AgentStack, type TenantFixture } from './support.js';

const LOCK_DURATION_MS = 3_000;

interface Running {
  agent: RunningAgent;
  events(name: string): Record<string, unknown>[];
}

describe('takeover from an agent that went silent', () => {
  let stack: AgentStack;
  let tenant: TenantFixture;
  let shared: SharedDirectory;
  let proxy: FaultProxy;
  const running: Running[] = [];

  async function runAgent(agentId: string, viaProxy: boolean): Promise<Running> {
    const logs: string[] = [];
    const endpoint = (connectionString: string) =>
      viaProxy ? connectionString.replace(`:${stack.bus.amqpPort};`, `:${proxy.port};`) : connectionString;
    const config = parseAgentConfig(
      tenant.configFile(await mkdtemp(join(stack.dir, `${agentId}-`)), {
        agentId,
        serviceBus: {
          requestsConnectionString: endpoint(tenant.listenConnectionString),
          repliesConnectionString: endpoint(tenant.sendConnectionString),
        },
      }),
      stack.dir,
      {},
    );
    const agent = await startAgent(config, {
      directory: new RemoteDirectory(shared.url),
      logger: jsonLogger({ agentId }, (line) => {
        logs.push(line);
        if (process.env['AGENT_TEST_LOGS']) process.stderr.write(line);
      }),
      keyVaultClientOptions: { retryOptions: { maxRetries: 0 } },
      serviceBusClientOptions: { retryOptions: { maxRetries: 0, timeoutInMs: 1_500 } },
      serviceBusDeadlineMs: 1_500,
      applyWindowMs: 2_000,
      standbyRetryMs: 300,
      reconnectBackoffMs: 200,
      maxReconnectBackoffMs: 1_000,
      retryBackoffMs: 100,
      maxRetryBackoffMs: 500,
    });
    const one: Running = {
      agent,
      events: (name) =>
        logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((entry) => entry['event'] === name),
    };
    running.push(one);
    return one;
  }

  async function until(what: string, check: () => boolean, timeoutMs: number): Promise<number> {
    const started = Date.now();
    while (!check()) {
      assert.ok(Date.now() - started < timeoutMs, `${what} within ${timeoutMs} ms`);
      await delay(20);
    }
    return Date.now() - started;
  }

  before(async () => {
    stack = await startAgentStack();
    tenant = await stack.provisionTenant('fabrikam', { lockDuration: 'PT3S' });
    shared = await startSharedDirectory({ users: demoUsers('fabrikam.test'), policy: DEMO_POLICY });
    proxy = await startFaultProxy({ port: stack.bus.amqpPort });
  });
  after(async () => {
    await proxy?.resume().catch(() => undefined);
    for (const { agent } of running) await agent.stop();
    await proxy?.close();
    await shared?.close();
    await stack?.close();
  });

  it('takes over after the lock duration, applies the operation once, and the silent agent’s late write is refused', async () => {
    const a = await runAgent('agent-a', true);
    await until('agent-a active', () => a.events('sessionAccepted').length === 1, 5_000);
    const b = await runAgent('agent-b', false);
    await until('agent-b on standby', () => b.events('standby').length === 1, 5_000);

    const hold = shared.holdNextWrite('before');
    const sealed = await tenant.seal({
      operation: 'reset',
      user: { kind: 'upn', value: 'alice@fabrikam.test' },
      newPassword: 'Lapse-Passw0rd-1',
    });
    await tenant.send(sealed);
    await hold.reached; // agent-a recorded "applying" and sent its write, which the directory holds

    proxy.freeze(); // agent-a's machine hangs: no renewal reaches the broker any more
    const takeoverMs = await until(
      'agent-b taking the session',
      () => b.events('sessionAccepted').length === 1,
      LOCK_DURATION_MS + 5_000,
    );
    process.stdout.write(
      `# takeover after the active agent went silent: ${takeoverMs} ms (lock ${LOCK_DURATION_MS} ms)\n`,
    );
    assert.ok(takeoverMs >= LOCK_DURATION_MS - 500, 'not before the lock lapsed');

    const reply = await tenant.result(sealed.messageId, 15_000);
    assert.equal(reply.result.outcome, 'succeeded');
    assert.equal(shared.timesSet('Lapse-Passw0rd-1'), 1, 'agent-b applied it, its stamp unmoved');
    assert.equal(b.events('takenOver')[0]?.['applied'], false);

    // agent-a's write arrives now, past the deadline it was sent with: the directory refuses it.
    hold.release();
    await until(
      'agent-a hearing its write refused',
      () => a.events('applied').some((e) => e['operationId'] === sealed.messageId),
      5_000,
    );
    const late = a.events('applied').find((e) => e['operationId'] === sealed.messageId)!;
    assert.equal(late['outcome'], 'AgentFailure');
    assert.match(String(late['detail']), /not applied/);
    assert.equal(shared.timesSet('Lapse-Passw0rd-1'), 1);

    // Back on the network, agent-a learns it lost the session, answers nothing, and stands by.
    await proxy.resume();
    await until('agent-a on standby', () => a.agent.health().role === 'standby', 15_000);
    assert.ok(a.events('sessionLost').length >= 1);
    const results = await tenant.resultsAfter(sealed.messageId, 1_000);
    assert.equal(results.length, 1, 'one answer, from agent-b');
    assert.equal(
      shared.directory.logOn({ kind: 'upn', value: 'alice@fabrikam.test' }, 'Lapse-Passw0rd-1'),
      'ok',
    );
  });
});
