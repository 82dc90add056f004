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
import { REPO_ROOT } from '../support/app.js';
import { descendantsOf } from '../../local/process/descendants.js';
import { waitUntilGone } from '../support/processes.js';

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

/** `npm start` with every port 0: each service binds a free one and the banner says which. */
async function startStack(): Promise<Stack> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'writeback-stack-'));
  dirs.push(dataDir);
  const args = [path.join(REPO_ROOT, 'dist/local/start.js'), '--data-dir', dataDir];
  for (const name of ['host', 'identity', 'blob', 'queue', 'table', 'amqp', 'management', 'keyvault'])
    args.push(`--${name}-port`, '0');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const deadline = Date.now() + 60_000;
  while (!output.includes('Ctrl-C stops everything')) {
    if (child.exitCode !== null) assert.fail(`npm start exited early:\n${output}`);
    if (Date.now() > deadline) assert.fail(`no banner within 60 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const api = /Functions host\s+(http:\/\/\S+\/api)/.exec(output)?.[1];
  const identityUrl = /Identity\s+(https:\/\/\S+)/.exec(output)?.[1];
  assert.ok(api && identityUrl, `the banner names the API and the identity provider:\n${output}`);
  return { child, output: () => output, api, identityUrl, dataDir };
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
