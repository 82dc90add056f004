/**
 * The local Functions host serving a real v4 app (test/fixtures/functions-host/http-app.ts): routes as
 * the real host matches them, methods, keys, requests and responses through the library, failures and
 * the invocation log.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFunctionsHost, type FunctionsHost } from '../../../../local/functions-host/index.js';
import { createTestApp, type TestApp } from './app-dir.js';

let app: TestApp;
let host: FunctionsHost;

before(async () => {
  app = createTestApp({
    fixtures: ['http-app', 'second-file'],
    localSettings: {
      IsEncrypted: false,
      Values: { FIXTURE_A: 'from-local-settings', FIXTURE_B: 'from-local-settings' },
    },
  });
  host = await startFunctionsHost({
    appDir: app.dir,
    port: 0,
    dataDir: app.dataDir,
    env: { FIXTURE_B: 'from-environment' },
  });
});

after(async () => {
  await host?.stop();
  app?.remove();
});

async function get(
  pathAndQuery: string,
  init?: RequestInit,
): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(`${host.url}${pathAndQuery}`, init);
  return { status: res.status, body: await res.text(), headers: res.headers };
}

async function params(pathAndQuery: string): Promise<Record<string, string>> {
  const res = await get(pathAndQuery);
  assert.equal(res.status, 200, `${pathAndQuery} -> ${res.status}`);
  return (JSON.parse(res.body) as { params: Record<string, string> }).params;
}

/** A request with a raw Content-Length header, which fetch will not send. */
function rawRequest(options: http.RequestOptions, body?: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: host.port, ...options }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err: NodeJS.ErrnoException) =>
      err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err),
    );
    if (body) req.write(body);
    req.end();
  });
}

describe('route templates', () => {
  it('binds parameters and applies the int constraint', async () => {
    assert.deepEqual(await params('/api/items/42'), { id: '42' });
    // "abc" is not an int, so the next route (items/{name}) takes it.
    assert.deepEqual(await params('/api/items/abc'), { name: 'abc' });
  });

  it('prefers a literal segment over a parameter, whatever the registration order', async () => {
    const res = await get('/api/items/special');
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { special: true });
  });

  it('matches literals case-insensitively, ignores a trailing slash and decodes values', async () => {
    assert.deepEqual(JSON.parse((await get('/API/Items/SPECIAL/')).body), { special: true });
    assert.deepEqual(await params('/api/items/hello%20world'), { name: 'hello world' });
  });

  it('handles optional parameters and defaults', async () => {
    assert.deepEqual(await params('/api/opt/1'), { a: '1' });
    assert.deepEqual(await params('/api/opt/1/2'), { a: '1', b: '2' });
    assert.equal((await get('/api/opt')).status, 404);
    assert.deepEqual(await params('/api/lang'), { lang: 'en' });
    assert.deepEqual(await params('/api/lang/fr'), { lang: 'fr' });
  });

  it('applies guid, alpha, length, regex and range constraints', async () => {
    const guid = '0f8fad5b-d9cb-469f-a165-70867728950e';
    assert.deepEqual(await params(`/api/guid/${guid}`), { g: guid });
    assert.equal((await get('/api/guid/not-a-guid')).status, 404);
    assert.deepEqual(await params('/api/alpha/abc'), { s: 'abc' });
    assert.equal((await get('/api/alpha/a')).status, 404);
    assert.equal((await get('/api/alpha/abcde')).status, 404);
    assert.equal((await get('/api/alpha/ab1')).status, 404);
    assert.deepEqual(await params('/api/code/ABC1'), { c: 'ABC1' });
    // ASP.NET Core's regex constraint ignores case.
    assert.deepEqual(await params('/api/code/abc1'), { c: 'abc1' });
    assert.equal((await get('/api/code/ABCD1')).status, 404);
    assert.deepEqual(await params('/api/page/10'), { n: '10' });
    assert.equal((await get('/api/page/11')).status, 404);
    assert.equal((await get('/api/page/0')).status, 404);
  });

  it('binds catch-all and complex segments', async () => {
    assert.deepEqual(await params('/api/files/a/b%20c/d.txt'), { path: 'a/b c/d.txt' });
    assert.deepEqual(await params('/api/files'), {});
    assert.deepEqual(await params('/api/download/archive.tar.gz'), { name: 'archive.tar', ext: 'gz' });
    assert.deepEqual(await params('/api/download/readme'), { name: 'readme' });
  });

  it('routes a function without a route at its name', async () => {
    assert.equal((await get('/api/DefaultRouted')).body, 'default route');
    assert.equal((await get('/api/defaultrouted')).body, 'default route');
  });

  it('loads every file that package.json main matches', async () => {
    assert.equal((await get('/api/second')).body, 'second file');
  });
});

describe('404 and methods', () => {
  it('answers an unknown path with 404 and an empty body', async () => {
    const res = await get('/api/nothing-here');
    assert.equal(res.status, 404);
    assert.equal(res.body, '');
    assert.equal((await get('/nothing')).status, 404);
  });

  it('answers a known route with a wrong method with 404, as the real host does (not 405)', async () => {
    const res = await get('/api/echo');
    assert.equal(res.status, 404);
    assert.equal(res.body, '');
    assert.equal((await get('/api/items/special', { method: 'HEAD' })).status, 404);
    assert.equal((await get('/api/items/42', { method: 'POST', body: 'x' })).status, 404);
  });

  it('accepts any method when the function lists none', async () => {
    const res = await get('/api/any', { method: 'PATCH', body: '{}' });
    assert.deepEqual(JSON.parse(res.body), { method: 'PATCH' });
  });
});

describe('keys', () => {
  it('creates the keys file in the data directory on first start', () => {
    const file = JSON.parse(readFileSync(path.join(app.dataDir, 'secrets', 'host.json'), 'utf8')) as {
      masterKey: { value: string };
      functionKeys: { name: string; value: string }[];
    };
    assert.equal(file.masterKey.value, host.keys.masterKey);
    assert.equal(file.functionKeys.find((k) => k.name === 'default')?.value, host.keys.functionKey);
    assert.ok(host.keys.masterKey.length >= 40);
    assert.notEqual(host.keys.masterKey, host.keys.functionKey);
  });

  it('requires a key on a function-level route', async () => {
    assert.equal((await get('/api/secure')).status, 401);
    const wrong = await get('/api/secure', { headers: { 'x-functions-key': 'not-the-key' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body, '');
    assert.equal((await get('/api/secure?code=not-the-key')).status, 401);
  });

  it('accepts the function key in x-functions-key or code, and the master key', async () => {
    assert.equal(
      (await get('/api/secure', { headers: { 'x-functions-key': host.keys.functionKey } })).status,
      200,
    );
    assert.equal((await get(`/api/secure?code=${encodeURIComponent(host.keys.functionKey)}`)).status, 200);
    assert.equal(
      (await get('/api/secure', { headers: { 'x-functions-key': host.keys.masterKey } })).status,
      200,
    );
  });

  it("accepts a function's own keys from secrets/<function>.json on that function only", async () => {
    writeFileSync(
      path.join(app.dataDir, 'secrets', 'secure.json'),
      JSON.stringify({ keys: [{ name: 'partner', value: 'partner-key-for-secure' }] }),
    );
    assert.equal(
      (await get('/api/secure', { headers: { 'x-functions-key': 'partner-key-for-secure' } })).status,
      200,
    );
    assert.equal(
      (await get('/api/admin-only', { headers: { 'x-functions-key': 'partner-key-for-secure' } })).status,
      401,
    );
  });

  it('accepts only the master key on an admin-level route', async () => {
    assert.equal(
      (await get('/api/admin-only', { headers: { 'x-functions-key': host.keys.functionKey } })).status,
      401,
    );
    assert.equal(
      (await get('/api/admin-only', { headers: { 'x-functions-key': host.keys.masterKey } })).status,
      200,
    );
  });
});

describe('requests and responses', () => {
  it('passes method, url, query and headers through the library HttpRequest', async () => {
    const res = await get('/api/echo?x=1&x=2&empty=&name=a%20b', {
      method: 'POST',
      headers: { 'x-test': 'header value', 'content-type': 'text/plain' },
      body: 'hello body',
    });
    assert.equal(res.status, 200);
    const echoed = JSON.parse(res.body) as Record<string, unknown>;
    assert.equal(echoed.method, 'POST');
    assert.equal(echoed.url, `${host.url}/api/echo?x=1&x=2&empty=&name=a%20b`);
    // The host hands repeated query keys over joined with ',' (ASP.NET StringValues).
    assert.deepEqual(echoed.query, { x: '1,2', empty: '', name: 'a b' });
    assert.equal(echoed.header, 'header value');
    assert.equal(echoed.contentType, 'text/plain');
    assert.equal(echoed.text, 'hello body');
  });

  it('round-trips JSON bodies', async () => {
    const payload = { user: 'alice@contoso.test', list: [1, 2, 3], nested: { ok: true } };
    const res = await get('/api/echo/json', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(JSON.parse(res.body), { received: payload });
  });

  it('round-trips binary bodies byte for byte', async () => {
    const bytes = randomBytes(4096);
    const res = await fetch(`${host.url}/api/echo/binary`, { method: 'POST', body: bytes });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
  });

  it('returns the status, headers and cookies the function sets', async () => {
    const res = await get('/api/status/201');
    assert.equal(res.status, 201);
    assert.equal(res.body, 'status 201');
    assert.equal(res.headers.get('x-custom'), 'yes');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const cookies = res.headers.getSetCookie();
    assert.equal(cookies.length, 2);
    assert.equal(cookies[0], 'session=abc%20123; path=/api; secure; samesite=strict; httponly');
    assert.equal(cookies[1], 'theme=dark; max-age=3600; path=/');
    assert.equal((await get('/api/status/418')).status, 418);
  });

  it('answers 204 when the function returns nothing', async () => {
    const res = await get('/api/things/7', { method: 'DELETE' });
    assert.equal(res.status, 204);
    assert.equal(res.body, '');
  });

  it('lets preInvocation hooks replace the handler', async () => {
    assert.deepEqual(JSON.parse((await get('/api/hooked')).body), { replacedByHook: true });
  });

  it('refuses a body whose declared length is over the default 100 MB limit with 413', async () => {
    const status = await rawRequest(
      {
        method: 'POST',
        path: '/api/echo',
        headers: { 'content-length': String(104_857_601), 'content-type': 'text/plain' },
      },
      Buffer.from('x'),
    );
    assert.equal(status, 413);
  });
});

describe('failures and logs', () => {
  it('answers 500 with an empty body when the function throws, and logs Failed', async () => {
    const res = await get('/api/boom');
    assert.equal(res.status, 500);
    assert.equal(res.body, '');
    const out = await host.waitForOutput((o) => o.includes("Executed 'Functions.boom' (Failed"));
    assert.match(out, /Executed 'Functions\.boom' \(Failed, Id=[0-9a-f-]{36}, Duration=\d+ms\)/);
    assert.match(out, /kaboom/);
  });

  it('answers 500 when the function returns something that is not an HTTP response', async () => {
    const res = await get('/api/bad-return');
    assert.equal(res.status, 500);
    await host.waitForOutput((o) => o.includes("Executed 'Functions.badReturn' (Failed"));
  });

  it('logs one line per invocation with its id, and the function’s own lines with its name', async () => {
    const res = await get('/api/logs');
    const { invocationId, functionName } = JSON.parse(res.body) as {
      invocationId: string;
      functionName: string;
    };
    assert.equal(functionName, 'logs');
    const out = await host.waitForOutput((o) => o.includes(`Id=${invocationId}`));
    assert.match(
      out,
      new RegExp(`Executed 'Functions\\.logs' \\(Succeeded, Id=${invocationId}, Duration=\\d+ms\\)`),
    );
    assert.equal(out.split(`Id=${invocationId}`).length - 1, 1, 'exactly one line for the invocation');
    assert.match(out, /\[logs\] hello from the logs function/);
    assert.match(out, /\[logs\] warning: a warning line/);
  });

  it('never logs request bodies or headers', async () => {
    const secret = `P@ssw0rd-${randomBytes(6).toString('hex')}`;
    const token = `token-${randomBytes(6).toString('hex')}`;
    await get(`/api/echo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ newPassword: secret }),
    });
    await get('/api/boom', { headers: { authorization: `Bearer ${token}` } });
    const out = await host.waitForOutput((o) => (o.match(/Functions\.boom' \(Failed/g) ?? []).length >= 2);
    assert.ok(!out.includes(secret), 'the body must not be logged');
    assert.ok(!out.includes(token), 'headers must not be logged');
  });
});

describe('settings', () => {
  it('puts local.settings.json Values into the environment, existing variables winning', async () => {
    assert.deepEqual(JSON.parse((await get('/api/settings/FIXTURE_A')).body), {
      value: 'from-local-settings',
    });
    assert.deepEqual(JSON.parse((await get('/api/settings/FIXTURE_B')).body), { value: 'from-environment' });
    assert.match(
      host.output(),
      /Skipping 'FIXTURE_B' from local settings as it's already defined in current environment variables\./,
    );
  });
});

describe('app hooks', () => {
  it('ran the appStart hooks before serving', async () => {
    assert.deepEqual(JSON.parse((await get('/api/app-started')).body), { appStarted: true });
  });
});

describe('functions list', () => {
  it('reports each function with its trigger and URL', () => {
    const secure = host.functions.find((f) => f.name === 'secure');
    assert.deepEqual(secure, {
      name: 'secure',
      trigger: 'http',
      url: `${host.url}/api/secure`,
      route: 'api/secure',
      methods: ['GET'],
      authLevel: 'function',
    });
    assert.match(host.output(), /itemById: \[GET\] http:\/\/127\.0\.0\.1:\d+\/api\/items\/\{id:int\}/);
  });
});
