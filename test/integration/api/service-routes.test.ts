import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startRealApp, type AppUnderTest } from '../../support/app.js';

let app: AppUnderTest;
before(async () => {
  app = await startRealApp();
});
after(async () => {
  await app?.stop();
});

test('GET /api/health answers 200 with the liveness report', async () => {
  const response = await fetch(`${app.api}/health`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  const body = (await response.json()) as { status: string; version: string; time: string };
  assert.equal(body.status, 'ok');
  assert.match(body.version, /^\d+\.\d+\.\d+$/);
  assert.ok(!Number.isNaN(Date.parse(body.time)));
});

test('GET /api/openapi.json is a valid OpenAPI 3.1 document of the served routes', async () => {
  const response = await fetch(`${app.api}/openapi.json`);
  assert.equal(response.status, 200);
  const document = (await response.json()) as { openapi: string; paths: Record<string, unknown> };
  assert.equal(document.openapi, '3.1.0');
  const result = await new Validator().validate(document as unknown as Parameters<Validator['validate']>[0]);
  assert.equal(result.valid, true, JSON.stringify(result.errors));
  // Every documented path is served by the host (no drift between document and registration).
  const served = app.host.functions.flatMap((f) => (f.trigger === 'http' ? [`/${f.route}`] : []));
  for (const path of Object.keys(document.paths)) {
    assert.ok(served.includes(path), `${path} is documented but not served (served: ${served.join(', ')})`);
  }
});

test('an unknown route and a wrong method answer 404, as the real host does', async () => {
  assert.equal((await fetch(`${app.api}/nothing-here`)).status, 404);
  // The real host has no 405: a route whose methods do not match is not a match (azure-functions-host#10098).
  assert.equal((await fetch(`${app.api}/health`, { method: 'POST' })).status, 404);
});

test('the host logs one line per invocation, with no header or body content', async () => {
  await fetch(`${app.api}/health`, { headers: { authorization: 'Bearer secret-token-canary' } });
  const output = await app.host.waitForOutput((text) =>
    /Executed 'Functions\.health' \(Succeeded/.test(text),
  );
  assert.doesNotMatch(output, /secret-token-canary/);
});
