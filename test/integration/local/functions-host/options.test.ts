/**
 * Host options: route prefix from host.json, the request body limit, key overrides.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startFunctionsHost, type FunctionsHost } from '../../../../local/functions-host/index.js';
import { createTestApp, type TestApp } from './app-dir.js';

/** Sends `size` bytes in chunks without a Content-Length (chunked encoding). */
function postChunked(port: number, path: string, size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-type': 'text/plain' } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) =>
      err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err),
    );
    const chunk = Buffer.alloc(256, 'a');
    for (let sent = 0; sent < size; sent += chunk.length)
      req.write(chunk.subarray(0, Math.min(chunk.length, size - sent)));
    req.end();
  });
}

describe('custom route prefix, body limit and keys', () => {
  let app: TestApp;
  let host: FunctionsHost;

  before(async () => {
    app = createTestApp({
      fixtures: ['http-app'],
      hostJson: { extensions: { http: { routePrefix: 'v1' } } },
    });
    host = await startFunctionsHost({
      appDir: app.dir,
      port: 0,
      dataDir: app.dataDir,
      maxRequestBodyBytes: 1024,
      keys: { masterKey: 'test-master-key', functionKey: 'test-function-key' },
    });
  });

  after(async () => {
    await host?.stop();
    app?.remove();
  });

  it('serves routes under host.json extensions.http.routePrefix only', async () => {
    const res = await fetch(`${host.url}/v1/items/42`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { params: { id: '42' } });
    assert.equal((await fetch(`${host.url}/api/items/42`)).status, 404);
    assert.equal(host.functions.find((f) => f.name === 'itemById')?.trigger, 'http');
  });

  it('accepts a body at the limit and refuses one over it with 413', async () => {
    const ok = await fetch(`${host.url}/v1/echo`, { method: 'POST', body: 'a'.repeat(1024) });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { text: string }).text.length, 1024);
    assert.equal(
      (await fetch(`${host.url}/v1/echo`, { method: 'POST', body: 'a'.repeat(1025) })).status,
      413,
    );
    // Without a Content-Length the limit applies while the body streams in.
    assert.equal(await postChunked(host.port, '/v1/echo', 4096), 413);
    const out = host.output();
    assert.ok(
      !out.includes("Executed 'Functions.echo' (Failed"),
      'an oversized request never reaches the function',
    );
  });

  it('uses the keys given as options', async () => {
    assert.deepEqual(host.keys, { masterKey: 'test-master-key', functionKey: 'test-function-key' });
    assert.equal((await fetch(`${host.url}/v1/secure?code=test-function-key`)).status, 200);
    assert.equal((await fetch(`${host.url}/v1/admin-only?code=test-function-key`)).status, 401);
    assert.equal((await fetch(`${host.url}/v1/admin-only?code=test-master-key`)).status, 200);
  });
});

describe('empty route prefix', () => {
  it('serves routes at the root when routePrefix is ""', async () => {
    const app = createTestApp({
      fixtures: ['second-file'],
      hostJson: { extensions: { http: { routePrefix: '' } } },
    });
    const host = await startFunctionsHost({ appDir: app.dir, port: 0, dataDir: app.dataDir });
    try {
      assert.equal(await (await fetch(`${host.url}/second`)).text(), 'second file');
      assert.equal((await fetch(`${host.url}/api/second`)).status, 404);
    } finally {
      await host.stop();
      app.remove();
    }
  });
});

describe('port from local.settings.json', () => {
  it('listens on Host.LocalHttpPort when no port is given', async () => {
    const free = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const app = createTestApp({
      fixtures: ['second-file'],
      localSettings: { IsEncrypted: false, Values: {}, Host: { LocalHttpPort: free } },
    });
    const host = await startFunctionsHost({ appDir: app.dir, dataDir: app.dataDir });
    try {
      assert.equal(host.port, free);
      assert.equal(await (await fetch(`http://127.0.0.1:${free}/api/second`)).text(), 'second file');
    } finally {
      await host.stop();
      app.remove();
    }
  });
});
