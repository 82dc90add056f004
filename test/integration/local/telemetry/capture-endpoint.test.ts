/** The local ingestion endpoint on its own: the forms of body it accepts and how it answers. */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { gzipSync } from 'node:zlib';
import { startTelemetryCapture, type TelemetryCapture } from '../../../../local/telemetry/index.js';

let capture: TelemetryCapture;

before(async () => {
  capture = await startTelemetryCapture();
});
after(async () => {
  await capture?.close();
});
beforeEach(() => capture.clear());

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(
  method: string,
  path: string,
  body?: Buffer | string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${capture.url}${path}`, { method, headers, ca: capture.ca.caPem }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

function envelope(name: string): Record<string, unknown> {
  return {
    ver: 1,
    name: 'Microsoft.ApplicationInsights.Event',
    time: new Date().toISOString(),
    iKey: '3f2504e0-4f89-11d3-9a0c-0305e82c3301',
    tags: {},
    data: { baseType: 'EventData', baseData: { ver: 2, name, properties: {} } },
  };
}

test('the connection string points the SDK here, over HTTPS', () => {
  assert.match(
    capture.connectionString,
    /^InstrumentationKey=[0-9a-f-]{36};IngestionEndpoint=https:\/\/127\.0\.0\.1:\d+\/;LiveEndpoint=https:/,
  );
  assert.ok(capture.connectionString.includes(`IngestionEndpoint=${capture.url}/`));
});

test('a gzip-compressed JSON array on /v2/track is stored, and its raw body kept decompressed', async () => {
  const text = JSON.stringify([envelope('one'), envelope('two')]);
  const answer = await call('POST', '/v2/track', gzipSync(text), {
    'content-type': 'application/json',
    'content-encoding': 'gzip',
  });
  assert.equal(answer.status, 200);
  assert.deepEqual(JSON.parse(answer.body), { itemsReceived: 2, itemsAccepted: 2, errors: [] });
  assert.deepEqual(
    capture.items().map((item) => item.data.baseData.name),
    ['one', 'two'],
  );
  assert.deepEqual(capture.rawBodies(), [text]);
});

test('newline-delimited envelopes on /v2.1/track are stored', async () => {
  const text = `${JSON.stringify(envelope('a'))}\n${JSON.stringify(envelope('b'))}\n`;
  const answer = await call('POST', '/v2.1/track', text, { 'content-type': 'application/x-json-stream' });
  assert.equal(answer.status, 200);
  assert.deepEqual(
    capture.items().map((item) => item.data.baseData.name),
    ['a', 'b'],
  );
});

test('a batch with something that is not an envelope is partly accepted, as breeze does', async () => {
  const answer = await call('POST', '/v2.1/track', JSON.stringify([envelope('ok'), { hello: 'world' }]));
  assert.equal(answer.status, 206);
  const parsed = JSON.parse(answer.body) as {
    itemsReceived: number;
    itemsAccepted: number;
    errors: { index: number }[];
  };
  assert.equal(parsed.itemsReceived, 2);
  assert.equal(parsed.itemsAccepted, 1);
  assert.deepEqual(
    parsed.errors.map((error) => error.index),
    [1],
  );
  assert.deepEqual(
    capture.items().map((item) => item.data.baseData.name),
    ['ok'],
  );
});

test('a body that is not JSON is refused but still kept raw, for canary searches', async () => {
  const answer = await call('POST', '/v2.1/track', 'not json at all');
  assert.equal(answer.status, 400);
  assert.deepEqual(capture.items(), []);
  assert.deepEqual(capture.rawBodies(), ['not json at all']);
});

test('an outage can be played: the body is kept, nothing stored, the status answered', async () => {
  capture.failWith(503);
  try {
    const answer = await call('POST', '/v2.1/track', JSON.stringify([envelope('lost')]));
    assert.equal(answer.status, 503);
    assert.deepEqual(capture.items(), []);
    assert.equal(capture.rawBodies().length, 1);
  } finally {
    capture.failWith(undefined);
  }
});

test('live metrics are answered "not subscribed"; other routes are 404; every call is listed', async () => {
  const ping = await call('POST', '/QuickPulseService.svc/ping?ikey=x', '{}');
  assert.equal(ping.status, 200);
  assert.equal(ping.headers['x-ms-qps-subscribed'], 'false');
  assert.equal((await call('GET', '/v2.1/track')).status, 404);
  assert.equal((await call('POST', '/elsewhere', '[]')).status, 404);
  assert.deepEqual(capture.hits(), [
    { method: 'POST', path: '/QuickPulseService.svc/ping' },
    { method: 'GET', path: '/v2.1/track' },
    { method: 'POST', path: '/elsewhere' },
  ]);
});

test('waitFor resolves when matching items arrive later, and fails after its bound otherwise', async () => {
  const waiting = capture.waitFor((items) => items.some((item) => item.data.baseData.name === 'late'));
  await call('POST', '/v2.1/track', JSON.stringify([envelope('early')]));
  await call('POST', '/v2.1/track', JSON.stringify([envelope('late')]));
  const items = await waiting;
  assert.deepEqual(
    items.map((item) => item.data.baseData.name),
    ['early', 'late'],
  );
  await assert.rejects(
    capture.waitFor((all) => all.length > 10, 50),
    /condition not met in 50 ms; received \[early, late\]/,
  );
});

test('closing fails pending waits and frees the port', async () => {
  const other = await startTelemetryCapture();
  const waiting = assert.rejects(
    other.waitFor(() => false),
    /telemetry capture closed/,
  );
  await other.close();
  await waiting;
  await assert.rejects(
    new Promise((resolve, reject) => {
      const req = request(`${other.url}/v2.1/track`, { method: 'POST', ca: other.ca.caPem }, resolve);
      req.on('error', reject);
      req.end('[]');
    }),
    /ECONNREFUSED/,
  );
});
