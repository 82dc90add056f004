/**
 * `npm start`'s stack as the tests start it: `dist/local/start.js` with every port 0 (each service binds
 * a free one and the banner says which) and a temporary data directory.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './app.js';

export interface LocalStack {
  child: ChildProcess;
  output: () => string;
  api: string;
  identityUrl: string;
  portalUrl: string;
  dataDir: string;
}

const SERVICES = ['host', 'identity', 'blob', 'queue', 'table', 'amqp', 'management', 'keyvault', 'portal'];

/** Starts the stack and waits for its banner (60 s at most); the caller stops it and removes `dataDir`. */
export async function startLocalStack(): Promise<LocalStack> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'writeback-stack-'));
  const args = [path.join(REPO_ROOT, 'dist/local/start.js'), '--data-dir', dataDir];
  for (const name of SERVICES) args.push(`--${name}-port`, '0');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let banner: () => void = () => undefined;
  const shown = new Promise<void>((resolve) => (banner = resolve));
  const collect = (chunk: string) => {
    output += chunk;
    if (output.includes('Ctrl-C stops everything')) banner();
  };
  child.stdout?.setEncoding('utf8').on('data', collect);
  child.stderr?.setEncoding('utf8').on('data', collect);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    shown,
    new Promise((_, reject) =>
      child.once('exit', () => reject(new Error(`npm start exited early:\n${output}`))),
    ),
    new Promise(
      (_, reject) =>
        (timer = setTimeout(() => reject(new Error(`no banner within 60 s:\n${output}`)), 60_000)),
    ),
  ]).finally(() => clearTimeout(timer));
  const api = /Functions host\s+(http:\/\/\S+\/api)/.exec(output)?.[1];
  const identityUrl = /Identity\s+(https:\/\/\S+)/.exec(output)?.[1];
  const portalUrl = /Portal\s+(http:\/\/\S+)/.exec(output)?.[1];
  assert.ok(
    api && identityUrl && portalUrl,
    `the banner names the API, identity provider and portal:\n${output}`,
  );
  return { child, output: () => output, api, identityUrl, portalUrl, dataDir };
}
