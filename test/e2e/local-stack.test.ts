/**
 * `npm start` as a person meets it: the supervisor prints its banner, the API answers, a token from
 * the token command is accepted, and stopping it (Ctrl-C, or killing it outright) leaves no process.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/app.js';
import { descendantsOf } from '../../local/process/descendants.js';
import { waitUntilGone } from '../support/processes.js';
import { startLocalStack, type LocalStack } from '../support/local-stack.js';

const run = promisify(execFile);
const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** `npm start` with every port 0; its data directory is removed after the tests. */
async function startStack(): Promise<LocalStack> {
  const stack = await startLocalStack();
  dirs.push(stack.dataDir);
  return stack;
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
