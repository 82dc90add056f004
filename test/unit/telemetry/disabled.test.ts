import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { ConfigurationError } from '../../../shared/errors/index.js';
import { createTelemetry, parseConnectionString, telemetry } from '../../../shared/telemetry/index.js';

const SDK_PATH = '/node_modules/applicationinsights/';
const sdkLoaded = (): boolean =>
  Object.keys(createRequire(import.meta.url).cache).some((file) => file.includes(SDK_PATH));
const timers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

function exercise(t = createTelemetry(undefined)): void {
  t.trackRequest({ name: 'POST /api/x', url: '/api/x', resultCode: 200, durationMs: 1, success: true });
  t.trackDependency({
    type: 'Azure Table',
    target: 'table.local',
    name: 'upsert operations',
    durationMs: 1,
    success: true,
  });
  t.trackEvent('writeback.operation.completed', { tenantId: 'contoso' }, { durationMs: 1 });
  t.trackMetric('writeback.operation.durationMs', 1, { tenantId: 'contoso' });
}

test('without a connection string telemetry is off and starts nothing', async () => {
  const before = timers();
  for (const value of [undefined, '', '   ']) {
    const t = createTelemetry(value);
    assert.equal(t.enabled, false);
    exercise(t);
    await t.flush();
    await t.shutdown();
  }
  assert.equal(timers(), before, 'no timer left behind');
  assert.equal(sdkLoaded(), false, 'the applicationinsights package was not even loaded');
});

test('the process singleton follows the setting, once', () => {
  // The settings the config loader requires (as in test/unit/config), without a connection string.
  Object.assign(process.env, {
    AUTH_ISSUER: 'http://127.0.0.1:7072/{tenantId}/v2.0',
    AUTH_AUDIENCE: 'api://writeback',
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    ServiceBusConnection: 'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=Root;SharedAccessKey=key',
    KEYVAULT_URI: 'https://127.0.0.1:8443',
  });
  delete process.env.APPLICATIONINSIGHTS_CONNECTION_STRING;
  const first = telemetry();
  assert.equal(first.enabled, false);
  assert.equal(telemetry(), first);
  exercise(first);
  assert.equal(sdkLoaded(), false);
});

test('a malformed connection string stops start-up with the setting named, not its value', () => {
  for (const bad of [
    'not a connection string',
    'InstrumentationKey=secret-looking-value',
    'IngestionEndpoint=https://dc.example/',
    'InstrumentationKey=3f2504e0-4f89-11d3-9a0c-0305e82c3301;IngestionEndpoint=not a url',
    'InstrumentationKey=3f2504e0-4f89-11d3-9a0c-0305e82c3301;LiveEndpoint=ftp://x',
  ]) {
    assert.throws(
      () => createTelemetry(bad),
      (error: unknown) =>
        error instanceof ConfigurationError &&
        error.setting === 'APPLICATIONINSIGHTS_CONNECTION_STRING' &&
        !error.message.includes('secret-looking-value') &&
        !error.message.includes('not a url'),
      bad,
    );
  }
  assert.equal(sdkLoaded(), false);
});

test('connection strings are parsed as the SDK reads them', () => {
  assert.deepEqual(
    parseConnectionString(
      ' instrumentationkey=3F2504E0-4F89-11D3-9A0C-0305E82C3301 ; IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;',
    ),
    {
      instrumentationKey: '3F2504E0-4F89-11D3-9A0C-0305E82C3301',
      ingestionEndpoint: 'https://westeurope-5.in.applicationinsights.azure.com/',
    },
  );
  assert.deepEqual(parseConnectionString('InstrumentationKey=3f2504e0-4f89-11d3-9a0c-0305e82c3301'), {
    instrumentationKey: '3f2504e0-4f89-11d3-9a0c-0305e82c3301',
  });
});
