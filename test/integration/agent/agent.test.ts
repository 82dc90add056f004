/**
 * The agent in-process against real parts: the Service Bus emulator, the Key Vault emulator with
 * the development identity provider over HTTPS, and the in-memory directory. The test plays the
 * cloud: it seals requests with the tenant's public key, sends them on the tenant's queue, and
 * verifies the signed replies.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { constants, createCipheriv, publicEncrypt, randomBytes, randomUUID } from 'node:crypto';
import { startAgent, type HealthReport, type RunningAgent } from '../../../agent/agent.js';
import { parseAgentConfig } from '../../../agent/config.js';
import { DEMO_POLICY, InMemoryDirectory } from '../../../agent/directory/index.js';
import { jsonLogger } from '../../../agent/log.js';
import type { UserIdentifier } from '../../../shared/domain/index.js';
import {
  importEncryptionKey,
  REQUEST_SESSION_ID,
  sealRecord,
  type ReplySigner,
} from '../../../shared/wire/index.js';
import {
  DEMO_PASSWORD,
  delay,
  demoUsers,
  startAgentStack,
  type AgentStack,
  type TenantFixture,
} from './support.js';

const CANARY = 'Canary-Zq8!x7Pw-never-logged';
const upn = (name: string): UserIdentifier => ({ kind: 'upn', value: `${name}@contoso.test` });

interface Running {
  agent: RunningAgent;
  directory: InMemoryDirectory;
  logs: string[];
  events(name: string): Record<string, unknown>[];
}

async function runAgent(
  stack: AgentStack,
  tenant: TenantFixture,
  stateDirectory: string,
  extra: { retryBackoffMs?: number; applyWindowMs?: number } = {},
): Promise<Running> {
  const logs: string[] = [];
  const directory = new InMemoryDirectory({ users: demoUsers(), policy: DEMO_POLICY });
  const config = parseAgentConfig(tenant.configFile(stateDirectory), stack.dir, {});
  const agent = await startAgent(config, {
    directory,
    logger: jsonLogger({ tenant: tenant.tenantId }, (line) => {
      logs.push(line);
      if (process.env['AGENT_TEST_LOGS']) process.stderr.write(line);
    }),
    keyVaultClientOptions: { retryOptions: { maxRetries: 0 } },
    serviceBusClientOptions: { retryOptions: { maxRetries: 2, timeoutInMs: 10_000 } },
    retryBackoffMs: extra.retryBackoffMs ?? 100,
    maxRetryBackoffMs: 1000,
    applyWindowMs: extra.applyWindowMs ?? 2_000,
    standbyRetryMs: 500,
  });
  return {
    agent,
    directory,
    logs,
    events: (name) =>
      logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((entry) => entry['event'] === name),
  };
}

describe('the writeback agent against the emulators', () => {
  let stack: AgentStack;
  let contoso: TenantFixture;
  let fabrikam: TenantFixture;
  let running: Running;

  before(async () => {
    stack = await startAgentStack();
    contoso = await stack.provisionTenant('contoso');
    fabrikam = await stack.provisionTenant('fabrikam');
    running = await runAgent(stack, contoso, await mkdtemp(join(stack.dir, 'state-')));
  });
  after(async () => {
    await running?.agent.stop();
    await stack?.close();
  });

  async function roundTrip(payload: Parameters<TenantFixture['seal']>[0]) {
    const sealed = await contoso.seal(payload);
    await contoso.send(sealed);
    const reply = await contoso.result(sealed.messageId);
    return reply.result;
  }

  it('sends a signed heartbeat at start with the directory policy', async () => {
    const reply = await contoso.reply((r) => r.kind === 'heartbeat');
    assert.equal(reply.kind, 'heartbeat');
    if (reply.kind !== 'heartbeat') return;
    assert.equal(reply.heartbeat.tenantId, 'contoso');
    assert.equal(reply.heartbeat.agentId, 'test-agent-contoso');
    assert.equal(reply.heartbeat.state, 'online');
    assert.deepEqual(reply.heartbeat.policy, DEMO_POLICY);
    assert.match(reply.heartbeat.agentVersion, /^\d+\.\d+\.\d+/);
    assert.equal(reply.keyId, running.agent.signingKeyId());
  });

  it('serves /health on loopback: ok with the last heartbeat and the directory reachable', async () => {
    const response = await fetch(running.agent.healthUrl);
    assert.equal(response.status, 200);
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(body['status'], 'ok');
    assert.equal(body['directoryReachable'], true);
    assert.equal(typeof body['lastHeartbeatAt'], 'string');
    assert.equal((await fetch(running.agent.healthUrl.replace('/health', '/other'))).status, 404);
  });

  it('applies an admin reset, and the user logs on with the new password', async () => {
    const result = await roundTrip({ operation: 'reset', user: upn('alice'), newPassword: CANARY });
    assert.equal(result.outcome, 'succeeded');
    assert.equal(running.directory.logOn(upn('alice'), CANARY), 'ok');
  });

  it('applies a reset with force-change and unlock flags', async () => {
    const result = await roundTrip({
      operation: 'reset',
      user: upn('admin'),
      newPassword: 'Temp-Passw0rd-22',
      flags: { forceChangeAtNextLogon: true, unlock: true },
    });
    assert.equal(result.outcome, 'succeeded');
    assert.equal(running.directory.userState(upn('admin'))?.mustChangePassword, true);
  });

  it("applies the user's own change, and refuses a wrong current password", async () => {
    const ok = await roundTrip({
      operation: 'change',
      user: upn('bob'),
      currentPassword: DEMO_PASSWORD,
      newPassword: 'Fresh-Passw0rd-B1',
    });
    assert.equal(ok.outcome, 'succeeded');
    const wrong = await roundTrip({
      operation: 'change',
      user: upn('bob'),
      currentPassword: 'Not-The-Passw0rd',
      newPassword: 'Another-Passw0rd-9',
    });
    assert.equal(wrong.outcome, 'CurrentPasswordIncorrect');
    assert.equal(running.directory.logOn(upn('bob'), 'Fresh-Passw0rd-B1'), 'ok');
  });

  it('unlocks a locked-out account', async () => {
    for (let i = 0; i < DEMO_POLICY.lockoutThreshold; i++) running.directory.logOn(upn('bob'), 'wrong');
    assert.equal(running.directory.userState(upn('bob'))?.lockedOut, true);
    const result = await roundTrip({ operation: 'unlock', user: upn('bob') });
    assert.equal(result.outcome, 'succeeded');
    assert.equal(running.directory.userState(upn('bob'))?.lockedOut, false);
  });

  it('reports policy failures with their reason', async () => {
    const short = await roundTrip({ operation: 'reset', user: upn('alice'), newPassword: 'Sh0rt!' });
    assert.equal(short.outcome, 'PasswordPolicy');
    assert.equal(short.reason, 'tooShort');
    const simple = await roundTrip({
      operation: 'reset',
      user: upn('alice'),
      newPassword: 'alllowercaseletters',
    });
    assert.equal(simple.outcome, 'PasswordPolicy');
    assert.equal(simple.reason, 'complexity');
    assert.equal(running.directory.logOn(upn('alice'), CANARY), 'ok');
  });

  it('answers unknown, protected and disabled accounts with their codes', async () => {
    const unknown = await roundTrip({
      operation: 'reset',
      user: upn('nobody'),
      newPassword: 'Fine-Passw0rd-1',
    });
    assert.equal(unknown.outcome, 'UserNotFound');
    const protectedAccount = await roundTrip({
      operation: 'reset',
      user: upn('da'),
      newPassword: 'Fine-Passw0rd-1',
    });
    assert.equal(protectedAccount.outcome, 'ProtectedAccount');
    const disabled = await roundTrip({ operation: 'unlock', user: upn('gone') });
    assert.equal(disabled.outcome, 'AccountDisabled');
    assert.equal(running.directory.logOn(upn('da'), DEMO_PASSWORD), 'ok');
  });

  it('answers WritebackExpired for a request whose authenticated expiry has passed, without applying it', async () => {
    const sealed = await contoso.seal(
      { operation: 'reset', user: upn('alice'), newPassword: 'Expired-Passw0rd-1' },
      { expiresAt: new Date(Date.now() - 1000) },
    );
    await contoso.send(sealed, 60_000); // the broker's TTL is still long: only the header says it expired
    const reply = await contoso.result(sealed.messageId);
    assert.equal(reply.result.outcome, 'WritebackExpired');
    assert.equal(running.directory.logOn(upn('alice'), CANARY), 'ok');
  });

  it('dead-letters a tampered request, answers nothing and changes nothing', async () => {
    const sealed = await contoso.seal({
      operation: 'reset',
      user: upn('alice'),
      newPassword: 'Tampered-Passw0rd-1',
    });
    sealed.body.writeUInt8(sealed.body.readUInt8(sealed.body.length - 20) ^ 0x01, sealed.body.length - 20); // inside the ciphertext
    await contoso.send(sealed);
    const [dead] = await contoso.deadLetters(10_000);
    assert.ok(dead, 'the tampered request is dead-lettered');
    assert.equal(dead.deadLetterReason, 'TamperedRequest');
    assert.match(dead.deadLetterErrorDescription ?? '', /integrity/);
    assert.deepEqual(await contoso.resultsAfter(sealed.messageId, 500), []);
    assert.equal(running.directory.logOn(upn('alice'), CANARY), 'ok');
    const refused = running.events('refused').find((e) => e['messageId'] === sealed.messageId);
    assert.equal(refused?.['refusal'], 'TamperedRequest');
  });

  it("refuses another tenant's envelope before any Key Vault call (dead-lettered, no reply)", async () => {
    const sealed = await fabrikam.seal({
      operation: 'reset',
      user: upn('alice'),
      newPassword: 'Other-Tenant-Passw0rd',
    });
    await contoso.send(sealed);
    const [dead] = await contoso.deadLetters(10_000);
    assert.equal(dead?.deadLetterReason, 'WrongTenant');
    assert.deepEqual(await contoso.resultsAfter(sealed.messageId, 500), []);
    // Never "received": the refusal comes straight after reading the header, before opening it.
    assert.equal(running.events('received').filter((e) => e['operationId'] === sealed.messageId).length, 0);
  });

  it('answers AgentFailure and dead-letters an authentic request whose password block Key Vault cannot decrypt', async () => {
    // Built by hand: a valid header, content key and GCM tag around a password block of random bytes.
    const bundle = await stack.officerKeys.getKey('writeback-contoso-enc');
    const key = importEncryptionKey(bundle.key!);
    const operationId = randomUUID();
    const expiresAt = new Date(Date.now() + 60_000);
    const u48 = Buffer.alloc(6);
    u48.writeUIntBE(expiresAt.getTime(), 0, 6);
    const header = Buffer.concat([
      Buffer.from([1, 'contoso'.length]),
      Buffer.from('contoso', 'ascii'),
      Buffer.from(operationId.replaceAll('-', ''), 'hex'),
      u48,
      Buffer.from(key.version, 'hex'),
    ]);
    const upnBytes = Buffer.from('alice@contoso.test', 'utf8');
    const length = Buffer.alloc(2);
    length.writeUInt16BE(upnBytes.length);
    const payload = Buffer.concat([Buffer.from([1, 0, 2]), length, upnBytes, randomBytes(256)]);
    const contentKey = randomBytes(32);
    const iv = randomBytes(12);
    const ek = publicEncrypt(
      { key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      contentKey,
    );
    const ekLength = Buffer.alloc(2);
    ekLength.writeUInt16BE(ek.length);
    const cipher = createCipheriv('aes-256-gcm', contentKey, iv);
    cipher.setAAD(header);
    const ciphertext = Buffer.concat([cipher.update(payload), cipher.final()]);
    const body = Buffer.concat([header, ekLength, ek, iv, ciphertext, cipher.getAuthTag()]);
    await contoso.send({
      body,
      messageId: operationId,
      applicationProperties: { envelopeVersion: 1, tenantId: 'contoso', keyVersion: key.version, expiresAt },
      header: { version: 1, tenantId: 'contoso', operationId, keyVersion: key.version, expiresAt },
    });
    const reply = await contoso.result(operationId);
    assert.equal(reply.result.outcome, 'AgentFailure');
    const [dead] = await contoso.deadLetters(10_000);
    assert.equal(dead?.deadLetterReason, 'UnreadableRequest');
    assert.match(dead?.deadLetterErrorDescription ?? '', /decryptFailed/);
    assert.equal(running.directory.logOn(upn('alice'), CANARY), 'ok');
  });

  it('applies a redelivered request once and re-sends the recorded outcome', async () => {
    const sealed = await contoso.seal({
      operation: 'change',
      user: upn('alice'),
      currentPassword: CANARY,
      newPassword: 'Second-Passw0rd-A2',
    });
    await contoso.send(sealed);
    const first = await contoso.result(sealed.messageId);
    await contoso.send(sealed); // the same message again (no duplicate detection on the queue)
    const second = await contoso.result(sealed.messageId);
    assert.equal(first.result.outcome, 'succeeded');
    assert.equal(second.result.outcome, 'succeeded'); // applying it again would be CurrentPasswordIncorrect
    assert.equal(second.result.finishedAt.getTime(), first.result.finishedAt.getTime());
    assert.equal(running.events('applied').filter((e) => e['operationId'] === sealed.messageId).length, 1);
    assert.equal(
      running.events('redelivered').filter((e) => e['operationId'] === sealed.messageId).length,
      1,
    );
    assert.equal(running.directory.logOn(upn('alice'), 'Second-Passw0rd-A2'), 'ok');
  });

  it('opens a request sealed with the previous encryption key version after a rotation', async () => {
    const old = (await stack.officerKeys.getKey('writeback-contoso-enc')).properties.version!;
    const newer = await contoso.rotateEncryptionKey();
    assert.notEqual(newer, old);
    for (const keyVersion of [old, newer]) {
      const sealed = await contoso.seal(
        { operation: 'reset', user: upn('bob'), newPassword: `Rotated-Passw0rd-${keyVersion.slice(0, 4)}` },
        { keyVersion },
      );
      assert.equal(sealed.header.keyVersion, keyVersion);
      await contoso.send(sealed);
      assert.equal((await contoso.result(sealed.messageId)).result.outcome, 'succeeded');
    }
  });

  it('signs with the new signature key version after a rotation, and moves at once when the old one is disabled', async () => {
    const oldKid = running.agent.signingKeyId();
    const newVersion = await contoso.rotateSignatureKey();
    assert.equal(await running.agent.refreshSigningKey(), oldKid.replace(/[^/]+$/, newVersion));
    const afterRefresh = await roundTrip({ operation: 'unlock', user: upn('alice') });
    assert.equal(afterRefresh.outcome, 'succeeded');
    const [, , , , name, version] = running.agent.signingKeyId().split('/');
    assert.equal(version, newVersion);

    // Rotate again and disable the version in use without telling the agent: Key Vault refuses to
    // sign, the signer looks up the latest version, and the reply is signed again with it.
    const third = await contoso.rotateSignatureKey();
    await stack.officerKeys.updateKeyProperties(name!, newVersion, { enabled: false });
    const sealed = await contoso.seal({ operation: 'unlock', user: upn('alice') });
    await contoso.send(sealed);
    const reply = await contoso.result(sealed.messageId);
    assert.equal(reply.result.outcome, 'succeeded');
    assert.equal(reply.keyId.split('/').pop(), third);
  });

  it('never writes a password into a log line or a reply', () => {
    assert.ok(running.logs.length > 10);
    for (const line of running.logs) {
      assert.ok(!line.includes(CANARY), 'a log line holds the canary password');
      assert.ok(!line.includes(DEMO_PASSWORD));
      assert.ok(!line.includes(contoso.agentClientSecret));
      assert.ok(!line.includes(contoso.listenConnectionString.split('SharedAccessKey=')[1]!.split(';')[0]!));
    }
    for (const reply of contoso.received()) assert.ok(!JSON.stringify(reply).includes(CANARY));
  });

  it('stops gracefully: a going-offline heartbeat, then nothing is received any more', async () => {
    await running.agent.stop();
    const last = await contoso.reply((r) => r.kind === 'heartbeat' && r.heartbeat.state === 'going-offline');
    assert.equal(last.kind, 'heartbeat');
    const sealed = await contoso.seal({ operation: 'unlock', user: upn('alice') });
    await contoso.send(sealed);
    assert.deepEqual(await contoso.resultsAfter(sealed.messageId, 1000), []);
    assert.equal(await contoso.pendingRequests(), 1);
    assert.ok(running.events('stopped').length === 1);
  });
});

describe('the writeback agent when things fail', () => {
  let stack: AgentStack;
  let tenant: TenantFixture;

  before(async () => {
    stack = await startAgentStack();
    tenant = await stack.provisionTenant('tailspin');
  });
  after(async () => {
    await stack?.close();
  });

  /** Signs as the tenant's agents do, with its -sig key in the vault. */
  async function tenantSigner(): Promise<ReplySigner> {
    const key = await stack.officerKeys.getKey(`writeback-${tenant.tenantId}-sig`);
    const crypto = stack.officerKeys.getCryptographyClient(key.name, { keyVersion: key.properties.version! });
    return {
      kid: key.id!,
      sign: async (algorithm, digest) => Buffer.from((await crypto.sign(algorithm, digest)).result),
    };
  }

  /** Writes the request session's state: `record`, signed (as an agent leaves it) or not. */
  async function writeState(record: object, signed = true): Promise<void> {
    const session = await stack.root.acceptSession(tenant.requestQueue, REQUEST_SESSION_ID);
    await session.setSessionState(
      signed ? Buffer.from(await sealRecord(tenant.tenantId, record, await tenantSigner())) : record,
    );
    await session.close();
  }

  /** The state an agent that died mid-apply left. */
  async function leaveApplying(
    operationId: string,
    entry: { expiresAt: Date; stamp?: string },
  ): Promise<void> {
    await writeState({
      v: 1,
      ops: {
        [operationId]: {
          s: 'a',
          x: entry.expiresAt.getTime(),
          t: Date.now() - 1_000,
          by: 'agent-that-died',
          ...(entry.stamp !== undefined ? { p: entry.stamp } : {}),
        },
      },
    });
  }

  it('applies an interrupted operation that had not taken effect: the password stamp did not move', async () => {
    const sealed = await tenant.seal({
      operation: 'reset',
      user: upn('alice'),
      newPassword: 'After-Crash-Passw0rd',
    });
    // A fresh in-memory directory stamps each seeded user's password "1".
    await leaveApplying(sealed.messageId, { expiresAt: sealed.header.expiresAt, stamp: '1' });
    const running = await runAgent(stack, tenant, await mkdtemp(join(stack.dir, 'state-')), {
      applyWindowMs: 1_500,
    });
    try {
      const sentAt = Date.now();
      await tenant.send(sealed);
      const reply = await tenant.result(sealed.messageId);
      assert.equal(reply.result.outcome, 'succeeded');
      assert.ok(Date.now() - sentAt >= 1_000, "it waited out the previous agent's window first");
      assert.equal(running.directory.logOn(upn('alice'), 'After-Crash-Passw0rd'), 'ok');
      const [takeover] = running.events('takenOver');
      assert.equal(takeover?.['applied'], false);
      assert.equal(takeover?.['appliedBy'], 'agent-that-died');
      assert.equal(running.events('applied').length, 1);
    } finally {
      await running.agent.stop();
    }
  });

  it('answers succeeded, without applying again, an interrupted operation whose stamp moved', async () => {
    const sealed = await tenant.seal({
      operation: 'change',
      user: upn('bob'),
      currentPassword: DEMO_PASSWORD,
      newPassword: 'Changed-Before-Crash-1',
    });
    // The dead agent saw stamp "0"; the directory now says "1": its change took effect.
    await leaveApplying(sealed.messageId, { expiresAt: sealed.header.expiresAt, stamp: '0' });
    const running = await runAgent(stack, tenant, await mkdtemp(join(stack.dir, 'state-')), {
      applyWindowMs: 300,
    });
    try {
      await tenant.send(sealed);
      const reply = await tenant.result(sealed.messageId);
      assert.equal(reply.result.outcome, 'succeeded');
      assert.equal(running.events('applied').length, 0, 'not applied a second time');
      assert.equal(running.directory.userState(upn('bob'))?.badPasswordCount, 0);
      assert.equal(running.events('takenOver')[0]?.['applied'], true);
    } finally {
      await running.agent.stop();
    }
  });

  it('answers "outcome unknown" for an interrupted operation that has expired since, without applying it', async () => {
    const sealed = await tenant.seal(
      { operation: 'reset', user: upn('alice'), newPassword: 'Too-Late-Passw0rd-1' },
      { expiresAt: new Date(Date.now() + 1_500) },
    );
    await leaveApplying(sealed.messageId, { expiresAt: sealed.header.expiresAt, stamp: '2' });
    const running = await runAgent(stack, tenant, await mkdtemp(join(stack.dir, 'state-')));
    try {
      await delay(1_600);
      await tenant.send(sealed, 60_000);
      const reply = await tenant.result(sealed.messageId);
      assert.equal(reply.result.outcome, 'AgentFailure');
      assert.match(reply.result.detail ?? '', /outcome unknown/);
      assert.equal(running.events('applied').length, 0);
    } finally {
      await running.agent.stop();
    }
  });

  it('does not trust a record it did not sign: a forged "done" is not answered, the request is applied', async () => {
    const sealed = await tenant.seal({
      operation: 'reset',
      user: upn('bob'),
      newPassword: 'Not-Forged-Passw0rd-1',
    });
    // Whoever holds the Listen key can write the session's state; without the tenant's key, not a record.
    await writeState(
      {
        v: 1,
        ops: {
          [sealed.messageId]: {
            s: 'd',
            x: sealed.header.expiresAt.getTime(),
            t: Date.now(),
            r: { outcome: 'succeeded' },
          },
        },
      },
      false,
    );
    const running = await runAgent(stack, tenant, await mkdtemp(join(stack.dir, 'state-')));
    try {
      await tenant.send(sealed);
      assert.equal((await tenant.result(sealed.messageId)).result.outcome, 'succeeded');
      assert.equal(running.events('applied').length, 1, 'applied: the forged outcome was not taken');
      assert.equal(running.directory.logOn(upn('bob'), 'Not-Forged-Passw0rd-1'), 'ok');
      assert.equal(running.events('recordNotTrusted')[0]?.['reason'], 'malformed');
    } finally {
      await running.agent.stop();
    }
  });

  it('reports degraded on /health and skips heartbeats while the directory cannot be read', async () => {
    const running = await runAgent(stack, tenant, await mkdtemp(join(stack.dir, 'state-')));
    try {
      assert.equal((await fetch(running.agent.healthUrl)).status, 200);
      await running.directory.close(); // readPolicy now throws, as a driver does when the DC is unreachable
      await running.agent.heartbeat();
      const response = await fetch(running.agent.healthUrl);
      assert.equal(response.status, 503);
      const body = (await response.json()) as Record<string, unknown>;
      assert.equal(body['status'], 'degraded');
      assert.equal(body['directoryReachable'], false);
      assert.equal(running.events('heartbeatSkipped').length, 1);
    } finally {
      await running.agent.stop();
    }
  });

  it('leaves a request on the queue while Key Vault is unreachable, and applies it once it is back', async () => {
    const running = await runAgent(stack, tenant, await mkdtemp(join(stack.dir, 'state-')), {
      retryBackoffMs: 200,
    });
    try {
      const sealed = await tenant.seal(
        { operation: 'reset', user: upn('bob'), newPassword: 'While-Down-Passw0rd' },
        { operationId: randomUUID() },
      );
      await stack.stopKeyVault();
      await tenant.send(sealed);
      const deadline = Date.now() + 20_000;
      while (running.events('abandoned').filter((e) => e['operationId'] === sealed.messageId).length < 2) {
        assert.ok(Date.now() < deadline, 'the request is abandoned for redelivery, twice');
        await delay(100);
      }
      assert.equal(running.directory.logOn(upn('bob'), DEMO_PASSWORD), 'ok');
      const degraded = await fetch(running.agent.healthUrl);
      assert.equal(degraded.status, 503);
      const report = (await degraded.json()) as HealthReport;
      assert.equal(report.dependencies.keyVault.state, 'degraded');
      assert.equal(typeof report.dependencies.keyVault.since, 'string');
      assert.equal(report.dependencies.keyVault.lastError?.['step'], 'unwrapping a content key');
      assert.equal(report.dependencies.directory.state, 'ok');
      assert.equal(running.events('dependencyDegraded')[0]?.['dependency'], 'keyVault');
      await stack.startKeyVault();
      const reply = await tenant.result(sealed.messageId, 30_000);
      assert.equal(reply.result.outcome, 'succeeded');
      assert.equal(running.agent.health().dependencies.keyVault.state, 'ok');
      assert.equal(running.events('dependencyRestored')[0]?.['dependency'], 'keyVault');
      assert.equal(running.directory.logOn(upn('bob'), 'While-Down-Passw0rd'), 'ok');
      assert.deepEqual(await tenant.deadLetters(500), []);
    } finally {
      await running.agent.stop();
    }
  });

  it('a graceful stop cuts a transient backoff short and hands the request back to the broker, which a new agent then applies', async () => {
    const first = await runAgent(stack, tenant, await mkdtemp(join(stack.dir, 'state-')), {
      retryBackoffMs: 60_000,
    });
    const sealed = await tenant.seal({ operation: 'unlock', user: upn('alice') });
    let second: Running | undefined;
    try {
      await stack.stopKeyVault();
      await tenant.send(sealed);
      const deadline = Date.now() + 20_000;
      while (first.events('abandoned').length === 0) {
        assert.ok(Date.now() < deadline, 'the request waits in its backoff');
        await delay(50);
      }
      await first.agent.stop();
      assert.equal(first.events('shutdownTimeout').length, 0, 'the stop did not wait for the backoff');
      assert.equal(await tenant.pendingRequests(), 1);
      await stack.startKeyVault();
      second = await runAgent(stack, tenant, await mkdtemp(join(stack.dir, 'state-')));
      assert.equal((await tenant.result(sealed.messageId, 30_000)).result.outcome, 'succeeded');
    } finally {
      await first.agent.stop();
      await second?.agent.stop();
    }
  });
});
