/** The online/offline rule over heartbeat rows, at fixed times. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { summarize, type HeartbeatRecord } from '../../../shared/heartbeats/index.js';

const NOW = new Date('2026-01-01T12:00:00.000Z');
const INTERVAL_MS = 5 * 60_000; // fresh: within 11 minutes
const POLICY = {
  minLength: 10,
  complexity: true,
  historyLength: 5,
  minimumAgeSeconds: 0,
  lockoutThreshold: 5,
};

function row(agentId: string, minutesAgo: number, extra: Partial<HeartbeatRecord> = {}): HeartbeatRecord {
  const at = new Date(NOW.getTime() - minutesAgo * 60_000);
  return {
    tenantId: 'contoso',
    agentId,
    agentVersion: '1.0.0',
    startedAt: new Date(at.getTime() - 3_600_000),
    lastHeartbeatAt: at,
    state: 'online',
    policy: POLICY,
    keyId: 'https://vault.example/keys/writeback-contoso-sig/1',
    ...extra,
  };
}

describe('summarize', () => {
  test('no rows: offline, never seen', () => {
    assert.deepEqual(summarize([], NOW, INTERVAL_MS), { online: false, lastHeartbeatAt: null, agents: [] });
  });

  test('fresh within 2 × interval + 1 minute is online; just past it is stale', () => {
    assert.equal(summarize([row('a', 11)], NOW, INTERVAL_MS).online, true);
    const stale = summarize([row('a', 11.01)], NOW, INTERVAL_MS);
    assert.equal(stale.online, false);
    assert.equal(stale.agents[0]?.state, 'stale');
    assert.equal(stale.policy, undefined);
  });

  test('a going-offline heartbeat is offline at once, however fresh', () => {
    const status = summarize([row('a', 0, { state: 'going-offline' })], NOW, INTERVAL_MS);
    assert.equal(status.online, false);
    assert.equal(status.agents[0]?.state, 'offline');
    assert.equal(status.lastHeartbeatAt, NOW.toISOString());
  });

  test('a standby alone does not make the tenant online; with an active agent it is listed as standby', () => {
    const alone = summarize([row('b', 0, { state: 'standby' })], NOW, INTERVAL_MS);
    assert.equal(alone.online, false);
    assert.equal(alone.agents[0]?.state, 'standby');
    assert.equal(alone.policy, undefined);
    const pair = summarize([row('b', 0, { state: 'standby' }), row('a', 1)], NOW, INTERVAL_MS);
    assert.equal(pair.online, true);
    assert.deepEqual(
      pair.agents.map((a) => [a.agentId, a.state]),
      [
        ['b', 'standby'],
        ['a', 'online'],
      ],
    );
    const silent = summarize([row('b', 12, { state: 'standby' })], NOW, INTERVAL_MS);
    assert.equal(silent.agents[0]?.state, 'stale');
  });

  test('online when one agent is; policy of the freshest online agent; agents newest first', () => {
    const newerPolicy = { ...POLICY, minLength: 14 };
    const status = summarize(
      [
        row('old', 30),
        row('b', 4),
        row('c', 1, { policy: newerPolicy }),
        row('d', 0, { state: 'going-offline' }),
      ],
      NOW,
      INTERVAL_MS,
    );
    assert.equal(status.online, true);
    assert.deepEqual(
      status.agents.map((a) => [a.agentId, a.state]),
      [
        ['d', 'offline'],
        ['c', 'online'],
        ['b', 'online'],
        ['old', 'stale'],
      ],
    );
    assert.deepEqual(status.policy, newerPolicy);
  });

  test('heartbeats from before the current enablement (less 2 minutes of skew) are not counted', () => {
    const enabledAt = new Date(NOW.getTime() - 5 * 60_000).toISOString();
    const status = summarize([row('previous', 8), row('current', 6)], NOW, INTERVAL_MS, { enabledAt });
    assert.deepEqual(
      status.agents.map((a) => a.agentId),
      ['current'],
    );
  });

  test('a heartbeat received before the current enablement is not counted, even within the skew', () => {
    const enabledAt = new Date(NOW.getTime() - 60_000);
    const minutesAgo = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000);
    // Signed 90 s before the enable (within 2 minutes of skew), but recorded before it: the revoked agent.
    const revoked = row('revoked', 1.5, { receivedAt: minutesAgo(1.5) });
    const current = row('current', 0.5, { receivedAt: minutesAgo(0.5) });
    const status = summarize([revoked, current], NOW, INTERVAL_MS, { enabledAt: enabledAt.toISOString() });
    assert.deepEqual(
      status.agents.map((a) => a.agentId),
      ['current'],
    );
    const onlyRevoked = summarize([revoked], NOW, INTERVAL_MS, { enabledAt: enabledAt.toISOString() });
    assert.equal(onlyRevoked.online, false);
  });
});
