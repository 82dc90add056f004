/**
 * infra:check derives the app settings the templates must set from APP_SETTINGS and
 * CONNECTION_SETTINGS. That is only sound if they are exactly what loadSettings reads: recorded here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APP_SETTINGS, CONNECTION_SETTINGS, loadSettings } from '../../../shared/config/settings.js';

/** The names loadSettings reads from an environment configured for managed identities. */
function namesRead(): Set<string> {
  const env: Record<string, string> = {
    AUTH_ISSUER: 'https://login.microsoftonline.com/{tenantId}/v2.0',
    AUTH_AUDIENCE: 'api://writeback',
    KEYVAULT_URI: 'https://kv.vault.azure.net/',
    AzureWebJobsStorage__tableServiceUri: 'https://st.table.core.windows.net/',
    ServiceBusConnection__fullyQualifiedNamespace: 'sb.servicebus.windows.net',
  };
  const read = new Set<string>();
  loadSettings(
    new Proxy(env, {
      get(target, name) {
        if (typeof name === 'string') read.add(name);
        return Reflect.get(target, name) as unknown;
      },
    }),
  );
  return read;
}

test('loadSettings reads exactly APP_SETTINGS and the connections of CONNECTION_SETTINGS', () => {
  const connections = Object.entries(CONNECTION_SETTINGS).flatMap(([name, { identityEndpoint }]) => [
    name,
    `${name}__${identityEndpoint}`,
  ]);
  assert.deepEqual([...namesRead()].sort(), [...Object.keys(APP_SETTINGS), ...connections].sort());
});

test('the defaults of APP_SETTINGS are the ones loadSettings applies', () => {
  const settings = loadSettings({
    AUTH_ISSUER: 'https://login.microsoftonline.com/{tenantId}/v2.0',
    AUTH_AUDIENCE: 'api://writeback',
    KEYVAULT_URI: 'https://kv.vault.azure.net/',
    AzureWebJobsStorage__tableServiceUri: 'https://st.table.core.windows.net/',
    ServiceBusConnection__fullyQualifiedNamespace: 'sb.servicebus.windows.net',
  });
  assert.equal(APP_SETTINGS.WRITEBACK_MESSAGE_TTL.default, 'PT5M');
  assert.equal(settings.messageTtlMs, 5 * 60_000);
  assert.equal(settings.keyRolloverSchedule, APP_SETTINGS.KEY_ROLLOVER_SCHEDULE.default);
  assert.equal(settings.keyProtection, APP_SETTINGS.WRITEBACK_KEY_PROTECTION.default);
});
