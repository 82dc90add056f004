/** The compiled commands: `npm run token` (token-cli.js) and the provider process of `npm start` (server-cli.js). */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createTokenValidator, type TokenValidator } from '../../../../shared/auth/index.js';
import { startIdentityProvider, type IdentityProvider } from '../../../../local/identity/index.js';

const TOKEN_CLI = fileURLToPath(new URL('../../../../local/identity/token-cli.js', import.meta.url));
const SERVER_CLI = fileURLToPath(new URL('../../../../local/identity/server-cli.js', import.meta.url));

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function runTokenCli(args: string[]): Promise<Outcome> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [TOKEN_CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('token command', () => {
  let dataDir: string;
  let provider: IdentityProvider;
  let validator: TokenValidator;
  let common: string[];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'identity-cli-'));
    provider = await startIdentityProvider({ port: 0, dataDir });
    validator = createTokenValidator({
      issuerTemplate: provider.issuerTemplate,
      audience: 'api://writeback',
    });
    common = ['--data-dir', dataDir, '--issuer-url', provider.url];
  });
  after(async () => {
    await provider.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('prints only a token, which the running provider’s key validates', async () => {
    const { code, stdout, stderr } = await runTokenCli([
      ...common,
      '--tenant',
      'contoso',
      '--user',
      'admin@contoso.test',
      '--admin',
      '--roles',
      'Reader, Writer',
      '--sid',
      'S-1-5-21-1004336348-1177238915-682003330-500',
    ]);
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
    assert.match(stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const caller = await validator.authenticate(`Bearer ${stdout.trim()}`, 'contoso');
    assert.equal(caller.upn, 'admin@contoso.test');
    assert.equal(caller.onPremisesSid, 'S-1-5-21-1004336348-1177238915-682003330-500');
    assert.deepEqual(caller.roles.toSorted(), ['Reader', 'Writeback.Admin', 'Writer']);
  });

  it('honours --audience, --oid and --lifetime', async () => {
    const oid = '11111111-2222-4333-8444-555555555555';
    const { code, stdout } = await runTokenCli([
      ...common,
      '--tenant=contoso',
      '--user=bob@contoso.test',
      '--audience=api://other',
      `--oid=${oid}`,
      '--lifetime=60',
    ]);
    assert.equal(code, 0);
    const claims = JSON.parse(Buffer.from(stdout.split('.')[1]!, 'base64url').toString('utf8')) as Record<
      string,
      number | string
    >;
    assert.equal(claims.aud, 'api://other');
    assert.equal(claims.oid, oid);
    assert.equal(Number(claims.exp) - Number(claims.nbf), 60);
    await assert.rejects(validator.authenticate(`Bearer ${stdout.trim()}`, 'contoso'), /another audience/);
  });

  it('exits 2 with the usage on stderr for bad arguments, printing nothing on stdout', async () => {
    const bad = [
      [],
      ['--user', 'alice@contoso.test'],
      ['--tenant', 'contoso'],
      ['--tenant', 'bad tenant', '--user', 'alice@contoso.test'],
      ['--tenant', 'contoso', '--user', 'alice'],
      ['--tenant', 'contoso', '--user', 'alice@contoso.test', '--lifetime', '-5'],
      ['--tenant', 'contoso', '--user', 'alice@contoso.test', '--lifetime=-5'],
      ['--tenant', 'contoso', '--user', 'alice@contoso.test', '--lifetime=0'],
      ['--tenant', 'contoso', '--user', 'alice@contoso.test', '--lifetime=86401'],
      ['--tenant', 'contoso', '--user', 'alice@contoso.test', '--lifetime', '1h'],
      ['--tenant', 'contoso', '--user', 'alice@contoso.test', '--sid', 'not-a-sid'],
      ['--tenant', 'contoso', '--user', 'alice@contoso.test', '--oid', '42'],
      ['--tenant', 'contoso', '--user', 'alice@contoso.test', '--roles', 'a,,b'],
      ['--tenant', 'contoso', '--user', 'alice@contoso.test', '--issuer-url', 'ftp://x'],
      ['--tenant', 'contoso', '--user', 'alice@contoso.test', '--unknown'],
      ['--tenant', 'contoso', '--user', 'alice@contoso.test', 'positional'],
      ['--tenant'],
    ];
    // One after the other: in parallel they only compete for the CPU.
    for (const args of bad) {
      const { code, stdout, stderr } = await runTokenCli([...common, ...args]);
      assert.equal(code, 2, `exit code for ${args.join(' ')}`);
      assert.equal(stdout, '', `stdout for ${args.join(' ')}`);
      assert.match(stderr, /^token: [\s\S]+?\n\nUsage: npm run token/, `stderr for ${args.join(' ')}`);
    }
  });

  it('prints the usage on stdout for --help and exits 0', async () => {
    const { code, stdout } = await runTokenCli(['--help']);
    assert.equal(code, 0);
    assert.match(stdout, /^Usage: npm run token/);
  });
});

describe('identity provider process', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'identity-server-'));
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  /** Starts server-cli.js on a free port and waits for its ready message. */
  async function startServer(
    extraArgs: string[] = [],
  ): Promise<{ child: ChildProcess; url: string; stdout: () => string }> {
    const child = spawn(process.execPath, [SERVER_CLI, '--port', '0', '--data-dir', dataDir, ...extraArgs], {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const [message] = (await once(child, 'message')) as [
      { type: string; url: string; issuerTemplate: string },
    ];
    assert.equal(message.type, 'ready');
    assert.equal(message.issuerTemplate, `${message.url}/{tenantId}/v2.0`);
    return { child, url: message.url, stdout: () => stdout };
  }

  it('serves discovery, prints a ready line and exits 0 on SIGTERM', async () => {
    const { child, url, stdout } = await startServer();
    const exited = once(child, 'exit');
    try {
      const response = await fetch(`${url}/contoso/v2.0/.well-known/openid-configuration`);
      assert.equal(response.status, 200);
      assert.equal(((await response.json()) as { issuer: string }).issuer, `${url}/contoso/v2.0`);
      assert.match(stdout(), /identity provider ready on http:\/\/127\.0\.0\.1:\d+/);
    } finally {
      child.kill('SIGTERM');
    }
    assert.deepEqual(await exited, [0, null]);
  });

  it('exits 0 on SIGINT', async () => {
    const { child } = await startServer();
    const exited = once(child, 'exit');
    child.kill('SIGINT');
    assert.deepEqual(await exited, [0, null]);
  });

  it('exits when its parent goes away (IPC channel closed)', async () => {
    const { child, url } = await startServer();
    const exited = once(child, 'exit');
    child.disconnect();
    assert.deepEqual(await exited, [0, null]);
    await assert.rejects(fetch(`${url}/contoso/discovery/v2.0/keys`));
  });

  it('serves HTTPS with a certificate of the local CA given --tls-ca-dir', async () => {
    const certDir = join(dataDir, 'certs');
    const { child, url } = await startServer(['--tls-ca-dir', certDir]);
    const exited = once(child, 'exit');
    try {
      assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const ca = await readFile(join(certDir, 'ca.pem'), 'utf8');
      const body = await new Promise<string>((resolve, reject) => {
        https
          .get(`${url}/contoso/v2.0/.well-known/openid-configuration`, { ca }, (response) => {
            let text = '';
            response.on('data', (chunk: Buffer) => (text += chunk.toString()));
            response.on('end', () => resolve(text));
          })
          .on('error', reject);
      });
      assert.equal((JSON.parse(body) as { issuer: string }).issuer, `${url}/contoso/v2.0`);
    } finally {
      child.kill('SIGTERM');
    }
    assert.deepEqual(await exited, [0, null]);
  });

  it('exits 2 on bad arguments', async () => {
    const child = spawn(process.execPath, [SERVER_CLI, '--port', 'eighty'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = await once(child, 'close');
    assert.equal(code, 2);
    assert.match(stderr, /--port/);
  });
});
