/**
 * The audit trail (shared/audit) against Azurite, and its route through the real app: accepted
 * operations and audit rows merged newest first, `top` bounded, the window widened only as far as
 * needed, the partition's other rows left out, and only the listed columns answered.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { TableClient } from '@azure/data-tables';
import { startAzurite, type Azurite } from '../../../local/azurite/index.js';
import { AuditTrail } from '../../../shared/audit/index.js';
import { OperationStore, type OperationRecord } from '../../../shared/operations/index.js';
import { AuditLog } from '../../../shared/tenants/index.js';
import { appSettings, startAppHost, TEST_AUDIENCE } from '../../support/app.js';
import { startIdentityProvider, type IdentityProvider } from '../../../local/identity/index.js';
import type { FunctionsHost } from '../../../local/functions-host/index.js';

const NOW = new Date('2026-06-01T12:00:00.000Z');
const minutesAgo = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000);

describe('audit trail', () => {
  let azurite: Azurite;
  const table = (name: string) =>
    TableClient.fromConnectionString(azurite.connectionString, name, { allowInsecureConnection: true });

  before(async () => {
    azurite = await startAzurite();
  });
  after(async () => {
    await azurite?.stop();
  });

  function operation(
    tenantId: string,
    createdMinutesAgo: number,
    state: OperationRecord['state'],
  ): OperationRecord {
    const createdAt = minutesAgo(createdMinutesAgo);
    return {
      tenantId,
      operationId: randomUUID(),
      kind: 'reset',
      user: { kind: 'upn', value: 'bob@contoso.test' },
      requester: { objectId: 'admin-oid', upn: 'admin@contoso.test', route: 'admin' },
      forceChangeAtNextLogon: true,
      generatedPassword: true,
      state,
      ...(state === 'failed' ? { code: 'PasswordPolicy' as const, reason: 'tooShort' as const } : {}),
      createdAt,
      expiresAt: new Date(createdAt.getTime() + 300_000),
      keyVersion: 'secret-looking-key-version',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    };
  }

  it('merges operations and audit rows newest first, within the window it needed', async () => {
    const tenant = 'audit-merge';
    const operations = new OperationStore(table('operations'));
    const audit = new AuditLog(table('audit'));
    const recent = operation(tenant, 5, 'succeeded');
    const older = operation(tenant, 60, 'failed');
    const old = operation(tenant, 3 * 24 * 60, 'succeeded');
    for (const record of [recent, older, old]) await operations.create(record);
    // Rows of other kinds share the partition: an idempotency key and a rate-limit counter.
    await table('operations').createEntity({
      partitionKey: tenant,
      rowKey: `idempotency-${'a'.repeat(64)}`,
      createdAt: NOW.toISOString(),
    });
    await table('operations').createEntity({
      partitionKey: tenant,
      rowKey: 'limit-user-abc-0',
      createdAt: NOW.toISOString(),
    });
    await audit.record({
      tenantId: tenant,
      action: 'WritebackDisabled',
      actor: { objectId: 'admin-oid', upn: 'admin@contoso.test' },
      target: 'tenants/audit-merge/writeback',
      outcome: 'succeeded',
      at: minutesAgo(10),
    });
    await audit.record({
      tenantId: 'another-tenant',
      action: 'WritebackEnabled',
      actor: { objectId: 'x' },
      target: 'tenants/another-tenant/writeback',
      outcome: 'succeeded',
      at: minutesAgo(1),
    });
    const trail = new AuditTrail({ operations: table('operations'), audit: table('audit'), now: () => NOW });

    const two = await trail.recent(tenant, 2);
    assert.deepEqual(
      two.entries.map((e) => [e.source, e.action, e.at]),
      [
        ['operation', 'PasswordReset', recent.createdAt.toISOString()],
        ['audit', 'WritebackDisabled', minutesAgo(10).toISOString()],
      ],
    );
    assert.equal(two.from, minutesAgo(15).toISOString(), 'the first window held enough');

    const all = await trail.recent(tenant, 50);
    assert.deepEqual(
      all.entries.map((e) => e.operationId ?? e.action),
      [recent.operationId, 'WritebackDisabled', older.operationId, old.operationId],
    );
    assert.equal(all.from, minutesAgo(90 * 24 * 60).toISOString(), 'widened to the last window');
    assert.deepEqual(all.entries[2], {
      at: older.createdAt.toISOString(),
      source: 'operation',
      action: 'PasswordReset',
      outcome: 'failed',
      actor: { objectId: 'admin-oid', upn: 'admin@contoso.test' },
      target: 'upn:bob@contoso.test',
      route: 'admin',
      operationId: older.operationId,
      code: 'PasswordPolicy',
      reason: 'tooShort',
      flags: ['forceChangeAtNextLogon', 'generatedPassword'],
    });
    const text = JSON.stringify(all);
    assert.ok(
      !text.includes('secret-looking-key-version') && !text.includes('0af7651916cd43dd'),
      'only listed columns',
    );
  });

  it('answers an empty trail for a tenant with no table rows yet', async () => {
    const trail = new AuditTrail({
      operations: table('nevercreatedops'),
      audit: table('nevercreatedaudit'),
      now: () => NOW,
    });
    assert.deepEqual((await trail.recent('quiet', 10)).entries, []);
  });

  describe('GET /api/tenants/{t}/audit', () => {
    let identity: IdentityProvider;
    let host: FunctionsHost;
    before(async () => {
      identity = await startIdentityProvider({ port: 0 });
      host = await startAppHost(appSettings(identity, { AzureWebJobsStorage: azurite.connectionString }));
    });
    after(async () => {
      await host?.stop();
      await identity?.close();
    });
    const get = async (query: string, roles: string[] = ['Writeback.Admin'], tenant = 'contoso') => {
      const token = await identity.mintToken({
        tenant: 'contoso',
        upn: 'admin@contoso.test',
        roles,
        audience: TEST_AUDIENCE,
      });
      return fetch(`${host.url}/api/tenants/${tenant}/audit${query}`, {
        headers: { authorization: `Bearer ${token}` },
      });
    };

    it('answers an admin, newest first, and refuses others and a bad top', async () => {
      await new OperationStore(table('operations')).create({
        ...operation('contoso', 0, 'pending'),
        createdAt: new Date(),
      });
      const answer = await get('?top=5');
      assert.equal(answer.status, 200, await answer.clone().text());
      assert.equal(answer.headers.get('cache-control'), 'no-store');
      const body = (await answer.json()) as { entries: { action: string; outcome: string }[] };
      assert.deepEqual(
        body.entries.map((e) => [e.action, e.outcome]),
        [['PasswordReset', 'pending']],
      );

      assert.equal((await get('', [])).status, 403, 'a user without the role');
      assert.equal((await get('', ['Writeback.Admin'], 'fabrikam')).status, 403, 'another tenant');
      for (const top of ['0', '201', 'ten'])
        assert.equal((await get(`?top=${top}`)).status, 400, `top=${top}`);
    });
  });
});
