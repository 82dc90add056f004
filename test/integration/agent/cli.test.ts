/**
 * The agent as a service manager runs it: `node dist/agent/cli.js --config <file>`, with its exit
 * codes (0 clean stop, 2 bad configuration), its JSON log on stdout, its health endpoint and a
 * going-offline heartbeat on SIGTERM.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startService, type ServiceProcess } from '../../../local/process/child.js';
import { startAgentStack, writeConfig, type AgentStack, type TenantFixture } from './support.js';

const CLI = fileURLToPath(new URL('../../../agent/cli.js', import.meta.url));
const CANARY = 'Canary-Cli-9#Lp-never-logged';

function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env['PATH'], ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, output: stdout + stderr });
      },
    );
  });
}

const VALID = {
  tenantId: 'contoso',
  serviceBus: {
    requestsConnectionString:
      'Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=l;SharedAccessKey=k;UseDevelopmentEmulator=true',
    repliesConnectionString:
      'Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=s;SharedAccessKey=k;UseDevelopmentEmulator=true',
  },
  keyVault: {
    url: 'https://127.0.0.1:1',
    credential: { tenantId: 'writeback', clientId: 'agent', clientSecret: { env: 'AGENT_SECRET' } },
  },
  directory: { kind: 'memory', users: [] },
  stateDirectory: 'state',
};

describe('agent CLI: exit codes 2 (bad configuration, naming the field) and 1 (cannot start)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agent-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cases: [string, unknown, RegExp][] = [
    ['a missing tenant id', { ...VALID, tenantId: undefined }, /Setting tenantId is missing or malformed/],
    ['an upper-case tenant id', { ...VALID, tenantId: 'Contoso' }, /Setting tenantId/],
    [
      'a malformed heartbeat interval',
      { ...VALID, heartbeatInterval: 'five minutes' },
      /heartbeatInterval.*ISO-8601/,
    ],
    [
      'an http vault',
      { ...VALID, keyVault: { ...VALID.keyVault, url: 'http://vault' } },
      /keyVault\.url.*https/,
    ],
    ['an unknown directory kind', { ...VALID, directory: { kind: 'ad' } }, /Setting directory\.kind/],
    ['a secret from an unset variable', VALID, /keyVault\.credential\.clientSecret.*AGENT_SECRET is not set/],
    [
      'a connection string for another queue',
      {
        ...VALID,
        serviceBus: {
          ...VALID.serviceBus,
          requestsConnectionString: `${VALID.serviceBus.requestsConnectionString};EntityPath=writeback-fabrikam`,
        },
      },
      /serviceBus\.requestsConnectionString.*EntityPath must be writeback-contoso/,
    ],
  ];
  for (const [name, config, message] of cases) {
    it(`refuses ${name}`, async () => {
      const path = await writeConfig(
        dir,
        config as Record<string, unknown>,
        `${name.replace(/\W+/g, '-')}.json`,
      );
      const { code, output } = await runCli(['--config', path]);
      assert.equal(code, 2, output);
      assert.match(output, message);
      assert.ok(!output.includes('SharedAccessKey=k'), 'the connection string is not printed');
    });
  }

  it('exits 1 when it cannot start (the vault is unreachable), naming no secret', async () => {
    const path = await writeConfig(dir, VALID, 'unreachable.json');
    const { code, output } = await runCli(['--config', path], { AGENT_SECRET: 'agent-secret-value' });
    assert.equal(code, 1, output);
    assert.match(output, /"message":"the agent could not start"/);
    assert.match(output, /"step":"reading the signature key from Key Vault"/);
    assert.ok(!output.includes('agent-secret-value'));
  });

  it('refuses to start without --config, and with a file that is not JSON', async () => {
    assert.equal((await runCli([])).code, 2);
    const path = join(dir, 'broken.json');
    await writeFile(path, '{ not json');
    const { code, output } = await runCli(['--config', path]);
    assert.equal(code, 2);
    assert.match(output, /not valid JSON/);
  });
});

describe('agent CLI: runs as a service', () => {
  let stack: AgentStack;
  let tenant: TenantFixture;
  let agent: ServiceProcess | undefined;

  before(async () => {
    stack = await startAgentStack();
    tenant = await stack.provisionTenant('contoso');
  });
  after(async () => {
    await agent?.stop('SIGKILL');
    await stack?.close();
  });

  it('starts from its configuration, applies a reset, serves /health, and on SIGTERM says going-offline and exits 0', async () => {
    const dir = await mkdtemp(join(stack.dir, 'cli-'));
    await writeFile(join(dir, 'listen.txt'), `${tenant.listenConnectionString}\n`, { mode: 0o600 });
    const config = tenant.configFile('state', {
      serviceBus: {
        requestsConnectionString: { file: 'listen.txt' },
        repliesConnectionString: { env: 'AGENT_REPLIES_CONNECTION' },
      },
      keyVault: {
        url: stack.keyVault.vaultUri,
        credential: {
          tenantId: 'writeback',
          clientId: tenant.agentClientId,
          clientSecret: { env: 'AGENT_SECRET' },
          authorityHost: stack.identity.url,
        },
      },
      heartbeatInterval: 'PT30S',
    });
    const path = await writeConfig(dir, config);
    agent = await startService({
      name: 'agent',
      script: CLI,
      args: ['--config', path],
      env: {
        PATH: process.env['PATH'],
        // The CA through the environment this time (the in-process tests use keyVault.caCertificateFile).
        NODE_EXTRA_CA_CERTS: stack.ca.caPath,
        AGENT_SECRET: tenant.agentClientSecret,
        AGENT_REPLIES_CONNECTION: tenant.sendConnectionString,
      },
      ready: /"event":"started"/,
    });
    const started = JSON.parse(
      agent
        .output()
        .split('\n')
        .find((l) => l.includes('"event":"started"'))!,
    ) as {
      healthUrl: string;
    };

    const heartbeat = await tenant.reply((r) => r.kind === 'heartbeat' && r.heartbeat.state === 'online');
    assert.equal(heartbeat.kind, 'heartbeat');

    const sealed = await tenant.seal({
      operation: 'reset',
      user: { kind: 'upn', value: 'alice@contoso.test' },
      newPassword: CANARY,
    });
    await tenant.send(sealed);
    assert.equal((await tenant.result(sealed.messageId)).result.outcome, 'succeeded');

    const health = await fetch(started.healthUrl);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, 'ok');

    await agent.stop('SIGTERM', 15_000);
    assert.equal(agent.child.exitCode, 0);
    const offline = await tenant.reply(
      (r) => r.kind === 'heartbeat' && r.heartbeat.state === 'going-offline',
    );
    assert.equal(offline.kind, 'heartbeat');

    const output = agent.output();
    for (const line of output.split('\n').filter(Boolean)) {
      assert.doesNotThrow(() => JSON.parse(line), `every line is JSON: ${line.slice(0, 80)}`);
    }
    for (const event of [
      '"event":"received"',
      '"event":"applied"',
      '"event":"replied"',
      '"event":"stopped"',
    ]) {
      assert.ok(output.includes(event), `the log has ${event}`);
    }
    assert.ok(!output.includes(CANARY), 'the password is never logged');
    assert.ok(!output.includes(tenant.agentClientSecret), 'the client secret is never logged');
    assert.ok(!output.includes(tenant.sendConnectionString.split('SharedAccessKey=')[1]!.split(';')[0]!));
  });
});
