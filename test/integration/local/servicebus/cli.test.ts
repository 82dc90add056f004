/** The emulator's command line: banner, readiness over IPC, and a clean exit on signals or orphaning. */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ServiceBusClient } from '@azure/service-bus';

const cli = fileURLToPath(new URL('../../../../local/servicebus/cli.js', import.meta.url));

interface Ready {
  ready: true;
  connectionString: string;
  amqpPort: number;
  managementPort: number;
}

function start(
  dir: string,
  args: string[] = [],
): { child: ChildProcess; ready: Promise<Ready>; output: () => string } {
  const child = fork(
    cli,
    ['--amqp-port', '0', '--management-port', '0', '--certs-dir', join(dir, 'certs'), ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const ready = new Promise<Ready>((resolve, reject) => {
    child.once('message', (message) => resolve(message as Ready));
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
  });
  return { child, ready, output: () => output };
}

const exitOf = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });

describe('Service Bus emulator CLI', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sb-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints a banner, serves the SDK and exits cleanly on SIGTERM', async () => {
    const { child, ready, output } = start(dir);
    const { connectionString, amqpPort } = await ready;
    assert.match(output(), /AMQP 1\.0 +amqp:\/\/127\.0\.0\.1:\d+/);
    assert.match(output(), /in memory only: a restart loses them/);
    assert.ok(output().includes(connectionString));
    assert.ok(connectionString.includes(`:${amqpPort};`));
    const client = new ServiceBusClient(connectionString, { retryOptions: { maxRetries: 0 } });
    const receiver = client.createReceiver('missing');
    await assert.rejects(receiver.peekMessages(1), /could not be found/);
    await client.close();
    child.kill('SIGTERM');
    assert.equal(await exitOf(child), 0);
  });

  it('exits when its parent goes away (IPC disconnect)', async () => {
    const { child, ready } = start(dir);
    await ready;
    child.disconnect();
    assert.equal(await exitOf(child), 0);
  });

  it('refuses a bad port and reports a missing config file', async () => {
    const badPort = start(dir, ['--amqp-port', 'seventy']);
    await assert.rejects(badPort.ready, /exited with 2/);
    const missing = start(dir, ['--config', join(dir, 'nope.json')]);
    await assert.rejects(missing.ready, /exited with 1.*cannot be read/s);
  });
});
