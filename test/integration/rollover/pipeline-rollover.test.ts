/**
 * A rollover through the whole pipeline with the reference agent: a request sealed just before the
 * roll still succeeds just after it, the agent takes the new SAS keys from the control message,
 * acknowledges on the new Send key, and keeps working once the old keys are retired.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ServiceBusClient } from '@azure/service-bus';
import { eventually, startPipeline, type PipelineUnderTest } from '../../support/pipeline.js';
import { ReplySender, vaultSigner } from '../operations/support.js';

let p: PipelineUnderTest;
before(async () => {
  // No synchronous wait: every reset answers 202 and the test follows its operation.
  p = await startPipeline({ agent: false, env: { WRITEBACK_SYNC_WAIT: 'PT0S' } });
});
after(() => p?.stop());

async function resetAndFollow(password: string): Promise<Record<string, unknown>> {
  const token = await p.token({ user: `alice@${p.tenantId}.test` });
  const answer = await p.call('POST', `/tenants/${p.tenantId}/me/password/reset`, {
    token,
    body: { newPassword: password },
  });
  assert.ok(answer.status === 200 || answer.status === 202, `reset answered ${answer.status} ${answer.text}`);
  return answer.body;
}

async function finalState(operationId: string): Promise<Record<string, unknown>> {
  const token = await p.token({ user: `alice@${p.tenantId}.test` });
  return eventually(
    async () => {
      const answer = await p.call('GET', `/tenants/${p.tenantId}/operations/${operationId}?waitSeconds=5`, {
        token,
      });
      return answer.body.status === 'pending' ? undefined : answer.body;
    },
    30_000,
    `operation ${operationId} to end`,
  );
}

test('a request sealed before a roll succeeds after it; the agent moves to new SAS keys and the old ones die', async () => {
  // A scripted heartbeat makes the tenant online before the agent runs, so a request can be sealed
  // and queued under the current -enc version while nobody takes it.
  const replies = new ReplySender(p.agentConnectionStrings.send, p.tenantId);
  await replies.heartbeat(await vaultSigner(p.cloud, p.tenantId), 'scripted', new Date());
  await replies.close();
  await p.untilOnline();
  const admin = await p.token({ admin: true, user: `admin@${p.tenantId}.test` });
  const before = await p.call('GET', `/tenants/${p.tenantId}/writeback`, { token: admin });
  const pending = await resetAndFollow('Sealed-Before-Roll-1');
  assert.equal(pending.status, 'pending');
  // The scripted agent goes away: the roll sees no agent, so its control message waits in the
  // request session for whichever agent takes it (with agents seen, each gets one in its own session).
  const offline = new ReplySender(p.agentConnectionStrings.send, p.tenantId);
  await offline.heartbeat(await vaultSigner(p.cloud, p.tenantId), 'scripted', new Date(), 'going-offline');
  await offline.close();
  await eventually(
    async () => {
      const token = await p.token();
      const status = await p.call('GET', `/tenants/${p.tenantId}/writeback/status`, { token });
      return status.body.state === 'offline' ? true : undefined;
    },
    15_000,
    'the scripted agent offline',
  );

  const rolled = await p.call('POST', `/tenants/${p.tenantId}/writeback/keys/rollover`, {
    token: admin,
    body: { reason: 'test' },
  });
  assert.equal(rolled.status, 200, rolled.text);
  const keysBefore = before.body.keys as { encryption: { keyId: string } };
  assert.notEqual(rolled.body.encryptionKeyId, keysBefore.encryption.keyId);

  // The agent starts after the roll: it opens the old request with the replaced version (in grace)
  // and the control message with the new one.
  await p.startAgent();
  const first = await finalState(pending.operationId as string);
  assert.equal(first.status, 'succeeded', JSON.stringify(first));

  const view = await eventually(
    async () => {
      const answer = await p.call('GET', `/tenants/${p.tenantId}/writeback`, { token: admin });
      const credentials = answer.body.agentCredentials as { keySlot: string; pending?: unknown };
      return credentials.keySlot === 'secondary' && !credentials.pending ? answer.body : undefined;
    },
    30_000,
    "the agent's acknowledgement",
  );
  assert.equal(
    (view.keys as { encryption: { keyId: string } }).encryption.keyId,
    rolled.body.encryptionKeyId,
  );
  assert.equal(
    p.agentLogs().some((line) => line.includes('"credentialsAcknowledged"')),
    true,
    'the agent says it acknowledged',
  );

  // After the roll, on the new keys: another reset goes through.
  const next = await resetAndFollow('Sealed-After-Roll-2');
  assert.equal((await finalState(next.operationId as string)).status, 'succeeded');

  // The connection string enabling answered is retired: a new client with it is refused.
  const old = new ServiceBusClient(p.agentConnectionStrings.listen, {
    retryOptions: { maxRetries: 0, timeoutInMs: 5_000 },
  });
  await assert.rejects(old.createReceiver(`writeback-${p.tenantId}`).peekMessages(1));
  await old.close();
  // No SAS key reached the agent's log.
  assert.equal(
    p.agentLogs().some((line) => /SharedAccessKey=/.test(line)),
    false,
  );
});
