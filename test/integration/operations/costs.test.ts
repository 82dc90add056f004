/**
 * What one reset costs the cloud side, measured on real parts: a second host of the app reaches
 * Azurite's tables through a counting forwarder and handles both the HTTP call and the reply (the
 * first host's replies function is disabled), and the app's Key Vault role is revoked after the first
 * reset, so any Key Vault call per request would fail the reset.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEV_IDENTITIES } from '../../../local/stack/identities.js';
import { startCountingProxy, type CountingProxy } from '../../support/counting-proxy.js';
import { eventually, startPipeline, type PipelineUnderTest } from '../../support/pipeline.js';

const RESETS = 6;
/**
 * The rate limits' query, the transaction that counts the attempt and records the operation; in the
 * replies function the operation's read and the transaction that ends it. The tenant's row comes from
 * the instance's cache (10 s), so the count is measured over resets within one cache period.
 */
const TABLE_CALLS_PER_RESET = 4;

describe('the cost of one reset', () => {
  let p: PipelineUnderTest;
  let proxy: CountingProxy;
  let api: string;

  before(async () => {
    p = await startPipeline({
      // Heartbeats once a minute: none arrives while the resets are counted.
      env: { 'AzureWebJobs.replies.Disabled': 'true', HEARTBEAT_INTERVAL: 'PT1M' },
    });
    proxy = await startCountingProxy(`http://127.0.0.1:${p.cloud.azurite.tablePort}`);
    const storage = p.cloud.azurite.connectionString.replace(
      /TableEndpoint=[^;]+/,
      `TableEndpoint=${proxy.url}/devstoreaccount1`,
    );
    const host = await p.startSecondHost({
      AzureWebJobsStorage: storage,
      'AzureWebJobs.replies.Disabled': 'false',
    });
    api = `${host.url}/api`;
    await p.untilOnline(api);
  });
  after(async () => {
    await p?.stop();
    await proxy?.close();
  });

  test(`no Key Vault call, and ${TABLE_CALLS_PER_RESET} table calls, per reset`, async (t) => {
    const token = await p.token();
    let n = 0;
    // The waiting call may be answered before the reply's transaction has returned: wait until every
    // operation has ended, so that each reset's calls fall inside the counted window, and only those.
    const ended = async (count: number) =>
      eventually(async () => {
        let rows = 0;
        for await (const row of p.cloud.table('operations').listEntities<{ state?: string }>()) {
          if (row.state !== undefined && row.state !== 'pending') rows++;
        }
        return rows >= count ? rows : undefined;
      });
    const reset = async () => {
      const answer = await p.call('POST', `/tenants/${p.tenantId}/me/password/reset`, {
        token,
        body: { newPassword: `Costs-Passw0rd-${++n}` },
        api,
      });
      assert.equal(answer.status, 200, answer.text);
    };
    // Warm: tables created, the -enc and -sig public keys cached, links open.
    await reset();
    await ended(1);
    for (const assignment of p.cloud.keyVault.roleAssignments()) {
      if (assignment.principalId === DEV_IDENTITIES.functionsApp.objectId) {
        p.cloud.keyVault.removeRoleAssignment(assignment.id);
      }
    }
    proxy.reset();
    for (let i = 0; i < RESETS; i++) await reset();
    await ended(1 + RESETS);
    const calls = proxy.calls();
    const byKind = new Map<string, number>();
    for (const call of calls) {
      const kind = call.replace(/\(.*$/, '(…)').replace(/\/devstoreaccount1/, '');
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
    }
    t.diagnostic(`table calls per reset: ${calls.length / RESETS}`);
    for (const [kind, count] of byKind) t.diagnostic(`  ${kind}: ${count / RESETS}`);
    // The heartbeat rows are cached for 5 s per instance: at most a read or two in the whole run.
    const withoutHeartbeats = calls.filter((call) => !call.includes('/heartbeats')).length;
    assert.equal(
      withoutHeartbeats,
      TABLE_CALLS_PER_RESET * RESETS,
      `${withoutHeartbeats / RESETS} table calls per reset:\n${calls.join('\n')}`,
    );
  });
});
