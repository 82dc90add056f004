import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  acceptsSigningKey,
  inGrace,
  nextRolloverAt,
  rolloverPolicy,
  tenantOffsetMs,
} from '../../../shared/tenants/index.js';

type Row = Parameters<typeof nextRolloverAt>[0];
const DAY = 86_400_000;
const VAULT = 'https://kv.vault.azure.net';
const sig = (version: string) => `${VAULT}/keys/writeback-contoso-sig/${version.padEnd(32, '0')}`;

function row(fields: Partial<Row>): Row {
  return {
    tenantId: 'contoso',
    state: 'enabled',
    requestQueue: 'writeback-contoso',
    repliesQueue: 'writeback-contoso-replies',
    listenRule: 'writeback-agent-listen',
    sendRule: 'writeback-agent-send',
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...fields,
  };
}

test('the defaults: grace covers TTL + sync wait + expiry grace + margin; expiry a little over two periods', () => {
  const policy = rolloverPolicy({ keyRolloverAfterMs: 180 * DAY, messageTtlMs: 300_000, syncWaitMs: 25_000 });
  assert.equal(policy.graceMs, 300_000 + 25_000 + 60_000 + 120_000);
  assert.equal(policy.expiresIn, 'P378D'); // 2.1 × 180 days
  assert.equal(policy.notifyBefore, 'P30D');
  assert.equal(policy.credentialsOverdueMs, DAY);
});

test("a short period still gets Key Vault's 28-day minimum expiry, and a 7-day notice", () => {
  const policy = rolloverPolicy({ keyRolloverAfterMs: 120_000, messageTtlMs: 300_000, syncWaitMs: 25_000 });
  assert.equal(policy.expiresIn, 'P28D');
  assert.equal(policy.notifyBefore, 'P7D');
  assert.equal(policy.credentialsOverdueMs, 120_000);
});

test('the per-tenant offset is fixed, within a tenth of the period and at most a week', () => {
  for (const period of [60_000, 120_000, DAY, 180 * DAY, 3 * 365 * DAY]) {
    for (let i = 0; i < 200; i++) {
      const tenant = `tenant-${i.toString(36)}`;
      const offset = tenantOffsetMs(tenant, period);
      assert.equal(offset, tenantOffsetMs(tenant, period));
      assert.ok(offset >= 0 && offset < Math.min(7 * DAY, period / 10), `${tenant} ${period}: ${offset}`);
    }
  }
  // Tenants enabled together fall due at different times.
  const offsets = new Set(Array.from({ length: 100 }, (_, i) => tenantOffsetMs(`tenant-${i}`, 180 * DAY)));
  assert.ok(offsets.size > 95);
});

test('next rollover: the older current version plus the period, less the offset; none without keys', () => {
  const period = 180 * DAY;
  assert.equal(nextRolloverAt(row({}), period), undefined);
  const next = nextRolloverAt(
    row({
      encryptionKeyCreatedAt: '2026-01-02T00:00:00.000Z',
      signatureKeyCreatedAt: '2026-01-01T00:00:00.000Z',
    }),
    period,
  );
  assert.equal(
    next?.getTime(),
    Date.parse('2026-01-01T00:00:00.000Z') + period - tenantOffsetMs('contoso', period),
  );
});

test('replies verify with the current signing version or one in grace, nothing else', () => {
  const now = new Date('2026-06-01T00:10:00.000Z');
  const record = row({
    signatureKeyId: sig('aa'),
    replacedKeys: [
      { keyId: sig('bb'), replacedAt: '2026-06-01T00:09:00.000Z' },
      { keyId: sig('cc'), replacedAt: '2026-06-01T00:00:00.000Z' },
    ],
  });
  const grace = 5 * 60_000;
  assert.equal(acceptsSigningKey(record, sig('aa'), grace, now), true);
  assert.equal(acceptsSigningKey(record, sig('bb'), grace, now), true, 'replaced 1 minute ago: in grace');
  assert.equal(
    acceptsSigningKey(record, sig('cc'), grace, now),
    false,
    'replaced 10 minutes ago: out of grace',
  );
  assert.equal(acceptsSigningKey(record, sig('dd'), grace, now), false, 'never this tenant’s');
  assert.equal(acceptsSigningKey(record, 'not a key id', grace, now), false);
  assert.deepEqual(
    inGrace(record, grace, now).map((k) => k.keyId),
    [sig('bb')],
  );
});
