/** The settings and helpers tenant enablement builds on: key protection, endpoints, durations, clients. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  keyClientFromSettings,
  serviceBusAdministrationClientFromSettings,
  serviceBusEndpointFromSettings,
} from '../../../shared/azure/clients.js';
import { loadSettings } from '../../../shared/config/settings.js';
import { ConfigurationError } from '../../../shared/errors/index.js';
import { msToIsoDuration as isoDuration } from '../../../shared/domain/index.js';

const base = {
  AUTH_ISSUER: 'https://issuer.example/{tenantId}/v2.0',
  AUTH_AUDIENCE: 'api://writeback',
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  ServiceBusConnection: 'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=Root;SharedAccessKey=key',
  KEYVAULT_URI: 'https://127.0.0.1:8443',
};

test('WRITEBACK_KEY_PROTECTION defaults to hsm, takes software, and refuses anything else by name', () => {
  assert.equal(loadSettings(base).keyProtection, 'hsm');
  assert.equal(loadSettings({ ...base, WRITEBACK_KEY_PROTECTION: 'software' }).keyProtection, 'software');
  assert.equal(loadSettings({ ...base, WRITEBACK_KEY_PROTECTION: 'HSM' }).keyProtection, 'hsm');
  assert.throws(
    () => loadSettings({ ...base, WRITEBACK_KEY_PROTECTION: 'rsa' }),
    (error: unknown) => error instanceof ConfigurationError && error.setting === 'WRITEBACK_KEY_PROTECTION',
  );
});

test('isoDuration spells a queue TTL the way Service Bus does', () => {
  assert.equal(isoDuration(300_000), 'PT5M');
  assert.equal(isoDuration(5_000), 'PT5S');
  assert.equal(isoDuration(90_061_000), 'P1DT1H1M1S');
  assert.equal(isoDuration(14 * 86_400_000), 'P14D');
});

test('the Service Bus endpoint handed to agents comes from the same setting as the clients', () => {
  const emulator = serviceBusEndpointFromSettings('ServiceBusConnection', {
    ServiceBusConnection:
      'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=Root;SharedAccessKey=k;UseDevelopmentEmulator=true',
  });
  assert.deepEqual(emulator, { endpoint: 'sb://127.0.0.1:5672/', developmentEmulator: true });
  const azure = serviceBusEndpointFromSettings('ServiceBusConnection', {
    ServiceBusConnection:
      'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=k',
  });
  assert.deepEqual(azure, { endpoint: 'sb://ns.servicebus.windows.net/', developmentEmulator: false });
  const identity = serviceBusEndpointFromSettings('ServiceBusConnection', {
    ServiceBusConnection__fullyQualifiedNamespace: 'ns.servicebus.windows.net',
  });
  assert.deepEqual(identity, { endpoint: 'sb://ns.servicebus.windows.net/', developmentEmulator: false });
  assert.throws(() => serviceBusEndpointFromSettings('ServiceBusConnection', {}), ConfigurationError);
  assert.throws(
    () =>
      serviceBusEndpointFromSettings('ServiceBusConnection', {
        ServiceBusConnection: 'not a connection string',
      }),
    ConfigurationError,
  );
});

test('the administration and key clients are built from settings, or fail naming the setting', () => {
  const admin = serviceBusAdministrationClientFromSettings('ServiceBusConnection', {
    ServiceBusConnection:
      'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=k',
  });
  assert.ok(admin);
  assert.throws(
    () => serviceBusAdministrationClientFromSettings('ServiceBusConnection', {}),
    (error: unknown) => error instanceof ConfigurationError && error.setting === 'ServiceBusConnection',
  );
  const keys = keyClientFromSettings({
    KEYVAULT_URI: 'https://my-vault.vault.azure.net',
    KEYVAULT__credential: 'managedidentity',
  });
  assert.equal(keys.vaultUrl, 'https://my-vault.vault.azure.net');
  assert.throws(
    () => keyClientFromSettings({}),
    (error: unknown) => error instanceof ConfigurationError && error.setting === 'KEYVAULT_URI',
  );
});
