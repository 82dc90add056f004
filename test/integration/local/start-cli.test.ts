/** `npm start`'s flags: --help prints the usage and starts nothing; an unknown flag is a usage error. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../support/app.js';

function start(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(REPO_ROOT, 'dist/local/start.js'), ...args],
      { cwd: REPO_ROOT, timeout: 20_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
    );
  });
}

test('--help prints the usage and exits 0, starting nothing', async () => {
  const { code, stdout, stderr } = await start(['--help']);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^Usage: npm start/);
  assert.match(stdout, /--emulators-only/);
  assert.doesNotMatch(stdout, /Demo agent|Functions host +http/); // the banner of a started stack
});

test('an unknown flag is a usage error (exit 2) that names it, not a stack trace', async () => {
  const { code, stderr } = await start(['--no-such-flag']);
  assert.equal(code, 2);
  assert.match(stderr, /^npm start: .*--no-such-flag/);
  assert.match(stderr, /Usage: npm start/);
  assert.doesNotMatch(stderr, /at .*\.js:\d+/);
});
