/**
 * The agent with an LDAP directory from its configuration, against a real Samba AD DC on loopback
 * (test/support/samba.ts serialises DCs machine-wide), the Service Bus and Key Vault emulators.
 * The directory layer's own Samba suite covers every AD answer; this one shows the whole agent
 * path: sealed request → Key Vault → LDAPS → signed reply, and the domain's policy in heartbeats.
 *
 * Without Samba it is skipped with a loud message; with WRITEBACK_REQUIRE_SAMBA=1 (CI) it fails.
 */
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgent, type RunningAgent } from '../../../agent/agent.js';
import { loadAgentConfig } from '../../../agent/config.js';
import { jsonLogger } from '../../../agent/log.js';
import {
  SAMBA_BASE_DN,
  SAMBA_LDAPS_URL,
  SAMBA_TLS_SERVER_NAME,
  TEST_POLICY,
  sambaSuite,
  startSambaDc,
  type SambaDc,
  type SambaUser,
} from '../../support/samba.js';
import { startAgentStack, writeConfig, type AgentStack, type TenantFixture } from './support.js';

const { skip, unavailable } = sambaSuite("The agent's Samba AD suite");

const DEMO_PASSWORD = 'Samba-Demo-Passw0rd-1';
const CANARY = 'Canary-Samba-4%Qx-never-logged';

describe('the agent against a Samba AD DC', { skip }, () => {
  let dc: SambaDc;
  let demo: Record<'alice' | 'bob' | 'da' | 'gone', SambaUser>;
  let stack: AgentStack;
  let tenant: TenantFixture;
  let agent: RunningAgent;
  const logs: string[] = [];

  before(async () => {
    if (unavailable) throw new Error(`WRITEBACK_REQUIRE_SAMBA=1 but ${unavailable}`);
    [dc, stack] = await Promise.all([startSambaDc({ policy: TEST_POLICY }), startAgentStack()]);
    demo = await dc.createDemoUsers(DEMO_PASSWORD);
    tenant = await stack.provisionTenant('contoso');
    const dir = await mkdtemp(join(stack.dir, 'samba-agent-'));
    await writeFile(join(dir, 'dc-ca.pem'), dc.caCertificate);
    await writeFile(join(dir, 'bind-password'), `${dc.adminPassword}\n`, { mode: 0o600 });
    const path = await writeConfig(
      dir,
      tenant.configFile('state', {
        directory: {
          kind: 'ldap',
          url: SAMBA_LDAPS_URL,
          caCertificateFile: 'dc-ca.pem',
          tlsServerName: SAMBA_TLS_SERVER_NAME,
          baseDn: SAMBA_BASE_DN,
          bindDn: dc.adminUpn,
          bindPassword: { file: 'bind-password' },
          poolSize: 2,
        },
      }),
    );
    agent = await startAgent(loadAgentConfig(path, {}), {
      logger: jsonLogger({ tenant: 'contoso' }, (line) => logs.push(line)),
      keyVaultClientOptions: { retryOptions: { maxRetries: 0 } },
    });
  });
  after(async () => {
    await agent?.stop();
    await Promise.allSettled([dc?.stop(), stack?.close()]);
  });

  const send = async (payload: Parameters<TenantFixture['seal']>[0]) => {
    const sealed = await tenant.seal(payload);
    await tenant.send(sealed);
    return (await tenant.result(sealed.messageId, 30_000)).result;
  };
  const upnOf = (user: SambaUser) => ({ kind: 'upn' as const, value: user.userPrincipalName });

  it("heartbeats carry the domain's password policy, read over LDAPS", async () => {
    const heartbeat = await tenant.reply((r) => r.kind === 'heartbeat');
    assert.equal(heartbeat.kind, 'heartbeat');
    if (heartbeat.kind === 'heartbeat') assert.deepEqual(heartbeat.heartbeat.policy, TEST_POLICY);
  });

  it('resets a password in AD, and the user binds with it', async () => {
    assert.equal(
      (await send({ operation: 'reset', user: upnOf(demo.alice), newPassword: CANARY })).outcome,
      'succeeded',
    );
    assert.equal(await dc.logOn(demo.alice, CANARY), 'ok');
  });

  it("applies the user's change by SID, refuses a wrong current password, and a too short one", async () => {
    const bob = { kind: 'sid' as const, value: demo.bob.sid };
    const wrong = await send({
      operation: 'change',
      user: bob,
      currentPassword: 'Not-The-Passw0rd-1',
      newPassword: 'Fresh-Passw0rd-S2',
    });
    assert.equal(wrong.outcome, 'CurrentPasswordIncorrect');
    const short = await send({
      operation: 'change',
      user: bob,
      currentPassword: DEMO_PASSWORD,
      newPassword: 'Sh0rt!',
    });
    assert.equal(short.outcome, 'PasswordPolicy');
    assert.equal(short.reason, 'tooShort');
    const ok = await send({
      operation: 'change',
      user: bob,
      currentPassword: DEMO_PASSWORD,
      newPassword: 'Fresh-Passw0rd-S2',
    });
    assert.equal(ok.outcome, 'succeeded');
    assert.equal(await dc.logOn(demo.bob, 'Fresh-Passw0rd-S2'), 'ok');
  });

  it('refuses protected, disabled and unknown accounts', async () => {
    const protectedAccount = await send({
      operation: 'reset',
      user: upnOf(demo.da),
      newPassword: 'Fine-Passw0rd-S3',
    });
    assert.equal(protectedAccount.outcome, 'ProtectedAccount');
    const disabled = await send({ operation: 'unlock', user: upnOf(demo.gone) });
    assert.equal(disabled.outcome, 'AccountDisabled');
    const unknown = await send({
      operation: 'unlock',
      user: { kind: 'upn', value: 'nobody@corp.example.test' },
    });
    assert.equal(unknown.outcome, 'UserNotFound');
    assert.equal(await dc.logOn(demo.da, DEMO_PASSWORD), 'ok');
  });

  it('never logs a password', () => {
    for (const line of logs) {
      assert.ok(!line.includes(CANARY) && !line.includes(DEMO_PASSWORD) && !line.includes(dc.adminPassword));
    }
  });
});
