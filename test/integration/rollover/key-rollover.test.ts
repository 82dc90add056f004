/**
 * Key rollover on real parts (the app's host, Azurite, both emulators, official SDKs), with a clock
 * the test controls: what rolls and when, two timers at once, the grace of replaced versions, which
 * signing versions replies may use, the SAS rollover up to the agent's acknowledgement, and what the
 * API shows of it.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ServiceBusClient } from '@azure/service-bus';
import { KeyVaultRequestCrypto } from '../../../shared/azure/key-vault-crypto.js';
import { HeartbeatMonitor } from '../../../shared/heartbeats/monitor.js';
import { HeartbeatStore } from '../../../shared/heartbeats/store.js';
import { ReplyProcessor } from '../../../shared/replies/processor.js';
import { SignatureKeys } from '../../../shared/replies/signature-keys.js';
import type { KeyRollover } from '../../../shared/rollover/index.js';
import {
  CreationPacer,
  credentialsState,
  liveAgentsOf,
  rolloverPolicy,
  tenantOffsetMs,
  type RolloverPolicy,
} from '../../../shared/rollover/index.js';
import { TenantRegistry, type TenantRecord } from '../../../shared/tenants/tenant-registry.js';
import {
  agentSessionId,
  encryptionKeyName,
  openRequest,
  parseKeyId,
  signatureKeyName,
  REQUEST_SESSION_ID,
  signCredentialsAck,
  signHeartbeat,
  type ReplySigner,
} from '../../../shared/wire/index.js';
import { startCloud, type CloudUnderTest } from '../../support/cloud.js';
import { keyRolloverOn } from './support.js';

const PERIOD_MS = 60 * 60_000;
const TTL_MS = 60_000;
/** The SDK retries UnauthorizedAccess; a refused key should fail at once here. */
const NO_RETRIES = { retryOptions: { maxRetries: 0, timeoutInMs: 5_000 } };
const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

let cloud: CloudUnderTest;
let policy: RolloverPolicy;
let offsetMs = 0;
/** The test's clock: real time plus an offset the tests move forward. */
const clock = () => new Date(Date.now() + offsetMs);

before(async () => {
  cloud = await startCloud({ sharedRepliesQueue: true, env: { WRITEBACK_KEY_PROTECTION: 'software' } });
  policy = rolloverPolicy({ keyRolloverAfterMs: PERIOD_MS, messageTtlMs: TTL_MS, syncWaitMs: 5_000 });
});
after(() => cloud?.stop());

function rollover(pacer = new CreationPacer({ limit: 100, windowMs: 1_000 })): KeyRollover {
  return keyRolloverOn(cloud, { policy, messageTtlMs: TTL_MS, pacer, now: clock });
}

/** A rollover that sends control messages to the agents whose heartbeats it sees (as the app does). */
function rolloverToAgents(): KeyRollover {
  const monitor = new HeartbeatMonitor({
    store: new HeartbeatStore(cloud.table('heartbeats')),
    registry: new TenantRegistry(cloud.table('tenants')),
    heartbeatIntervalMs: 5 * 60_000,
    cacheMs: 0,
    now: clock,
  });
  return keyRolloverOn(cloud, {
    policy,
    messageTtlMs: TTL_MS,
    pacer: new CreationPacer({ limit: 100, windowMs: 1_000 }),
    now: clock,
    liveAgents: liveAgentsOf(monitor),
  });
}

async function admin(method: string, path: string, body?: unknown) {
  const token = await cloud.identity.mintToken({
    tenant: path.split('/')[2]!,
    upn: 'admin@test',
    roles: ['Writeback.Admin'],
  });
  const response = await fetch(`${cloud.api}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function enable(tenantId: string) {
  const answer = await admin('PUT', `/tenants/${tenantId}/writeback`);
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body as { agentConnectionStrings: { listen: string; send: string } };
}

async function row(tenantId: string): Promise<TenantRecord> {
  const stored = await new TenantRegistry(cloud.table('tenants')).get(tenantId);
  assert.ok(stored);
  return stored.record;
}

async function versions(name: string) {
  const all = [];
  for await (const v of cloud.keyClient().listPropertiesOfKeyVersions(name)) all.push(v);
  return all;
}

/** Moves the clock to just past the tenant's next rollover. */
async function makeDue(tenantId: string): Promise<void> {
  const record = await row(tenantId);
  const created = Math.min(
    Date.parse(record.encryptionKeyCreatedAt!),
    Date.parse(record.signatureKeyCreatedAt!),
  );
  offsetMs = Math.max(
    offsetMs,
    created + PERIOD_MS - tenantOffsetMs(tenantId, PERIOD_MS) - Date.now() + 1_000,
  );
}

function signerFor(keyId: string): ReplySigner {
  const { name, version } = parseKeyId(keyId);
  const crypto = cloud.keyClient().getCryptographyClient(name, { keyVersion: version });
  return { kid: keyId, sign: async (alg, digest) => Buffer.from((await crypto.sign(alg, digest)).result) };
}

function processor(roller: KeyRollover): ReplyProcessor {
  return new ReplyProcessor({
    keys: new SignatureKeys(cloud.keyClient(), cloud.keyVault.vaultUri),
    registry: new TenantRegistry(cloud.table('tenants')),
    heartbeats: new HeartbeatStore(cloud.table('heartbeats')),
    operations: { recordResult: () => Promise.reject(new Error('no results in this test')) },
    rollover: roller,
    graceMs: policy.graceMs,
    now: clock,
  });
}

const heartbeatOf = (tenantId: string, now: Date) => ({
  tenantId,
  agentId: 'agent-1',
  agentVersion: '1.0.0',
  startedAt: new Date(now.getTime() - 1_000),
  now,
  policy: { minLength: 10, complexity: true, historyLength: 5, minimumAgeSeconds: 0, lockoutThreshold: 5 },
  state: 'online' as const,
});

describe('key rollover', () => {
  test('young keys stay; due keys roll once, with a Notify-only rotation policy and an audit row each', async () => {
    await enable('roll-age');
    const first = await row('roll-age');
    assert.equal(first.agentKeySlot, 'primary');
    const roller = rollover();
    const far = Date.now() + 60_000;
    assert.equal((await roller.run(far, quiet)).rolled, 0, 'keys younger than the period stay');
    assert.equal(first.encryptionKeyId, (await row('roll-age')).encryptionKeyId);

    await makeDue('roll-age');
    const summary = await roller.run(far, quiet);
    assert.equal(summary.rolled, 1);
    const rolled = await row('roll-age');
    assert.notEqual(rolled.encryptionKeyId, first.encryptionKeyId);
    assert.notEqual(rolled.signatureKeyId, first.signatureKeyId);
    assert.deepEqual(
      rolled.replacedKeys?.map((k) => k.keyId).sort(),
      [first.encryptionKeyId, first.signatureKeyId].sort(),
    );
    assert.equal(rolled.rolling, undefined);
    assert.equal(rolled.pendingCredentials?.slot, 'secondary');
    assert.equal((await roller.run(far, quiet)).rolled, 0, 'a second run does not roll again');
    assert.equal((await versions(encryptionKeyName('roll-age'))).length, 2);

    const rotationPolicy = await cloud.keyClient().getKeyRotationPolicy(encryptionKeyName('roll-age'));
    assert.equal(rotationPolicy.expiresIn, policy.expiresIn);
    assert.deepEqual(
      rotationPolicy.lifetimeActions?.map((a) => [a.action, a.timeBeforeExpiry]),
      [['Notify', policy.notifyBefore]],
    );

    const audit = [];
    for await (const e of cloud.table('audit').listEntities<Record<string, unknown>>({
      queryOptions: { filter: `PartitionKey eq 'roll-age' and action eq 'KeyRolledOver'` },
    }))
      audit.push(e);
    assert.deepEqual(audit.map((e) => [e.target, e.reason, e.newVersion]).sort(), [
      ['tenants/roll-age/writeback/keys/encryption', 'age', parseKeyId(rolled.encryptionKeyId!).version],
      ['tenants/roll-age/writeback/keys/signature', 'age', parseKeyId(rolled.signatureKeyId!).version],
    ]);
    // The audit holds versions only: no key material.
    assert.ok(
      audit.every(
        (e) => !JSON.stringify(e).includes('"n"') && !JSON.stringify(e).includes('SharedAccessKey'),
      ),
    );
  });

  test('two timers at once roll a tenant once', async () => {
    await enable('roll-twice');
    await makeDue('roll-twice');
    const far = Date.now() + 60_000;
    const [a, b] = await Promise.all([rollover().run(far, quiet), rollover().run(far, quiet)]);
    assert.equal(a.rolled + b.rolled, 1);
    assert.equal((await versions(encryptionKeyName('roll-twice'))).length, 2);
    assert.equal((await versions(signatureKeyName('roll-twice'))).length, 2);
  });

  test('a replaced version works through its grace, then is disabled; replies signed with it are refused after', async () => {
    await enable('roll-grace');
    const first = await row('roll-grace');
    // Sign a heartbeat with the version about to be replaced, before the roll.
    const oldSigner = signerFor(first.signatureKeyId!);
    await makeDue('roll-grace');
    const roller = rollover();
    await roller.run(Date.now() + 60_000, quiet);
    const rolled = await row('roll-grace');

    // In grace: a reply signed with the replaced version is taken.
    const inGrace = await signHeartbeat(heartbeatOf('roll-grace', clock()), oldSigner);
    assert.equal((await processor(roller).handle(inGrace, {}, quiet)).outcome, 'recorded');
    // Its status view shows the replaced versions and when they end.
    const view = await admin('GET', '/tenants/roll-grace/writeback');
    const keys = view.body.keys as { encryption: { keyId: string; replaced: { keyId: string }[] } };
    assert.equal(keys.encryption.keyId, rolled.encryptionKeyId);
    assert.deepEqual(
      keys.encryption.replaced.map((k) => k.keyId),
      [first.encryptionKeyId],
    );

    // Past the grace: the next run disables both replaced versions.
    const late = await signHeartbeat(
      heartbeatOf('roll-grace', new Date(Date.now() + offsetMs + 1_000)),
      oldSigner,
    );
    offsetMs += policy.graceMs + 1_000;
    const summary = await roller.run(Date.now() + 60_000, quiet);
    assert.ok(summary.retired >= 2);
    for (const id of [first.encryptionKeyId!, first.signatureKeyId!]) {
      const { name, version } = parseKeyId(id);
      const key = await cloud.keyClient().getKey(name, { version });
      assert.equal(key.properties.enabled, false, `${name} ${version} disabled`);
    }
    assert.deepEqual((await row('roll-grace')).replacedKeys ?? [], []);
    // A reply signed with the out-of-grace version is refused (before any Key Vault lookup).
    const refused = await processor(roller).handle(late, {}, quiet);
    assert.deepEqual(refused, { outcome: 'dropped', reason: 'unknownKey' });
    // The current version still verifies.
    const current = await signHeartbeat(
      heartbeatOf('roll-grace', clock()),
      signerFor(rolled.signatureKeyId!),
    );
    assert.equal((await processor(roller).handle(current, {}, quiet)).outcome, 'recorded');
  });

  test('forged replies: an unlisted version costs no Key Vault call, a refused one costs one, then none', async () => {
    await enable('roll-forged');
    const current = (await row('roll-forged')).signatureKeyId!;
    const { name, version } = parseKeyId(current);
    // The real SDK client, counting what the processor asks of Key Vault.
    const client = cloud.keyClient();
    let lookups = 0;
    const getKey = client.getKey.bind(client);
    client.getKey = (...args: Parameters<typeof getKey>) => {
      lookups++;
      return getKey(...args);
    };
    const forged = new ReplyProcessor({
      keys: new SignatureKeys(client, cloud.keyVault.vaultUri),
      registry: new TenantRegistry(cloud.table('tenants')),
      heartbeats: new HeartbeatStore(cloud.table('heartbeats')),
      operations: { recordResult: () => Promise.reject(new Error('no results in this test')) },
      rollover: rollover(),
      graceMs: policy.graceMs,
      now: clock,
    });
    const forgedSigner = (kid: string): ReplySigner => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      return {
        kid,
        sign: (_alg, digest) =>
          Promise.resolve(sign(null, digest, { key: privateKey, dsaEncoding: 'ieee-p1363' })),
      };
    };
    const dropped = { outcome: 'dropped', reason: 'unknownKey' };
    // A random version of the tenant's -sig key: refused by the tenant's row, Key Vault never asked.
    for (let i = 0; i < 3; i++) {
      const kid = current.replace(version, randomBytes(16).toString('hex'));
      const reply = await signHeartbeat(heartbeatOf('roll-forged', clock()), forgedSigner(kid));
      assert.deepEqual(await forged.handle(reply, {}, quiet), dropped);
    }
    assert.equal(lookups, 0);
    // The listed version, disabled in Key Vault: one lookup finds it refused, later replies cost none.
    await cloud.keyClient().updateKeyProperties(name, version, { enabled: false });
    try {
      for (let i = 0; i < 3; i++) {
        const reply = await signHeartbeat(heartbeatOf('roll-forged', clock()), forgedSigner(current));
        assert.deepEqual(await forged.handle(reply, {}, quiet), dropped);
      }
      assert.equal(lookups, 1);
    } finally {
      await cloud.keyClient().updateKeyProperties(name, version, { enabled: true });
      // Out of the way of the tests that count what one run rolls.
      await admin('DELETE', '/tenants/roll-forged/writeback');
    }
  });

  test('SAS: the control message carries the regenerated slot, the acknowledgement retires the old one', async () => {
    const enabled = await enable('roll-sas');
    const oldListen = enabled.agentConnectionStrings.listen;
    await makeDue('roll-sas');
    const roller = rollover();
    const summary = await roller.run(Date.now() + 60_000, quiet);
    assert.equal(summary.credentialsSent, 1);
    const record = await row('roll-sas');
    const pending = record.pendingCredentials!;
    assert.ok(pending.sentAt);

    // The agent's view: the control message is in its request session, sealed with the new -enc version.
    const agentBus = new ServiceBusClient(oldListen);
    const receiver = await agentBus.acceptSession('writeback-roll-sas', REQUEST_SESSION_ID, {
      skipConvertingDate: true,
    });
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 10_000 });
    assert.ok(message, 'a control message');
    assert.equal(message.messageId, pending.rolloverId);
    const vault = new KeyVaultRequestCrypto(cloud.keyVault.vaultUri, cloud.developerCredential, {
      tlsOptions: { ca: cloud.ca.caPem },
    });
    const opened = await openRequest(message, vault, clock());
    assert.equal(opened.header.keyVersion, parseKeyId(record.encryptionKeyId!).version);
    assert.equal(opened.payload.operation, 'credentials');
    const queue = await cloud.serviceBusAdmin.getQueue('writeback-roll-sas');
    const listenRule = queue.authorizationRules!.find((r) => r.keyName === record.listenRule)!;
    assert.ok(opened.payload.operation === 'credentials');
    assert.equal(opened.payload.listenKey, listenRule.secondaryKey);
    await receiver.completeMessage(message);
    await receiver.close();
    await agentBus.close();

    // Not acknowledged yet: the old key works, the status says rolling.
    const status = await admin('GET', '/tenants/roll-sas/writeback');
    assert.equal((status.body.agentCredentials as { state: string }).state, 'rolling');

    // The acknowledgement, signed by the agent's current -sig version, retires the primary keys.
    const ack = await signCredentialsAck(
      { tenantId: 'roll-sas', rolloverId: pending.rolloverId, agentId: 'agent-1', acknowledgedAt: clock() },
      signerFor(record.signatureKeyId!),
    );
    const disposition = await processor(roller).handle(ack, {}, quiet);
    assert.deepEqual(disposition, {
      outcome: 'acknowledged',
      kind: 'credentialsAck',
      tenantId: 'roll-sas',
      rolloverId: pending.rolloverId,
    });
    const after = await row('roll-sas');
    assert.equal(after.agentKeySlot, 'secondary');
    assert.equal(after.pendingCredentials, undefined);
    const retired = (await cloud.serviceBusAdmin.getQueue('writeback-roll-sas')).authorizationRules!.find(
      (r) => r.keyName === record.listenRule,
    )!;
    assert.notEqual(retired.primaryKey, listenRule.primaryKey, 'the old primary key is regenerated');
    assert.equal(retired.secondaryKey, listenRule.secondaryKey, "the agent's new key is kept");
    // A second acknowledgement of the same rollover changes nothing.
    assert.equal((await processor(roller).handle(ack, {}, quiet)).outcome, 'stale');
    // The old connection string no longer connects.
    const stale = new ServiceBusClient(oldListen, NO_RETRIES);
    await assert.rejects(stale.acceptSession('writeback-roll-sas', REQUEST_SESSION_ID));
    await stale.close();
  });

  test('SAS with two agents: a control message in each agent’s session; the old slot goes once both acknowledged', async () => {
    const enabled = await enable('roll-pair');
    const oldListen = enabled.agentConnectionStrings.listen;
    await makeDue('roll-pair');
    const roller = rolloverToAgents();
    const before = await row('roll-pair');
    // The tenant runs two agents: one active, one on standby. Both send heartbeats.
    for (const [agentId, state] of [
      ['agent-1', 'online'],
      ['agent-2', 'standby'],
    ] as const) {
      const heartbeat = await signHeartbeat(
        { ...heartbeatOf('roll-pair', clock()), agentId, state },
        signerFor(before.signatureKeyId!),
      );
      assert.equal((await processor(roller).handle(heartbeat, {}, quiet)).outcome, 'recorded');
    }
    assert.equal((await roller.run(Date.now() + 60_000, quiet)).credentialsSent, 1);
    const record = await row('roll-pair');
    const pending = record.pendingCredentials!;
    assert.deepEqual([...pending.agents!].sort(), ['agent-1', 'agent-2']);

    const agentBus = new ServiceBusClient(oldListen, NO_RETRIES);
    try {
      for (const agentId of ['agent-1', 'agent-2']) {
        const session = await agentBus.acceptSession('writeback-roll-pair', agentSessionId(agentId));
        const [message] = await session.receiveMessages(1, { maxWaitTimeInMs: 5_000 });
        assert.equal(message?.messageId, pending.rolloverId, `a control message for ${agentId}`);
        await session.completeMessage(message!);
        await session.close();
      }
      const requests = await agentBus.acceptSession('writeback-roll-pair', REQUEST_SESSION_ID);
      assert.deepEqual(
        await requests.receiveMessages(1, { maxWaitTimeInMs: 300 }),
        [],
        'none for the request session',
      );
      await requests.close();
    } finally {
      await agentBus.close();
    }

    const ack = (agentId: string) =>
      signCredentialsAck(
        { tenantId: 'roll-pair', rolloverId: pending.rolloverId, agentId, acknowledgedAt: clock() },
        signerFor(record.signatureKeyId!),
      );
    assert.equal((await processor(roller).handle(await ack('agent-2'), {}, quiet)).outcome, 'awaiting');
    const halfway = await row('roll-pair');
    assert.deepEqual(halfway.pendingCredentials?.acknowledgedBy, ['agent-2']);
    assert.equal(halfway.agentKeySlot, 'primary', 'the old slot still works: agent-1 has yet to move');
    const stillWorks = new ServiceBusClient(oldListen, NO_RETRIES);
    assert.ok(Array.isArray(await stillWorks.createReceiver('writeback-roll-pair').peekMessages(1)));
    await stillWorks.close();

    assert.equal((await processor(roller).handle(await ack('agent-1'), {}, quiet)).outcome, 'acknowledged');
    const after = await row('roll-pair');
    assert.equal(after.agentKeySlot, 'secondary');
    assert.equal(after.pendingCredentials, undefined);
    const stale = new ServiceBusClient(oldListen, NO_RETRIES);
    await assert.rejects(stale.acceptSession('writeback-roll-pair', REQUEST_SESSION_ID));
    await stale.close();
  });

  test('SAS with two agents, one of which went away: the rollover completes once the agents still seen acknowledged', async () => {
    await enable('roll-gone');
    await makeDue('roll-gone');
    const roller = rolloverToAgents();
    const before = await row('roll-gone');
    for (const agentId of ['agent-1', 'agent-2']) {
      const heartbeat = await signHeartbeat(
        { ...heartbeatOf('roll-gone', clock()), agentId },
        signerFor(before.signatureKeyId!),
      );
      await processor(roller).handle(heartbeat, {}, quiet);
    }
    await roller.run(Date.now() + 60_000, quiet);
    const record = await row('roll-gone');
    const pending = record.pendingCredentials!;
    const ack = await signCredentialsAck(
      { tenantId: 'roll-gone', rolloverId: pending.rolloverId, agentId: 'agent-2', acknowledgedAt: clock() },
      signerFor(record.signatureKeyId!),
    );
    assert.equal((await processor(roller).handle(ack, {}, quiet)).outcome, 'awaiting');
    // agent-1 stops sending heartbeats for good; agent-2 goes on. Past the message's time-to-live:
    offsetMs += 12 * 60_000;
    const heartbeat = await signHeartbeat(
      { ...heartbeatOf('roll-gone', clock()), agentId: 'agent-2' },
      signerFor(record.signatureKeyId!),
    );
    await processor(roller).handle(heartbeat, {}, quiet);
    await roller.followUpCredentials('roll-gone', quiet, false);
    const after = await row('roll-gone');
    assert.equal(after.pendingCredentials, undefined, 'no agent left to wait for');
    assert.equal(after.agentKeySlot, 'secondary');
  });

  test('an agent that never acknowledges keeps its old keys and is reported overdue', async () => {
    const enabled = await enable('roll-silent');
    await makeDue('roll-silent');
    await rollover().run(Date.now() + 60_000, quiet);
    assert.ok((await row('roll-silent')).pendingCredentials);
    offsetMs += policy.credentialsOverdueMs + 1_000;
    assert.equal(credentialsState(await row('roll-silent'), policy, clock()), 'overdue');
    // The old (primary) key still works: nothing was retired.
    const bus = new ServiceBusClient(enabled.agentConnectionStrings.listen);
    const peeked = await bus.createReceiver('writeback-roll-silent').peekMessages(1);
    assert.ok(Array.isArray(peeked));
    await bus.close();
  });

  test('disable then enable: the old agent keeps nothing that works, and the rollover state starts afresh', async () => {
    const enabled = await enable('roll-reenable');
    const first = await row('roll-reenable');
    assert.equal((await admin('DELETE', '/tenants/roll-reenable/writeback')).status, 200);
    const again = await enable('roll-reenable');
    const second = await row('roll-reenable');
    assert.notEqual(second.encryptionKeyId, first.encryptionKeyId);
    assert.deepEqual(second.replacedKeys ?? [], []);
    assert.equal(second.pendingCredentials, undefined);
    assert.equal(second.agentKeySlot, 'primary');
    for (const id of [first.encryptionKeyId!, first.signatureKeyId!]) {
      const { name, version } = parseKeyId(id);
      assert.equal((await cloud.keyClient().getKey(name, { version })).properties.enabled, false);
    }
    const old = new ServiceBusClient(enabled.agentConnectionStrings.listen, NO_RETRIES);
    await assert.rejects(old.createReceiver('writeback-roll-reenable').peekMessages(1));
    await old.close();
    const fresh = new ServiceBusClient(again.agentConnectionStrings.listen);
    assert.ok(Array.isArray(await fresh.createReceiver('writeback-roll-reenable').peekMessages(1)));
    await fresh.close();
    // A reply signed with the old signing version is refused; the new one's first heartbeat is taken.
    const roller = rollover();
    const current = await signHeartbeat(
      heartbeatOf('roll-reenable', clock()),
      signerFor(second.signatureKeyId!),
    );
    assert.equal((await processor(roller).handle(current, {}, quiet)).outcome, 'recorded');
  });

  test('POST …/keys/rollover rolls now and answers the new versioned key ids', async () => {
    await enable('roll-manual');
    const first = await row('roll-manual');
    const answer = await admin('POST', '/tenants/roll-manual/writeback/keys/rollover', {
      reason: 'suspected leak',
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const now = await row('roll-manual');
    assert.equal(answer.body.encryptionKeyId, now.encryptionKeyId);
    assert.equal(answer.body.signatureKeyId, now.signatureKeyId);
    assert.equal(answer.body.agentCredentials, 'pending');
    assert.notEqual(now.encryptionKeyId, first.encryptionKeyId);
    const status = await admin('GET', '/tenants/roll-manual/writeback/status');
    assert.equal(status.body.keys, 'current');
    assert.equal(status.body.agentCredentials, 'rolling');
    // Not enabled: 409.
    assert.equal((await admin('POST', '/tenants/roll-never/writeback/keys/rollover')).status, 409);
    // A body with an unknown field: 400, nothing rolled.
    const bad = await admin('POST', '/tenants/roll-manual/writeback/keys/rollover', { force: true });
    assert.equal(bad.status, 400);
    assert.equal((await row('roll-manual')).encryptionKeyId, now.encryptionKeyId);
  });
});
