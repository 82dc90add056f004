/**
 * npm run infra:check: the real templates pass, and each rule fires on a copy of them broken on
 * purpose. Each break names the exact text it replaces, so a template change that moves it fails
 * here loudly instead of silently testing nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkInfra, type Finding, type RuleName } from '../../../infra/check/check-infra.js';

const REPO_ROOT = path.resolve(fileURLToPath(new URL('../../../..', import.meta.url)));
const INFRA = path.join(REPO_ROOT, 'infra');
/** The day the templates were last brought up to date; API versions are aged against it. */
const TODAY = new Date('2026-12-06T00:00:00Z');

interface Edit {
  file: string;
  from: string | RegExp;
  to: string;
}

/** Runs the check on a copy of infra/ with `edits` applied. */
async function checkBroken(...edits: Edit[]): Promise<Finding[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'infra-check-'));
  try {
    // Relative to infra/: the checkout itself may live under a folder named "check".
    const isChecker = (source: string): boolean =>
      path.relative(INFRA, source).split(path.sep)[0] === 'check';
    await cp(INFRA, dir, { recursive: true, filter: (source) => !isChecker(source) });
    for (const edit of edits) {
      const file = path.join(dir, edit.file);
      const text = await readFile(file, 'utf8');
      const changed = text.replace(edit.from, edit.to);
      assert.notEqual(changed, text, `${edit.file} no longer contains ${String(edit.from)}`);
      await writeFile(file, changed);
    }
    return (await checkInfra(dir, { today: TODAY })).findings;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The findings of `rule`, after asserting there is one whose message matches. */
function assertFinding(findings: Finding[], rule: RuleName, message: RegExp): void {
  const matching = findings.filter((f) => f.rule === rule && message.test(f.message));
  assert.ok(
    matching.length > 0,
    `expected a [${rule}] finding matching ${message}, got:\n${findings.map((f) => `  [${f.rule}] ${f.file}:${f.line} ${f.message}`).join('\n') || '  none'}`,
  );
}

/** The app setting entry `name` of function-app.bicep, for removal. */
function appSetting(name: string): RegExp {
  return new RegExp(`\\s*\\{\\s*name: '${name}'\\s*value: [^\\n]+\\s*\\}`);
}

test('the real templates parse and pass every rule', async () => {
  const { files, findings } = await checkInfra(INFRA, { today: TODAY });
  assert.deepEqual(findings, []);
  assert.ok(files.includes('main.bicep'));
  assert.ok(files.includes('app/roles.bicep'));
  assert.ok(files.some((f) => f.startsWith('agent/')));
});

test('parse: a syntax error is reported with its file and line, alone', async () => {
  const findings = await checkBroken({
    file: 'app/storage.bicep',
    from: 'var tableNames = [',
    to: 'var tableNames = [[',
  });
  assert.ok(findings.length > 0);
  assert.ok(findings.every((f) => f.rule === 'parse' && f.file === 'app/storage.bicep'));
});

test('required: a table the code uses is missing', async () => {
  assertFinding(
    await checkBroken({ file: 'app/storage.bicep', from: "  'audit'\n", to: '' }),
    'required',
    /table audit/,
  );
});

test('required: storage with shared keys, or without TLS 1.2', async () => {
  const findings = await checkBroken(
    { file: 'app/storage.bicep', from: 'allowSharedKeyAccess: false', to: 'allowSharedKeyAccess: true' },
    { file: 'app/storage.bicep', from: "minimumTlsVersion: 'TLS1_2'", to: "minimumTlsVersion: 'TLS1_0'" },
  );
  assertFinding(findings, 'required', /allowSharedKeyAccess is true, expected false/);
  assertFinding(findings, 'required', /minimumTlsVersion is "TLS1_0"/);
});

test('required: writeback-replies settles differently from sharedRepliesQueueSettings()', async () => {
  assertFinding(
    await checkBroken({
      file: 'app/servicebus.bicep',
      from: 'maxDeliveryCount: 10',
      to: 'maxDeliveryCount: 3',
    }),
    'required',
    /writeback-replies.*maxDeliveryCount is 3, expected 10/,
  );
});

test('required: SAS left on without saying why', async () => {
  assertFinding(
    await checkBroken({ file: 'app/servicebus.bicep', from: /\/\/ SAS stays on[^\n]*\n/, to: '// keys\n' }),
    'required',
    /why SAS stays on/,
  );
});

test('required: a standard vault by default, while keys default to HSM protection', async () => {
  assertFinding(
    await checkBroken({
      file: 'main.bicep',
      from: "param keyVaultSku string = 'premium'",
      to: "param keyVaultSku string = 'standard'",
    }),
    'required',
    /sku\.name is "standard", expected "premium"/,
  );
});

test('required: the function app on another Node.js version, or without HTTPS only', async () => {
  const findings = await checkBroken(
    { file: 'app/function-app.bicep', from: "version: '22'", to: "version: '20'" },
    { file: 'app/function-app.bicep', from: 'httpsOnly: true', to: 'httpsOnly: false' },
  );
  assertFinding(findings, 'required', /runtime\.version is "20", expected "22"/);
  assertFinding(findings, 'required', /httpsOnly is false/);
});

test('required: an alert is missing or watches the wrong thing', async () => {
  const findings = await checkBroken(
    {
      file: 'app/alerts.bicep',
      from: "'Microsoft.KeyVault.KeyNearExpiry'",
      to: "'Microsoft.KeyVault.KeyExpired'",
    },
    { file: 'app/alerts.bicep', from: "                '429'", to: "                '500'" },
    { file: 'app/alerts.bicep', from: "metricName: 'Http5xx'", to: "metricName: 'Http4xx'" },
    { file: 'app/alerts.bicep', from: '"writeback.operation.refused"', to: '"writeback.operation.offline"' },
  );
  assertFinding(findings, 'required', /missing: Key Vault KeyNearExpiry events/);
  assertFinding(findings, 'required', /dimension StatusCode on '429'/);
  assertFinding(findings, 'required', /missing: alert on the function app's 5xx/);
  assertFinding(
    findings,
    'required',
    /reads writeback\.operation\.offline, which shared\/telemetry\/vocabulary\.ts does not send/,
  );
});

test("required: the agent module grants nothing on one of the tenant's keys", async () => {
  assertFinding(
    await checkBroken({
      file: 'agent/agent-key-access.bicep',
      from: 'scope: vault::signatureKey',
      to: 'scope: vault::encryptionKey',
    }),
    'required',
    /no Key Vault Crypto User assignment is scoped to key signatureKey/,
  );
});

test('identity-connections: a connection string, a key in a string, a connection without its identity', async () => {
  const findings = await checkBroken(
    {
      file: 'app/function-app.bicep',
      from: "        {\n          name: 'AzureWebJobsStorage__accountName'",
      to:
        "        {\n          name: 'AzureWebJobsStorage'\n" +
        "          value: 'DefaultEndpointsProtocol=https;AccountName=${storageAccountName};AccountKey=${listKeys(resourceId('Microsoft.Storage/storageAccounts', storageAccountName), '2025-06-01').keys[0].value}'\n" +
        "        }\n        {\n          name: 'AzureWebJobsStorage__accountName'",
    },
    { file: 'app/function-app.bicep', from: appSetting('ServiceBusConnection__clientId'), to: '' },
    {
      file: 'app/function-app.bicep',
      from: /name: 'AzureWebJobsStorage__credential'\s*value: 'managedidentity'/,
      to: "name: 'AzureWebJobsStorage__credential'\n          value: 'connectionstring'",
    },
  );
  assertFinding(
    findings,
    'identity-connections',
    /AzureWebJobsStorage is set: it would hold a connection string/,
  );
  assertFinding(findings, 'identity-connections', /AzureWebJobsStorage is built with listKeys\(/);
  assertFinding(findings, 'identity-connections', /carries AccountKey=/);
  assertFinding(findings, 'identity-connections', /ServiceBusConnection__clientId is not set/);
  assertFinding(
    findings,
    'identity-connections',
    /AzureWebJobsStorage__credential must be 'managedidentity'/,
  );
});

test('identity-connections: a plain ServiceBusConnection, a SAS anywhere, a deployment with a connection string', async () => {
  const findings = await checkBroken(
    {
      file: 'app/function-app.bicep',
      from: "name: 'ServiceBusConnection__fullyQualifiedNamespace'",
      to: "name: 'ServiceBusConnection'",
    },
    {
      file: 'app/function-app.bicep',
      from: "type: 'UserAssignedIdentity'",
      to: "type: 'StorageAccountConnectionString'",
    },
    {
      file: 'app/alerts.bicep',
      from: "groupShortName: 'writeback'",
      to: "groupShortName: 'writeback'\n    // Endpoint=sb://x/;SharedAccessKeyName=a\n    tags2: 'Endpoint=sb://x/;SharedAccessKey=abc'",
    },
  );
  assertFinding(findings, 'identity-connections', /ServiceBusConnection is set/);
  assertFinding(
    findings,
    'identity-connections',
    /deployment storage authenticates with a connection string/,
  );
  assertFinding(findings, 'identity-connections', /carries SharedAccessKey=/);
  assertFinding(findings, 'app-settings', /ServiceBusConnection__fullyQualifiedNamespace is not set/);
});

test('output-secrets: listKeys, a connection string and a @secure() output', async () => {
  const findings = await checkBroken(
    {
      file: 'app/storage.bicep',
      from: 'output id string = account.id',
      to: 'output id string = account.id\noutput key string = account.listKeys().keys[0].value',
    },
    {
      file: 'app/monitoring.bicep',
      from: 'output applicationInsightsId string = applicationInsights.id',
      to:
        'output applicationInsightsId string = applicationInsights.id\n' +
        'output telemetry string = applicationInsights.properties.ConnectionString',
    },
    {
      file: 'main.bicep',
      from: 'output AZURE_LOCATION string = location',
      to: 'output AZURE_LOCATION string = location\n@secure()\noutput SECRET string = authAudience',
    },
  );
  assertFinding(findings, 'output-secrets', /output key carries a secret \(listKeys\(/);
  assertFinding(findings, 'output-secrets', /output telemetry carries a secret \(ConnectionString/);
  assertFinding(findings, 'output-secrets', /output SECRET is @secure\(\)/);
});

test('output-secrets: listConnectionStrings in an output', async () => {
  assertFinding(
    await checkBroken({
      file: 'app/servicebus.bicep',
      from: 'output id string = namespace.id',
      to: "output id string = namespace.id\noutput all object = listConnectionStrings(namespace.id, '2026-01-01')",
    }),
    'output-secrets',
    /listConnectionStrings\(/,
  );
});

test('role-assignments: Contributor, a role that is not intended, a missing role, one not resolvable', async () => {
  const findings = await checkBroken(
    {
      file: 'app/roles.bicep',
      from: "storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'",
      to: "storageTableDataContributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c'",
    },
    {
      file: 'app/roles.bicep',
      from: "keyVaultCryptoOfficer: '14b46e9e-c2b7-41b4-b07b-48a6ebf60603'",
      to: "keyVaultCryptoOfficer: '00482a5a-887f-4fb3-b363-3b7fe8e74483'",
    },
    {
      file: 'app/roles.bicep',
      from: /resource metricsPublisher [\s\S]*$/,
      to: "resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {\n  name: guid(principalId)\n  properties: {\n    roleDefinitionId: roleFromElsewhere\n    principalId: principalId\n  }\n}\nparam roleFromElsewhere string\n",
    },
  );
  assertFinding(findings, 'role-assignments', /tableDataContributor: Contributor .* is never granted/);
  assertFinding(
    findings,
    'role-assignments',
    /role 00482a5a-887f-4fb3-b363-3b7fe8e74483 is not one of the intended built-in roles/,
  );
  assertFinding(findings, 'role-assignments', /metricsPublisher: its roleDefinitionId does not resolve/);
  assertFinding(findings, 'role-assignments', /Monitoring Metrics Publisher .* is not assigned/);
});

test("role-assignments: the agent's Crypto User on the whole vault", async () => {
  assertFinding(
    await checkBroken({
      file: 'agent/agent-key-access.bicep',
      from: 'scope: vault::encryptionKey',
      to: 'scope: vault',
    }),
    'role-assignments',
    /Key Vault Crypto User is only granted on one key/,
  );
});

test("app-settings: a setting the code reads is not set, or defaults to another value than the code's", async () => {
  const findings = await checkBroken(
    { file: 'app/function-app.bicep', from: appSetting('RATE_LIMIT_PER_TENANT'), to: '' },
    { file: 'app/function-app.bicep', from: appSetting('KEY_ROLLOVER_SCHEDULE'), to: '' },
    {
      file: 'main.bicep',
      from: "param writebackSyncWait string = 'PT25S'",
      to: "param writebackSyncWait string = 'PT30S'",
    },
    { file: 'app/function-app.bicep', from: appSetting('APPLICATIONINSIGHTS_AUTHENTICATION_STRING'), to: '' },
  );
  assertFinding(
    findings,
    'app-settings',
    /RATE_LIMIT_PER_TENANT is not set: shared\/config\/settings\.ts reads it/,
  );
  assertFinding(findings, 'app-settings', /KEY_ROLLOVER_SCHEDULE is not set/);
  assertFinding(findings, 'app-settings', /WRITEBACK_SYNC_WAIT defaults to 'PT30S' here but to 'PT25S'/);
  assertFinding(findings, 'app-settings', /APPLICATIONINSIGHTS_AUTHENTICATION_STRING is not set/);
});

test('api-versions: older than two years fails, the newest stable version of a type passes', async () => {
  const findings = await checkBroken(
    {
      file: 'app/storage.bicep',
      from: "'Microsoft.Storage/storageAccounts@2025-06-01' = {",
      to: "'Microsoft.Storage/storageAccounts@2023-01-01' = {",
    },
    {
      file: 'app/keyvault.bicep',
      from: "'Microsoft.KeyVault/vaults@2025-05-01'",
      to: "'Microsoft.KeyVault/vaults@2024-11-01'",
    },
  );
  assertFinding(
    findings,
    'api-versions',
    /Microsoft\.Storage\/storageAccounts@2023-01-01 is older than 2 years/,
  );
  assertFinding(
    findings,
    'api-versions',
    /Microsoft\.KeyVault\/vaults@2024-11-01 is older than 2 years \(before 2024-12-06\)/,
  );
  // roleAssignments@2022-04-01 is its type's newest stable version: no finding for it.
  assert.ok(!findings.some((f) => /roleAssignments/.test(f.message)));
});
