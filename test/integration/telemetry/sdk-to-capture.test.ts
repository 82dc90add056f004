/**
 * The real `applicationinsights` SDK, through shared/telemetry, sending to the local ingestion endpoint:
 * what arrives, and what never does.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import {
  startTelemetryCapture,
  type CapturedItem,
  type TelemetryCapture,
} from '../../../local/telemetry/index.js';
import { createTelemetry, type Telemetry } from '../../../shared/telemetry/index.js';

const OPERATION_ID = '3f2504e0-4f89-11d3-9a0c-0305e82c3301';
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const TRACEPARENT = `00-${TRACE_ID}-b7ad6b7169203331-01`;

let capture: TelemetryCapture;
let telemetry: Telemetry;

before(async () => {
  capture = await startTelemetryCapture();
  telemetry = createTelemetry(capture.connectionString, {
    trustedCaPem: capture.ca.caPem,
    cloudRole: 'writeback-test',
  });
});

after(async () => {
  await telemetry?.shutdown();
  await capture?.close();
});

beforeEach(() => capture.clear());

function ofType(baseType: string): CapturedItem[] {
  return capture.items().filter((item) => item.data.baseType === baseType);
}

function only(items: CapturedItem[]): CapturedItem {
  assert.equal(items.length, 1, `expected one item, got ${JSON.stringify(items)}`);
  return items[0] as CapturedItem;
}

test('is enabled with a connection string', () => {
  assert.equal(telemetry.enabled, true);
});

test('a request arrives with its route, path without query, result, operation and trace ids', async () => {
  telemetry.trackRequest({
    name: 'POST /api/tenants/{tenantId}/me/password/reset',
    url: '/api/tenants/contoso/me/password/reset?code=abc',
    resultCode: 202,
    durationMs: 1500,
    success: true,
    operationId: OPERATION_ID,
    traceparent: TRACEPARENT,
    properties: { tenantId: 'contoso', operationKind: 'reset' },
  });
  await telemetry.flush();
  const item = only(ofType('RequestData'));
  assert.equal(item.name, 'Microsoft.ApplicationInsights.Request');
  assert.equal(item.data.baseData.name, 'POST /api/tenants/{tenantId}/me/password/reset');
  assert.equal(item.data.baseData.url, '/api/tenants/{tenantId}/me/password/reset');
  assert.equal(item.data.baseData.responseCode, '202');
  assert.equal(item.data.baseData.success, true);
  assert.equal(item.data.baseData.duration, '00:00:01.500');
  assert.deepEqual(item.data.baseData.properties, {
    tenantId: 'contoso',
    operationKind: 'reset',
    operationId: OPERATION_ID,
  });
  assert.equal(item.tags['ai.operation.id'], TRACE_ID);
  assert.equal(item.tags['ai.cloud.role'], 'writeback-test');
});

test('a failed trigger request keeps its result code as a dimension', async () => {
  telemetry.trackRequest({ name: 'replies', resultCode: 1, durationMs: 3, success: false });
  await telemetry.flush();
  const item = only(ofType('RequestData'));
  assert.equal(item.data.baseData.name, 'replies');
  assert.equal(item.data.baseData.success, false);
  assert.deepEqual(item.data.baseData.properties, { resultCode: '1' });
});

test('a dependency arrives with its type, target, name, result and trace id', async () => {
  telemetry.trackDependency({
    type: 'Azure Service Bus',
    target: 'sb://ns.servicebus.windows.net/writeback-contoso',
    name: 'send',
    durationMs: 42,
    success: false,
    resultCode: 'ServiceTimeout',
    traceparent: TRACEPARENT,
    properties: { tenantId: 'contoso', queue: 'writeback-contoso', errorCode: 'ServiceTimeout' },
  });
  await telemetry.flush();
  const item = only(ofType('RemoteDependencyData'));
  assert.equal(item.data.baseData.type, 'Azure Service Bus');
  assert.equal(item.data.baseData.target, 'ns.servicebus.windows.net/writeback-contoso');
  assert.equal(item.data.baseData.name, 'send');
  assert.equal(item.data.baseData.success, false);
  assert.equal(item.data.baseData.duration, '00:00:00.042');
  assert.deepEqual(item.data.baseData.properties, {
    tenantId: 'contoso',
    queue: 'writeback-contoso',
    errorCode: 'ServiceTimeout',
    resultCode: 'ServiceTimeout',
  });
  assert.equal(item.tags['ai.operation.id'], TRACE_ID);
});

test('an event arrives with its properties and measurements', async () => {
  telemetry.trackEvent(
    'writeback.operation.completed',
    {
      tenantId: 'contoso',
      operationId: OPERATION_ID,
      operationKind: 'change',
      status: 'failed',
      code: 'PasswordPolicy',
      reason: 'history',
      route: 'self',
    },
    { durationMs: 830 },
  );
  await telemetry.flush();
  const item = only(ofType('EventData'));
  assert.equal(item.data.baseData.name, 'writeback.operation.completed');
  assert.deepEqual(item.data.baseData.properties, {
    tenantId: 'contoso',
    operationId: OPERATION_ID,
    operationKind: 'change',
    status: 'failed',
    code: 'PasswordPolicy',
    reason: 'history',
    route: 'self',
  });
  assert.deepEqual(item.data.baseData.measurements, { durationMs: 830 });
});

test('a metric arrives aggregated per set of dimensions, without high-cardinality ones', async () => {
  telemetry.trackMetric('writeback.operation.durationMs', 10, {
    tenantId: 'contoso',
    status: 'succeeded',
    operationId: OPERATION_ID,
  });
  telemetry.trackMetric('writeback.operation.durationMs', 30, {
    tenantId: 'contoso',
    status: 'succeeded',
    operationId: randomUUID(),
  });
  await telemetry.flush();
  const points = ofType('MetricData').filter((item) =>
    item.data.baseData.metrics?.some((metric) => metric.name === 'writeback.operation.durationMs'),
  );
  const item = only(points);
  assert.deepEqual(item.data.baseData.properties, { tenantId: 'contoso', status: 'succeeded' });
  const metric = item.data.baseData.metrics?.[0];
  assert.equal(metric?.value, 40);
  assert.equal(metric?.count, 2);
  assert.equal(metric?.min, 10);
  assert.equal(metric?.max, 30);
});

test('a canary in any position that is not allow-listed never reaches the wire', async () => {
  // A password with symbols, and one of letters and digits only. The bare one passes shape checks, so it
  // only goes where closed lists decide (keys, names, types); the shape-checked positions (values of
  // listed keys, dependency names) get the one with symbols.
  const canary = `Canary!${randomBytes(6).toString('hex')}#Pw`;
  const bare = `canary${randomBytes(6).toString('hex')}`;
  for (const secret of [canary, bare]) {
    telemetry.trackRequest({
      name: 'POST /api/tenants/{tenantId}/me/password/reset',
      url: `/api/tenants/contoso/me/password/reset?newPassword=${secret}`,
      resultCode: 400,
      durationMs: 1,
      success: false,
      operationId: secret,
      traceparent: secret,
      properties: { newPassword: secret, [secret]: 'x', detail: `AD refused ${secret}`, reason: canary },
    });
    telemetry.trackRequest({
      name: `POST /api/tenants/{tenantId}/${secret}`,
      url: `/api/tenants/contoso/users/${canary}/unlock`,
      resultCode: 400,
      durationMs: 1,
      success: false,
    });
    telemetry.trackDependency({
      type: secret,
      target: `acct.table.core.windows.net/operations?sig=${secret}`,
      name: `send ${canary}`,
      durationMs: 1,
      success: false,
      resultCode: canary,
      properties: { password: secret, code: canary },
    });
    telemetry.trackEvent(
      'writeback.operation.completed',
      { tenantId: 'contoso', error: secret, status: canary },
      { [secret]: 1 },
    );
    telemetry.trackEvent(secret, { tenantId: 'contoso' });
    telemetry.trackMetric(secret, 1, { tenantId: 'contoso' });
    telemetry.trackMetric('writeback.operation.syncWaitMs', 1, {
      tenantId: 'contoso',
      currentPassword: secret,
      reason: canary,
    });
    console.log(`console ${secret}`);
    console.error(`console ${secret}`);
  }
  await telemetry.flush();

  // The items themselves did arrive (the test is not passing by sending nothing)...
  assert.equal(ofType('RequestData').length, 4);
  assert.equal(ofType('RemoteDependencyData').length, 2);
  assert.equal(ofType('EventData').length, 2);
  const requests = ofType('RequestData');
  const request = requests.find(
    (item) => item.data.baseData.name === 'POST /api/tenants/{tenantId}/me/password/reset',
  );
  const renamed = requests.find((item) => item.data.baseData.name === '[redacted]');
  assert.equal(request?.data.baseData.url, '/api/tenants/{tenantId}/me/password/reset');
  assert.deepEqual(request?.data.baseData.properties, { reason: '[redacted]', operationId: '[redacted]' });
  assert.equal(renamed?.data.baseData.name, '[redacted]');
  assert.deepEqual(renamed?.data.baseData.properties, { resultCode: '400' });
  const dependency = ofType('RemoteDependencyData')[0];
  assert.equal(dependency?.data.baseData.type, '[redacted]');
  assert.equal(dependency?.data.baseData.target, 'acct.table.core.windows.net/operations');
  // ...and the secrets did not, anywhere in what was sent.
  const bodies = capture.rawBodies();
  assert.ok(bodies.length > 0);
  for (const body of bodies) {
    assert.equal(body.includes(canary), false, 'the symbol canary leaked');
    assert.equal(body.includes(bare), false, `the alphanumeric canary leaked: ${body}`);
    assert.equal(body.includes('Canary!'), false);
  }
});

test('outgoing HTTP calls and console output are not collected; only the track route is used', async () => {
  const status = await new Promise<number>((resolve, reject) => {
    const call = httpsRequest(
      `${capture.url}/not-an-ingestion-route?sig=abc`,
      { method: 'GET', ca: capture.ca.caPem },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    call.on('error', reject);
    call.end();
  });
  assert.equal(status, 404);
  console.log('a line on the console');
  telemetry.trackEvent('writeback.tenant.enabled', { tenantId: 'contoso' });
  await telemetry.flush();
  assert.deepEqual(
    capture
      .items()
      .map((item) => item.data.baseType)
      .filter((type) => type !== 'MetricData'),
    ['EventData'],
  );
  const paths = new Set(capture.hits().map((hit) => hit.path));
  assert.deepEqual([...paths].sort(), ['/not-an-ingestion-route', '/v2.1/track']);
});

test('enabling registers nothing process-wide: no OpenTelemetry globals, no process handlers', async () => {
  const events = [
    'uncaughtException',
    'unhandledRejection',
    'beforeExit',
    'exit',
    'SIGTERM',
    'SIGINT',
  ] as const;
  const listeners = (): number[] => events.map((event) => process.listenerCount(event));
  const before = listeners();
  const another = createTelemetry(capture.connectionString, { trustedCaPem: capture.ca.caPem });
  try {
    another.trackEvent('writeback.tenant.enabled', { tenantId: 'contoso' });
    await another.flush();
    assert.deepEqual(listeners(), before);
    // Where @opentelemetry/api keeps its global tracer, meter, context and propagator providers.
    const registry = (globalThis as Record<symbol, Record<string, unknown> | undefined>)[
      Symbol.for('opentelemetry.js.api.1')
    ];
    for (const kind of ['trace', 'metrics', 'context', 'propagation', 'logs']) {
      assert.equal(registry?.[kind], undefined, `a global ${kind} provider was registered`);
    }
  } finally {
    await another.shutdown();
  }
});

test('items tracked without flush are sent within the export delay', async () => {
  const quick = createTelemetry(capture.connectionString, {
    trustedCaPem: capture.ca.caPem,
    exportDelayMs: 50,
  });
  try {
    quick.trackEvent('writeback.keys.rolled', { tenantId: 'fabrikam' });
    const items = await capture.waitFor(
      (all) => all.some((item) => item.data.baseData.name === 'writeback.keys.rolled'),
      20_000,
    );
    assert.equal(
      items.find((item) => item.data.baseData.name === 'writeback.keys.rolled')?.data.baseData.properties
        ?.tenantId,
      'fabrikam',
    );
  } finally {
    await quick.shutdown();
  }
});

test('after shutdown nothing more is tracked', async () => {
  const stopped = createTelemetry(capture.connectionString, { trustedCaPem: capture.ca.caPem });
  await stopped.shutdown();
  capture.clear();
  stopped.trackEvent('writeback.tenant.disabled', { tenantId: 'contoso' });
  await stopped.flush();
  assert.equal(capture.hits().length, 0);
});

test('an ingestion endpoint that refuses items loses them but never fails the caller', async () => {
  capture.failWith(400);
  try {
    telemetry.trackEvent('writeback.operation.refused', { tenantId: 'contoso', code: 'WritebackOffline' });
    telemetry.trackMetric('writeback.operation.syncWaitMs', 5, { tenantId: 'contoso' });
    await telemetry.flush();
    assert.ok(capture.rawBodies().some((body) => body.includes('writeback.operation.refused')));
    assert.equal(capture.items().length, 0);
  } finally {
    capture.failWith(undefined);
  }
  // Nothing is kept for a retry (no offline storage), and later items go through again.
  capture.clear();
  telemetry.trackEvent('writeback.tenant.enabled', { tenantId: 'contoso' });
  await telemetry.flush();
  assert.deepEqual(
    ofType('EventData').map((item) => item.data.baseData.name),
    ['writeback.tenant.enabled'],
  );
});
