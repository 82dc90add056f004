import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isoDurationToMs, loadSettings } from '../../../shared/config/settings.js';
import { ConfigurationError } from '../../../shared/errors/index.js';

const minimal = { AUTH_ISSUER: 'http://127.0.0.1:7072/{tenantId}/v2.0', AUTH_AUDIENCE: 'api://writeback' };

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
  assert.equal(s.auth.issuerTemplate, minimal.AUTH_ISSUER);
  assert.equal(s.auth.audience, 'api://writeback');
  assert.equal(s.keyVaultUri, undefined);
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
  assert.equal(failureOf({ AUTH_ISSUER: minimal.AUTH_ISSUER }).setting, 'AUTH_AUDIENCE');
  assert.equal(failureOf({ AUTH_AUDIENCE: 'api://writeback' }).setting, 'AUTH_ISSUER');
  assert.equal(failureOf({ ...minimal, AUTH_ISSUER: 'not a url' }).setting, 'AUTH_ISSUER');
  assert.equal(failureOf({ ...minimal, AUTH_ISSUER: 'ftp://example.test/x' }).setting, 'AUTH_ISSUER');
  const ttl = failureOf({ ...minimal, WRITEBACK_MESSAGE_TTL: '5 minutes' });
  assert.equal(ttl.setting, 'WRITEBACK_MESSAGE_TTL');
  assert.match(ttl.message, /WRITEBACK_MESSAGE_TTL.*ISO-8601/);
  assert.equal(failureOf({ ...minimal, WRITEBACK_SYNC_WAIT: 'PT10M' }).setting, 'WRITEBACK_SYNC_WAIT');
  assert.equal(failureOf({ ...minimal, HEARTBEAT_INTERVAL: 'PT0S' }).setting, 'HEARTBEAT_INTERVAL');
  assert.equal(failureOf({ ...minimal, KEYVAULT_URI: 'vault' }).setting, 'KEYVAULT_URI');
});
