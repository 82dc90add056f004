/**
 * CORS on the local Functions host, as Core Tools (`--cors`, local.settings.json `Host.CORS`) and the
 * platform answer it: an allowed origin's preflight gets the method and headers it asks for, its
 * requests get Access-Control-Allow-Origin; any other origin gets none.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFunctionsHost, type FunctionsHost } from '../../../../local/functions-host/index.js';
import { createTestApp, type TestApp } from './app-dir.js';

const PORTAL = 'http://127.0.0.1:8080';

describe('local Functions host CORS', () => {
  let app: TestApp;
  let host: FunctionsHost;
  before(async () => {
    app = createTestApp({
      fixtures: ['http-app'],
      localSettings: { IsEncrypted: false, Values: {}, Host: { CORS: 'http://127.0.0.1:9000' } },
    });
    // --cors wins over Host.CORS, as in Core Tools.
    host = await startFunctionsHost({
      appDir: app.dir,
      port: 0,
      dataDir: app.dataDir,
      corsOrigins: [PORTAL],
    });
  });
  after(async () => {
    await host?.stop();
    app?.remove();
  });

  const preflight = (origin: string) =>
    fetch(`${host.url}/api/anything`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type,idempotency-key',
      },
    });

  it('answers an allowed origin’s preflight and requests', async () => {
    const answer = await preflight(PORTAL);
    assert.equal(answer.status, 204);
    assert.equal(answer.headers.get('access-control-allow-origin'), PORTAL);
    assert.equal(answer.headers.get('access-control-allow-methods'), 'POST');
    assert.equal(
      answer.headers.get('access-control-allow-headers'),
      'authorization,content-type,idempotency-key',
    );
    const request = await fetch(`${host.url}/api/nothing-here`, { headers: { origin: PORTAL } });
    assert.equal(request.status, 404);
    assert.equal(request.headers.get('access-control-allow-origin'), PORTAL);
  });

  it('gives another origin no CORS header', async () => {
    for (const origin of ['http://127.0.0.1:9000', 'http://evil.test']) {
      const answer = await preflight(origin);
      assert.equal(answer.headers.get('access-control-allow-origin'), null, origin);
      await answer.body?.cancel();
    }
  });
});
