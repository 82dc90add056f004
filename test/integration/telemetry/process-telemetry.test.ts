/**
 * telemetry() in a process of its own, configured only by its environment as the Functions host is:
 * on with APPLICATIONINSIGHTS_CONNECTION_STRING (trusting the capture's CA through
 * NODE_EXTRA_CA_CERTS), off without it; and the process ends by itself either way.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startTelemetryCapture, type TelemetryCapture } from '../../../local/telemetry/index.js';

const FIXTURE = fileURLToPath(new URL('../../fixtures/telemetry/emit-telemetry.js', import.meta.url));
/** The settings the config loader requires (as in test/unit/config). */
const BASE_SETTINGS = {
  AUTH_ISSUER: 'http://127.0.0.1:7072/{tenantId}/v2.0',
  AUTH_AUDIENCE: 'api://writeback',
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  ServiceBusConnection: 'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=Root;SharedAccessKey=key',
  KEYVAULT_URI: 'https://127.0.0.1:8443',
};

let capture: TelemetryCapture;

before(async () => {
  capture = await startTelemetryCapture();
});
after(async () => {
  await capture?.close();
});
beforeEach(() => capture.clear());

/** Runs the fixture to its end; fails if it does not end by itself within the bound (then kills it). */
function runFixture(env: Record<string, string>): Promise<{ enabled: boolean }> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) => !key.startsWith('APPLICATIONINSIGHTS_') && key !== 'WEBSITE_SITE_NAME',
    ),
  );
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [FIXTURE],
      { env: { ...inherited, ...BASE_SETTINGS, ...env }, timeout: 30_000, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`fixture failed (${error.message}): ${stderr}`));
        const last = stdout.trim().split('\n').pop() ?? '';
        resolve(JSON.parse(last) as { enabled: boolean });
      },
    );
  });
}

test('with the connection string set, the process sends its items and exits by itself', async () => {
  const canary = `Canary!${randomBytes(6).toString('hex')}`;
  const result = await runFixture({
    APPLICATIONINSIGHTS_CONNECTION_STRING: capture.connectionString,
    NODE_EXTRA_CA_CERTS: capture.ca.caPath,
    WEBSITE_SITE_NAME: 'func-writeback-test',
    TELEMETRY_CANARY: canary,
  });
  assert.equal(result.enabled, true);
  const items = capture.items();
  const types = new Set(items.map((item) => item.data.baseType));
  for (const type of ['RequestData', 'RemoteDependencyData', 'EventData', 'MetricData']) {
    assert.ok(types.has(type), `${type} arrived`);
  }
  const request = items.find((item) => item.data.baseType === 'RequestData');
  assert.equal(request?.data.baseData.name, 'POST /api/tenants/{tenantId}/me/unlock');
  assert.equal(request?.tags['ai.cloud.role'], 'func-writeback-test');
  const dependency = items.find((item) => item.data.baseType === 'RemoteDependencyData');
  assert.equal(dependency?.data.baseData.type, 'Azure Table');
  assert.ok(
    items.some((item) =>
      item.data.baseData.metrics?.some((metric) => metric.name === 'writeback.operation.durationMs'),
    ),
  );
  assert.ok(
    capture.hits().every((hit) => hit.path === '/v2.1/track'),
    'no live metrics or other calls',
  );
  for (const body of capture.rawBodies())
    assert.equal(body.includes(canary), false, 'console output was sent');
});

test('without the connection string, the same process sends nothing and exits by itself', async () => {
  const result = await runFixture({ APPLICATIONINSIGHTS_CONNECTION_STRING: '' });
  assert.equal(result.enabled, false);
  assert.deepEqual(capture.hits(), []);
});
