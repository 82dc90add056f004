import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadSettings } from '../../../shared/config/settings.js';
import { isoDurationToMs } from '../../../shared/domain/index.js';
import { ConfigurationError } from '../../../shared/errors/index.js';

const minimal = {
  AUTH_ISSUER: 'http://127.0.0.1:7072/{tenantId}/v2.0',
  AUTH_AUDIENCE: 'api://writeback',
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  ServiceBusConnection: 'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=Root;SharedAccessKey=key',
  KEYVAULT_URI: 'https://127.0.0.1:8443',
};

function failureOf(env: Record<string, string>): ConfigurationError {
  try {
    loadSettings(env);
  } catch (error) {
    assert.ok(error instanceof ConfigurationError, `expected a ConfigurationError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected loadSettings to throw');
}

test('defaults are the documented ones', () => {
  const s = loadSettings(minimal);
  assert.equal(s.messageTtlMs, 5 * 60_000);
  assert.equal(s.syncWaitMs, 25_000);
  assert.equal(s.heartbeatIntervalMs, 5 * 60_000);
  assert.equal(s.keyRolloverAfterMs, 180 * 86_400_000);
  assert.equal(s.keyRolloverSchedule, '0 0 3 * * *');
  assert.equal(s.auth.issuerTemplate, minimal.AUTH_ISSUER);
  assert.equal(s.auth.audience, 'api://writeback');
  assert.equal(s.keyVaultUri, 'https://127.0.0.1:8443');
});

test('durations are read as ISO-8601', () => {
  const s = loadSettings({
    ...minimal,
    WRITEBACK_MESSAGE_TTL: 'PT2M30S',
    WRITEBACK_SYNC_WAIT: 'PT0S',
    HEARTBEAT_INTERVAL: 'PT10S',
  });
  assert.equal(s.messageTtlMs, 150_000);
  assert.equal(s.syncWaitMs, 0);
  assert.equal(s.heartbeatIntervalMs, 10_000);
  assert.equal(isoDurationToMs('P1DT1H'), 90_000_000);
});

test('a missing or malformed setting fails and names the setting', () => {
  const { AUTH_AUDIENCE: _audience, ...withoutAudience } = minimal;
  assert.equal(failureOf(withoutAudience).setting, 'AUTH_AUDIENCE');
  const { AUTH_ISSUER: _issuer, ...withoutIssuer } = minimal;
  assert.equal(failureOf(withoutIssuer).setting, 'AUTH_ISSUER');
  assert.equal(failureOf({ ...minimal, AUTH_ISSUER: 'not a url' }).setting, 'AUTH_ISSUER');
  assert.equal(failureOf({ ...minimal, AUTH_ISSUER: 'ftp://example.test/x' }).setting, 'AUTH_ISSUER');
  const ttl = failureOf({ ...minimal, WRITEBACK_MESSAGE_TTL: '5 minutes' });
  assert.equal(ttl.setting, 'WRITEBACK_MESSAGE_TTL');
  assert.match(ttl.message, /WRITEBACK_MESSAGE_TTL.*ISO-8601/);
  assert.equal(failureOf({ ...minimal, WRITEBACK_SYNC_WAIT: 'PT10M' }).setting, 'WRITEBACK_SYNC_WAIT');
  assert.equal(failureOf({ ...minimal, HEARTBEAT_INTERVAL: 'PT0S' }).setting, 'HEARTBEAT_INTERVAL');
  assert.equal(failureOf({ ...minimal, KEYVAULT_URI: 'vault' }).setting, 'KEYVAULT_URI');
  // Key rollover: one minute at least (a demo watches it happen), six NCRONTAB fields.
  assert.equal(loadSettings({ ...minimal, KEY_ROLLOVER_AFTER: 'PT1M' }).keyRolloverAfterMs, 60_000);
  assert.equal(failureOf({ ...minimal, KEY_ROLLOVER_AFTER: 'PT59S' }).setting, 'KEY_ROLLOVER_AFTER');
  assert.equal(
    loadSettings({ ...minimal, KEY_ROLLOVER_SCHEDULE: '*/15 * * * * *' }).keyRolloverSchedule,
    '*/15 * * * * *',
  );
  const cron = failureOf({ ...minimal, KEY_ROLLOVER_SCHEDULE: '0 3 * * *' });
  assert.equal(cron.setting, 'KEY_ROLLOVER_SCHEDULE');
  assert.match(cron.message, /six-field NCRONTAB/);
});

test('every connection setting is required and checked for its shape, and named when wrong', () => {
  const without = (name: keyof typeof minimal) =>
    Object.fromEntries(Object.entries(minimal).filter(([key]) => key !== name));
  assert.equal(failureOf(without('AzureWebJobsStorage')).setting, 'AzureWebJobsStorage');
  assert.equal(failureOf(without('ServiceBusConnection')).setting, 'ServiceBusConnection');
  assert.equal(failureOf(without('KEYVAULT_URI')).setting, 'KEYVAULT_URI');
  assert.equal(
    failureOf({ ...minimal, AzureWebJobsStorage: 'not a connection string' }).setting,
    'AzureWebJobsStorage',
  );
  const sb = failureOf({ ...minimal, ServiceBusConnection: 'Endpoint=sb://ns.servicebus.windows.net/' });
  assert.equal(sb.setting, 'ServiceBusConnection');
  // The message says what is expected, never the value (a connection string holds a key).
  const secret = 'Endpoint=http://ns/;SharedAccessKeyName=Root;SharedAccessKey=TopSecretKeyValue';
  const leaked = failureOf({ ...minimal, ServiceBusConnection: secret });
  assert.doesNotMatch(leaked.message, /TopSecretKeyValue/);
  assert.equal(failureOf({ ...minimal, KEYVAULT_URI: 'http://127.0.0.1:8443' }).setting, 'KEYVAULT_URI');
  assert.equal(
    failureOf({
      ...without('ServiceBusConnection'),
      ServiceBusConnection__fullyQualifiedNamespace: 'sb://x/',
    }).setting,
    'ServiceBusConnection__fullyQualifiedNamespace',
  );
  // The managed-identity forms are accepted.
  const identity = {
    ...without('AzureWebJobsStorage'),
    AzureWebJobsStorage__tableServiceUri: 'https://acct.table.core.windows.net',
    ServiceBusConnection__fullyQualifiedNamespace: 'ns.servicebus.windows.net',
  };
  delete (identity as Record<string, string>).ServiceBusConnection;
  assert.equal(loadSettings(identity).keyVaultUri, minimal.KEYVAULT_URI);
  assert.ok(
    loadSettings({
      ...minimal,
      AzureWebJobsStorage:
        'DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k;EndpointSuffix=core.windows.net',
    }),
  );
});
