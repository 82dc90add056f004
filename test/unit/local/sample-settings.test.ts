/** local.settings.sample.json must work against `npm start`'s stack as it is: no drift between the two. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../support/app.js';
import { DEV_IDENTITIES, SERVICE_TENANT } from '../../../local/stack/identities.js';
import { ROOT_RULE_NAME, WELL_KNOWN_ROOT_KEY } from '../../../local/servicebus/index.js';
import { loadSettings } from '../../../shared/config/settings.js';

const sample = JSON.parse(readFileSync(path.join(REPO_ROOT, 'local.settings.sample.json'), 'utf8')) as {
  Values: Record<string, string>;
  Host: { LocalHttpPort: number };
};
const values = sample.Values;

test('the sample passes the settings loader', () => {
  const settings = loadSettings(values);
  assert.equal(settings.auth.audience, 'api://writeback');
  assert.equal(settings.keyVaultUri, 'https://127.0.0.1:8443');
});

test("the sample names the stack's default endpoints and identities", () => {
  assert.equal(values.AUTH_ISSUER, 'https://127.0.0.1:7072/{tenantId}/v2.0');
  assert.equal(
    values.ServiceBusConnection,
    `Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=${ROOT_RULE_NAME};SharedAccessKey=${WELL_KNOWN_ROOT_KEY};UseDevelopmentEmulator=true`,
  );
  assert.equal(values.KEYVAULT__tenantId, SERVICE_TENANT);
  assert.equal(values.KEYVAULT__clientId, DEV_IDENTITIES.functionsApp.clientId);
  assert.equal(values.KEYVAULT__clientSecret, DEV_IDENTITIES.functionsApp.clientSecret);
  assert.equal(values.KEYVAULT__authorityHost, 'https://127.0.0.1:7072');
  assert.equal(sample.Host.LocalHttpPort, 7071);
});
