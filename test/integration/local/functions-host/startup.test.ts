/**
 * Starting and stopping the host: a broken app fails with the worker's message, the CLI prints its
 * ready line and stops cleanly on signals, waits for invocations in flight, and does not outlive its
 * parent.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startFunctionsHost } from '../../../../local/functions-host/index.js';
import { createTestApp } from './app-dir.js';
import { alive } from '../../../support/processes.js';

const CLI = fileURLToPath(new URL('../../../../local/functions-host/cli.js', import.meta.url));

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('start-up failures', () => {
  it('fails to start when an entry point throws while loading, naming the file and the error', async () => {
    const app = createTestApp({ fixtures: ['second-file', 'bad-import'] });
    try {
      await assert.rejects(
        startFunctionsHost({
          appDir: app.dir,
          port: 0,
          dataDir: app.dataDir,
          env: { FIXTURE_FAIL_AT_IMPORT: '1' },
        }),
        (err: Error) => {
          assert.match(err.message, /exited with code 1 before it was ready/);
          assert.match(
            err.message,
            /Worker was unable to load entry point "entry\/bad-import\.js": fixture failed to initialise/,
          );
          return true;
        },
      );
    } finally {
      app.remove();
    }
  });

  it('fails to start when package.json main matches no file', async () => {
    const app = createTestApp({ fixtures: [] });
    writeFileSync(
      path.join(app.dir, 'package.json'),
      JSON.stringify({ type: 'module', main: 'dist/functions/*.js' }),
    );
    try {
      await assert.rejects(
        startFunctionsHost({ appDir: app.dir, port: 0, dataDir: app.dataDir }),
        /Found zero files matching the supplied pattern/,
      );
    } finally {
      app.remove();
    }
  });

  it('fails to start when host.json is not version 2.0', async () => {
    const app = createTestApp({ fixtures: ['second-file'], hostJson: { version: '1.0' } });
    try {
      await assert.rejects(
        startFunctionsHost({ appDir: app.dir, port: 0, dataDir: app.dataDir }),
        /host\.json: "version" must be "2\.0"/,
      );
    } finally {
      app.remove();
    }
  });
});

describe('port in use', () => {
  it('fails to start with the Core Tools message when the port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    const app = createTestApp({ fixtures: ['second-file'] });
    try {
      await assert.rejects(
        startFunctionsHost({ appDir: app.dir, port, dataDir: app.dataDir }),
        new RegExp(`Port ${port} is unavailable`),
      );
    } finally {
      blocker.close();
      app.remove();
    }
  });
});

describe('CLI', () => {
  it('prints the functions and a ready line, and exits 0 on SIGINT', async () => {
    const app = createTestApp({ fixtures: ['second-file'] });
    const child = spawn(process.execPath, [CLI, '--app', app.dir, '--port', '0', '--data-dir', app.dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await until(
        () => /Functions host ready at http:\/\/127\.0\.0\.1:\d+ \(1 function\)/.test(out),
        15_000,
        'the ready line',
      );
      const url = /Functions host ready at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      assert.match(out, /fromSecondFile: \[GET\] http:\/\/127\.0\.0\.1:\d+\/api\/second/);
      assert.equal(await (await fetch(`${url}/api/second`)).text(), 'second file');
      child.kill('SIGINT');
      assert.equal(await exit, 0);
      assert.match(out, /Host stopped\./);
    } finally {
      child.kill('SIGKILL');
      app.remove();
    }
  });

  it('rejects a bad --port with usage', async () => {
    const child = spawn(process.execPath, [CLI, '--app', '.', '--port', 'seventy'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    assert.equal(code, 1);
    assert.match(err, /--port must be a port number/);
  });
});

describe('stopping', () => {
  it('lets an invocation in flight finish, then exits 0', async () => {
    const app = createTestApp({ fixtures: ['http-app'] });
    const host = await startFunctionsHost({ appDir: app.dir, port: 0, dataDir: app.dataDir });
    try {
      const pending = fetch(`${host.url}/api/slow/600`);
      await host.waitForOutput((o) => o.includes('[slow] slow started'));
      const stopped = host.stop();
      const res = await pending;
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { slept: 600 });
      assert.equal(await stopped, 0);
      assert.match(host.output(), /Executed 'Functions\.slow' \(Succeeded/);
      assert.match(host.output(), /fixture: appTerminate hook ran/);
    } finally {
      await host.stop();
      app.remove();
    }
  });

  it('exits by itself when its parent process dies', async () => {
    const app = createTestApp({ fixtures: ['second-file'] });
    // A parent that starts the host, reports its pid, then is killed without a chance to clean up.
    const parentScript = `
      const { spawn } = require('node:child_process');
      const child = spawn(process.execPath, ${JSON.stringify([CLI, '--app', app.dir, '--port', '0', '--data-dir', app.dataDir])}, { stdio: ['ignore', 'pipe', 'inherit'] });
      child.stdout.on('data', (d) => { if (String(d).includes('Functions host ready')) console.log('HOST_PID=' + child.pid); });
    `;
    const parent = spawn(process.execPath, ['-e', parentScript], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    parent.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    let hostPid = 0;
    try {
      await until(() => /HOST_PID=\d+/.test(out), 15_000, 'the host to start');
      hostPid = Number(/HOST_PID=(\d+)/.exec(out)?.[1]);
      assert.ok(alive(hostPid));
      parent.kill('SIGKILL');
      await until(() => !alive(hostPid), 10_000, 'the orphaned host to exit');
    } finally {
      parent.kill('SIGKILL');
      if (hostPid && alive(hostPid)) process.kill(hostPid, 'SIGKILL');
      app.remove();
    }
  });
});
