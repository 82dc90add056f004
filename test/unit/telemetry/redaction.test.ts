import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  REDACTED,
  redactMeasurements,
  redactTelemetryProperties,
  safeDependencyName,
  safeDependencyType,
  safeRequest,
  safeResultCode,
  safeTarget,
  traceIdOf,
} from '../../../shared/telemetry/redaction.js';
import { TELEMETRY_PROPERTY_RULES } from '../../../shared/telemetry/vocabulary.js';

const OPERATION_ID = '3f2504e0-4f89-11d3-9a0c-0305e82c3301';
const PASSWORD = 'Tr0ub4dor&3 horse!';

test('allow-listed keys with well-shaped values pass unchanged', () => {
  const properties = {
    tenantId: 'contoso',
    operationId: OPERATION_ID,
    operationKind: 'reset',
    status: 'failed',
    code: 'PasswordPolicy',
    reason: 'tooShort',
    route: 'self',
    agentVersion: '1.2.3',
    retryAfterSeconds: 30,
    idempotentReplay: true,
  };
  assert.deepEqual(redactTelemetryProperties(properties), properties);
});

test('unknown keys are dropped, whatever their value', () => {
  const safe = redactTelemetryProperties({
    tenantId: 'contoso',
    newPassword: PASSWORD,
    password: 'x',
    detail: 'AD said no',
    upn: 'alice@contoso.test',
    [PASSWORD]: 'the key itself is free text',
    TenantId: 'contoso', // keys are exact, not case-insensitive
  });
  assert.deepEqual(safe, { tenantId: 'contoso' });
});

test('keys inherited from Object.prototype are not allow-listed', () => {
  const properties = JSON.parse('{"__proto__": "x", "constructor": "y", "toString": "z"}') as Record<
    string,
    string
  >;
  assert.deepEqual(redactTelemetryProperties(properties), {});
});

test('a listed key whose string does not have its shape is redacted, not sent', () => {
  const safe = redactTelemetryProperties({
    reason: PASSWORD,
    code: 'Password policy failed: too short',
    operationId: 'not-a-guid',
    operationKind: 'delete',
    tenantId: 'con toso',
    route: '/api/tenants/contoso/users/alice?x=1',
  });
  for (const value of Object.values(safe)) assert.equal(value, REDACTED);
  assert.equal(Object.keys(safe).length, 6);
});

test('no listed key accepts free text: spaces, punctuation or line breaks', () => {
  for (const [key, rule] of Object.entries(TELEMETRY_PROPERTY_RULES)) {
    for (const text of [PASSWORD, 'two words', 'line\nbreak', 'P@ssw0rd!', 'a'.repeat(300)]) {
      assert.equal(rule.shape.test(text), false, `${key} accepts ${JSON.stringify(text)}`);
    }
  }
});

test('undefined and non-finite values are dropped; numbers and booleans kept', () => {
  assert.deepEqual(
    redactTelemetryProperties({
      reason: undefined,
      retryAfterSeconds: Number.NaN,
      httpStatus: 503,
      generatedPassword: false,
    }),
    { httpStatus: 503, generatedPassword: false },
  );
  assert.deepEqual(redactTelemetryProperties(undefined), {});
});

test('metric dimensions keep only low-cardinality keys', () => {
  const safe = redactTelemetryProperties(
    {
      tenantId: 'contoso',
      operationKind: 'change',
      status: 'succeeded',
      operationId: OPERATION_ID,
      requesterObjectId: OPERATION_ID,
    },
    { dimensionsOnly: true },
  );
  assert.deepEqual(safe, { tenantId: 'contoso', operationKind: 'change', status: 'succeeded' });
});

test('measurements keep listed names with finite numbers', () => {
  assert.deepEqual(
    redactMeasurements({ durationMs: 12.5, attempts: 2, [PASSWORD]: 1, bogus: 3, ageMs: Infinity }),
    {
      durationMs: 12.5,
      attempts: 2,
    },
  );
  assert.deepEqual(redactMeasurements(undefined), {});
});

test('request names are the routes of the API or a trigger function; others are redacted', () => {
  assert.deepEqual(safeRequest('POST /api/tenants/{tenantId}/me/password/reset', undefined), {
    name: 'POST /api/tenants/{tenantId}/me/password/reset',
    method: 'POST',
  });
  assert.deepEqual(safeRequest('disableWriteback', undefined), {
    name: 'disableWriteback',
    method: 'DELETE',
  });
  assert.deepEqual(safeRequest('replies', '/ignored'), { name: 'replies' });
  for (const name of [
    'POST /api/tenants/{tenantId}/me/password/canary42',
    'canary42',
    'FETCH /api/health',
    PASSWORD,
  ]) {
    assert.deepEqual(safeRequest(name, '/api/health'), { name: REDACTED });
  }
});

test('request URLs are sent as their route template, never with path values or query', () => {
  const reset = 'POST /api/tenants/{tenantId}/users/{upn}/password/reset';
  assert.equal(
    safeRequest(reset, '/api/tenants/contoso/users/alice@contoso.test/password/reset?code=secret#frag').url,
    '/api/tenants/{tenantId}/users/{upn}/password/reset',
  );
  assert.equal(
    safeRequest('resetUserPassword', 'https://app.example/API/Tenants/t1/users/P%40ss%21/password/reset/')
      .url,
    '/api/tenants/{tenantId}/users/{upn}/password/reset',
  );
  // A path that is not an instance of the named route.
  assert.equal(safeRequest(reset, '/api/tenants/contoso/me/password/reset').url, REDACTED);
  assert.equal(safeRequest(reset, `/api/tenants/contoso/users//password/reset`).url, REDACTED);
  assert.equal(safeRequest(reset, `/api/${PASSWORD}`).url, REDACTED);
});

test('dependency type, name, target and result code', () => {
  assert.equal(safeDependencyType('Azure Key Vault'), 'Azure Key Vault');
  assert.equal(safeDependencyType('Azure Cosmos'), REDACTED);
  assert.equal(safeDependencyName('encrypt writeback-contoso-enc'), 'encrypt writeback-contoso-enc');
  assert.equal(safeDependencyName(PASSWORD), REDACTED);
  assert.equal(
    safeTarget('sb://ns.servicebus.windows.net/writeback-contoso'),
    'ns.servicebus.windows.net/writeback-contoso',
  );
  assert.equal(
    safeTarget('https://acct.table.core.windows.net/operations?sv=2020&sig=SECRETSIG'),
    'acct.table.core.windows.net/operations',
  );
  assert.equal(safeTarget('127.0.0.1:8443'), '127.0.0.1:8443');
  assert.equal(safeTarget(`vault/${PASSWORD}`), REDACTED);
  assert.equal(safeResultCode(404), '404');
  assert.equal(safeResultCode('ServiceTimeout'), 'ServiceTimeout');
  assert.equal(safeResultCode('timed out after 3 s'), REDACTED);
});

test('trace ids come only from well-formed version-00 traceparents', () => {
  assert.equal(
    traceIdOf('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'),
    '0af7651916cd43dd8448eb211c80319c',
  );
  assert.equal(traceIdOf('00-00000000000000000000000000000000-b7ad6b7169203331-01'), undefined);
  assert.equal(traceIdOf('00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01'), undefined);
  assert.equal(traceIdOf('01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'), undefined);
  assert.equal(traceIdOf('00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01'), undefined);
  assert.equal(traceIdOf(undefined), undefined);
});
