/**
 * Every command-line entry point that package.json's scripts run (`npm start`, `npm run agent`, …)
 * checks the Node.js version before anything else: its first import is the check, and run on a
 * Node.js that reports 20.20.2 it stops with exit code 1 and the message, having done nothing else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../support/app.js';
import { unsupportedNodeMessage } from '../../../shared/runtime/node-version.js';

const scripts = (
  JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  }
).scripts;

/** The compiled files that the scripts start with `node dist/….js`. */
const entryPoints = [
  ...new Set(
    Object.values(scripts).flatMap((line) => [...line.matchAll(/\bnode (dist\/\S+\.js)/g)].map((m) => m[1]!)),
  ),
].sort();

/** Makes process.versions.node report Node.js 20 before the program's own modules load. */
const PRETEND_NODE_20 =
  'data:text/javascript,Object.defineProperty(process,"versions",{value:{...process.versions,node:"20.20.2"}})';

function run(
  entryPoint: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', PRETEND_NODE_20, path.join(REPO_ROOT, entryPoint), ...args],
      { cwd: REPO_ROOT, env: { PATH: process.env['PATH'] }, timeout: 20_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
      },
    );
  });
}

test('the scripts start, run the agent, the emulators, the token command, the infra check, the benchmarks and the portal build', () => {
  assert.deepEqual(entryPoints, [
    'dist/agent/cli.js',
    'dist/bench/run.js',
    'dist/infra/check/cli.js',
    'dist/local/identity/token-cli.js',
    'dist/local/start.js',
    'dist/portal/build-site.js',
  ]);
  assert.match(scripts['start']!, /node dist\/local\/start\.js/);
  assert.match(scripts['emulators']!, /node dist\/local\/start\.js --emulators-only/);
  assert.match(scripts['agent']!, /node dist\/agent\/cli\.js/);
});

test("each entry point's first import is the Node.js version check", () => {
  for (const entryPoint of entryPoints) {
    const source = readFileSync(path.join(REPO_ROOT, entryPoint), 'utf8');
    const firstImport = /^import\b.*$/m.exec(source)?.[0];
    assert.match(
      firstImport ?? '',
      /^import '(\.\.\/)+shared\/runtime\/require-supported-node\.js';$/,
      entryPoint,
    );
  }
});

// Arguments that would make each program fail fast on its own if the check did not stop it first, so
// that a broken check fails this test instead of starting a stack. The benchmarks take no arguments
// and would start real work, so they are covered by the first-import test above only.
const runs: Record<string, string[]> = {
  'dist/agent/cli.js': ['--no-such-option'],
  'dist/local/start.js': ['--emulators-only', '--no-such-option'],
  'dist/local/identity/token-cli.js': ['--no-such-option'],
};

for (const [entryPoint, args] of Object.entries(runs)) {
  test(`${entryPoint} on Node.js 20 stops with exit code 1 and says how to get 22`, async () => {
    const { code, stdout, stderr } = await run(entryPoint, args);
    assert.equal(code, 1);
    assert.equal(stdout, '', 'nothing else ran');
    assert.equal(stderr, `${unsupportedNodeMessage('20.20.2')!}\n`);
  });
}
