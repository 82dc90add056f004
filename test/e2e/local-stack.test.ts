/**
 * `npm start` as a person meets it: the supervisor prints its banner, the API answers, a token from
 * the token command is accepted, and stopping it (Ctrl-C, or killing it outright) leaves no process.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../local/process/ports.js';
import { REPO_ROOT } from '../support/app.js';
import { descendantsOf, waitUntilGone } from '../support/processes.js';

const run = promisify(execFile);
const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

interface Stack {
  child: ChildProcess;
  output: () => string;
  api: string;
  identityUrl: string;
  dataDir: string;
}

async function startStackOnce(): Promise<Stack> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'writeback-stack-'));
  dirs.push(dataDir);
  const ports = {
    host: await freePort(),
    identity: await freePort(),
    blob: await freePort(),
    queue: await freePort(),
    table: await freePort(),
    amqp: await freePort(),
    management: await freePort(),
    keyvault: await freePort(),
  };
  const child = spawn(
    process.execPath,
    [
      path.join(REPO_ROOT, 'dist/local/start.js'),
      '--data-dir',
      dataDir,
      '--host-port',
      String(ports.host),
      '--identity-port',
      String(ports.identity),
      '--blob-port',
      String(ports.blob),
      '--queue-port',
      String(ports.queue),
      '--table-port',
      String(ports.table),
      '--amqp-port',
      String(ports.amqp),
      '--management-port',
      String(ports.management),
      '--keyvault-port',
      String(ports.keyvault),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const deadline = Date.now() + 60_000;
  while (!output.includes('Ctrl-C stops everything')) {
    if (child.exitCode !== null) throw new StackStartError(output);
    if (Date.now() > deadline) assert.fail(`no banner within 60 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    child,
    output: () => output,
    api: `http://127.0.0.1:${ports.host}/api`,
    identityUrl: `https://127.0.0.1:${ports.identity}`,
    dataDir,
  };
}

class StackStartError extends Error {
  constructor(readonly output: string) {
    super(`npm start exited early:\n${output}`);
  }
}

/**
 * `npm start` with ports picked free just before: another test running at the same time can take
 * one of them before the stack binds it. Such a lost race is retried (twice at most); any other
 * early exit fails the test.
 */
async function startStack(): Promise<Stack> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startStackOnce();
    } catch (error) {
      const lostPortRace = error instanceof StackStartError && /EADDRINUSE/.test(error.output);
      if (!lostPortRace || attempt === 3) throw error;
    }
  }
}

test('npm start: banner, health, a token accepted, a demo reset works, Ctrl-C leaves nothing', async () => {
  const stack = await startStack();
  const pid = stack.child.pid!;
  const children = await descendantsOf(pid);
  try {
    assert.ok(
      children.length >= 6,
      `expected Azurite, identity provider, both emulators, host and agent, found ${children.length}`,
    );
    assert.match(stack.output(), /Functions host\s+http:\/\/127\.0\.0\.1:\d+\/api/);

    const health = await fetch(`${stack.api}/health`);
    assert.equal(health.status, 200);

    const { stdout: token } = await run(process.execPath, [
      path.join(REPO_ROOT, 'dist/local/identity/token-cli.js'),
      '--tenant',
      'contoso',
      '--user',
      'alice@contoso.test',
      '--issuer-url',
      stack.identityUrl,
      '--data-dir',
      path.join(stack.dataDir, 'identity'),
    ]);
    const me = await fetch(`${stack.api}/tenants/contoso/me`, {
      headers: { authorization: `Bearer ${token.trim()}` },
    });
    assert.equal(me.status, 200, await me.clone().text());
    assert.equal(((await me.json()) as { upn: string }).upn, 'alice@contoso.test');

    // The demo agent's signed heartbeats reach the replies function: the tenant goes online.
    let state = '';
    const deadline = Date.now() + 30_000;
    while (state !== 'online' && Date.now() < deadline) {
      const status = await fetch(`${stack.api}/tenants/contoso/writeback/status`, {
        headers: { authorization: `Bearer ${token.trim()}` },
      });
      state = ((await status.json()) as { state: string }).state;
      if (state !== 'online') await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(state, 'online', stack.output());

    // The demo works straight away: a reset of a demo user succeeds, and a policy failure is
    // answered with its reason (the demo policy: minimum length 10).
    const reset = (newPassword: string) =>
      fetch(`${stack.api}/tenants/contoso/me/password/reset`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token.trim()}`, 'content-type': 'application/json' },
        body: JSON.stringify({ newPassword }),
      });
    const succeeded = await reset('Demo-Reset-Passw0rd!');
    const answer = (await succeeded.json()) as { status?: string };
    assert.equal(succeeded.status, 200, JSON.stringify(answer));
    assert.equal(answer.status, 'succeeded');
    const refused = await reset('Sh0rt!');
    assert.equal(refused.status, 422);
    const problem = (await refused.json()) as { code?: string; reason?: string };
    assert.deepEqual([problem.code, problem.reason], ['PasswordPolicy', 'tooShort']);
  } finally {
    stack.child.kill('SIGINT');
  }
  const [code] = (await once(stack.child, 'exit')) as [number | null];
  assert.equal(code, 0, stack.output());
  assert.deepEqual(await waitUntilGone(children), [], `left behind:\n${stack.output()}`);
});

test('killing npm start outright still leaves no process behind', async () => {
  const stack = await startStack();
  const children = await descendantsOf(stack.child.pid!);
  assert.ok(children.length >= 6);
  stack.child.kill('SIGKILL');
  assert.deepEqual(await waitUntilGone(children), [], 'children outlived a killed supervisor');
});
