/**
 * The agent heals itself (issue #13): the whole pipeline with a fault proxy between the app and
 * the agent and each dependency (test/support/fault-proxy.ts), heartbeats every 2 s, and the agent's
 * SDK retries cut short so that an outage outlasts them; its directory is reached over the network
 * too (test/support/shared-directory.ts). For each outage — Service Bus refusing connections, Service
 * Bus hanging, Key Vault refusing, the directory refusing — the running agent reports the dependency
 * degraded on /health and in its log meanwhile, then, without a restart, sends a heartbeat within
 * one interval of the dependency's return and applies a reset. The recovery times are printed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { HealthReport } from '../../../agent/agent.js';
import { DEMO_USERS } from '../../../agent/demo-config.js';
import type { Dependency } from '../../../agent/dependency-health.js';
import { DEMO_POLICY } from '../../../agent/directory/index.js';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.js';
import {
  DEMO_USER_PASSWORD,
  eventually,
  startPipeline,
  type PipelineUnderTest,
} from '../../support/pipeline.js';
import {
  RemoteDirectory,
  startSharedDirectory,
  type SharedDirectory,
} from '../../support/shared-directory.js';

const INTERVAL_MS = 2_000;

describe('the agent through outages of its dependencies', () => {
  let p: PipelineUnderTest;
  let directory: SharedDirectory;
  let directoryProxy: FaultProxy;
  let startedAt: string;
  const measured: Record<string, number> = {};

  before(async () => {
    directory = await startSharedDirectory({
      users: DEMO_USERS.map((user) => ({ ...user, password: DEMO_USER_PASSWORD })),
      policy: DEMO_POLICY,
    });
    directoryProxy = await startFaultProxy({ port: directory.port });
    p = await startPipeline({
      faults: true,
      directory: new RemoteDirectory(`http://127.0.0.1:${directoryProxy.port}`, 2_000),
      env: { HEARTBEAT_INTERVAL: 'PT2S' },
      agentOptions: {
        // Retries that give up within ~3 s, so that the outages below outlast them.
        serviceBusClientOptions: { retryOptions: { maxRetries: 1, retryDelayInMs: 300, timeoutInMs: 1_500 } },
        keyVaultClientOptions: { retryOptions: { maxRetries: 0 } },
        serviceBusDeadlineMs: 2_000,
        keyVaultDeadlineMs: 2_000,
        reconnectBackoffMs: 200,
        maxReconnectBackoffMs: 1_000,
        rebuildAfterFailures: 2,
      },
    });
    await p.untilOnline();
    startedAt = p.agent()!.health().startedAt;
  });
  after(async () => {
    // One line per outage: how long after the dependency came back the first heartbeat went out.
    process.stdout.write(`# recovery after the dependency came back (ms): ${JSON.stringify(measured)}\n`);
    await p?.stop();
    await directoryProxy?.close();
    await directory?.close();
  });

  const events = (name: string) =>
    p
      .agentLogs()
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry['event'] === name);

  async function health(): Promise<{ status: number; body: HealthReport }> {
    const response = await fetch(p.agent()!.healthUrl);
    return { status: response.status, body: (await response.json()) as HealthReport };
  }

  /** Waits until /health says `dependency` is degraded, and checks what it says about it. */
  async function degraded(dependency: Dependency): Promise<HealthReport> {
    const report = await eventually(
      async () => {
        const { status, body } = await health();
        return status === 503 && body.dependencies[dependency].state === 'degraded' ? body : undefined;
      },
      15_000,
      `${dependency} degraded on /health`,
    );
    const detail = report.dependencies[dependency];
    assert.equal(typeof detail.since, 'string');
    assert.equal(typeof detail.lastError?.['step'], 'string');
    assert.ok(detail.failures >= 1);
    const logged = events('dependencyDegraded').find((e) => e['dependency'] === dependency);
    assert.ok(logged, `the log says ${dependency} is failing`);
    return report;
  }

  /** Resumes `proxy` and returns how long until the first heartbeat that went out after it. */
  async function resumeAndTime(proxy: FaultProxy): Promise<number> {
    const sentBefore = events('heartbeat').length;
    await proxy.resume();
    const back = Date.now();
    const first = await eventually(
      async () => events('heartbeat')[sentBefore],
      15_000,
      'a heartbeat after the dependency came back',
    );
    return Math.max(0, Date.parse(first['time'] as string) - back);
  }

  /** A self-service reset through the API, answered synchronously by the agent. */
  async function resetSucceeds(password: string): Promise<void> {
    const token = await p.token({ user: `alice@${p.tenantId}.test` });
    const answer = await eventually(
      async () => {
        const reset = await p.call('POST', `/tenants/${p.tenantId}/me/password/reset`, {
          token,
          body: { newPassword: password },
        });
        // The app shares the outage: it may need a moment of its own (503) before it accepts again.
        return reset.status === 503 ? undefined : reset;
      },
      20_000,
      'the app accepting a reset again',
    );
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.status, 'succeeded');
  }

  async function recovered(): Promise<void> {
    const { status, body } = await eventually(
      async () => {
        const now = await health();
        return now.status === 200 ? now : undefined;
      },
      10_000,
      '/health ok again',
    );
    assert.equal(status, 200);
    assert.equal(body.role, 'active');
    assert.equal(body.startedAt, startedAt, 'the same process, not restarted');
  }

  it('Service Bus refusing connections for longer than the SDK retries: heartbeats resume within one interval', async () => {
    const proxy = p.cloud.faults!.serviceBus;
    await proxy.stop();
    const during = await degraded('serviceBus');
    assert.ok(during.lastHeartbeatAt);
    await new Promise((resolve) => setTimeout(resolve, 5_000)); // well past the agent's SDK retries
    const generation = p.agent()!.health().connectionGeneration;
    measured['serviceBusStopped'] = await resumeAndTime(proxy);
    assert.ok(
      measured['serviceBusStopped']! <= INTERVAL_MS,
      `a heartbeat ${measured['serviceBusStopped']} ms after Service Bus came back`,
    );
    await recovered();
    assert.ok(events('dependencyRestored').some((e) => e['dependency'] === 'serviceBus'));
    assert.ok(events('reconnecting').length > 0, 'new connections were tried with backoff meanwhile');
    assert.ok(p.agent()!.health().connectionGeneration >= generation);
    await resetSucceeds('After-Refusal-Passw0rd-1');
  });

  it('Service Bus hanging (frozen): every call ends at its deadline, and the agent reconnects when it is back', async () => {
    const proxy = p.cloud.faults!.serviceBus;
    const generation = p.agent()!.health().connectionGeneration;
    const failedBefore = events('heartbeatError').length;
    proxy.freeze();
    await degraded('serviceBus');
    // Long enough for failures in a row to start replacing the connection (each call ends at 2 s).
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const hung = events('heartbeatError').slice(failedBefore);
    assert.ok(
      hung.some((e) => (e['error'] as { name?: string }).name === 'DeadlineExceededError'),
      'a heartbeat to the hung Service Bus ended at its deadline',
    );
    measured['serviceBusFrozen'] = await resumeAndTime(proxy);
    assert.ok(
      measured['serviceBusFrozen']! <= INTERVAL_MS,
      `a heartbeat ${measured['serviceBusFrozen']} ms after Service Bus came back`,
    );
    await recovered();
    assert.ok(
      p.agent()!.health().connectionGeneration > generation,
      'the hung connection was replaced by a new one',
    );
    await resetSucceeds('After-Freeze-Passw0rd-2');
  });

  it('Key Vault refusing: /health degraded, heartbeats cannot be signed; back within one interval', async () => {
    const proxy = p.cloud.faults!.keyVault;
    await proxy.stop();
    const during = await degraded('keyVault');
    assert.equal(during.dependencies.serviceBus.state, 'ok');
    measured['keyVaultStopped'] = await resumeAndTime(proxy);
    assert.ok(
      measured['keyVaultStopped']! <= INTERVAL_MS,
      `a heartbeat ${measured['keyVaultStopped']} ms after Key Vault came back`,
    );
    await recovered();
    await resetSucceeds('After-Vault-Passw0rd-3');
  });

  it('the directory refusing: /health degraded, heartbeats skipped (the agent cannot apply); back within one interval', async () => {
    await directoryProxy.stop();
    const during = await degraded('directory');
    assert.equal(during.directoryReachable, false);
    assert.ok(events('heartbeatSkipped').length > 0);
    // A request meanwhile is answered at once: nothing could be applied.
    const refused = await p.call('POST', `/tenants/${p.tenantId}/me/password/reset`, {
      token: await p.token({ user: `alice@${p.tenantId}.test` }),
      body: { newPassword: 'During-Outage-Passw0rd-5' },
    });
    assert.deepEqual([refused.status, refused.body.code], [502, 'AgentFailure']);
    assert.match(String(refused.body.detail), /not applied/);
    measured['directoryStopped'] = await resumeAndTime(directoryProxy);
    assert.ok(
      measured['directoryStopped']! <= INTERVAL_MS,
      `a heartbeat ${measured['directoryStopped']} ms after the directory came back`,
    );
    await recovered();
    await resetSucceeds('After-Directory-Passw0rd-4');
  });

  it('never logged a password or a secret meanwhile', () => {
    for (const line of p.agentLogs()) {
      assert.doesNotMatch(line, /Passw0rd|SharedAccessKey=/);
    }
  });
});
