/**
 * End to end on real parts only: HTTP → the app in the local Functions host → Service Bus emulator →
 * the reference agent → LDAPS → a real Samba AD DC, and the signed answer back through the replies
 * function to the waiting HTTP call. Each of the directory's answers is checked as a portal sees it
 * (status, code, reason), and against the DC itself (the user logs on with the new password).
 *
 * Without Samba it is skipped with a loud message; with WRITEBACK_REQUIRE_SAMBA=1 (CI) it fails.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { LdapDirectory } from '../../agent/directory/index.js';
import { eventually, startPipeline, type PipelineUnderTest } from '../support/pipeline.js';
import {
  SAMBA_BASE_DN,
  SAMBA_LDAPS_URL,
  SAMBA_TLS_SERVER_NAME,
  TEST_POLICY,
  sambaSuite,
  startSambaDc,
  type SambaDc,
  type SambaUser,
} from '../support/samba.js';

const { skip, unavailable } = sambaSuite('The end-to-end Samba suite');

const TENANT = 'corp';
const DEMO_PASSWORD = 'Samba-Demo-Passw0rd-1';
const CANARY = `Canary-${randomUUID()}-Aa1!`;

describe('reset, change and unlock through the whole stack into Samba AD', { skip }, () => {
  let dc: SambaDc;
  let demo: Record<'alice' | 'bob' | 'da' | 'gone', SambaUser>;
  let p: PipelineUnderTest;
  let directory: LdapDirectory;

  before(async () => {
    if (unavailable) throw new Error(`WRITEBACK_REQUIRE_SAMBA=1 but ${unavailable}`);
    dc = await startSambaDc({ policy: TEST_POLICY });
    demo = await dc.createDemoUsers(DEMO_PASSWORD);
    directory = new LdapDirectory({
      url: SAMBA_LDAPS_URL,
      caCertificate: dc.caCertificate,
      tlsServerName: SAMBA_TLS_SERVER_NAME,
      baseDn: SAMBA_BASE_DN,
      bindDn: dc.adminUpn,
      bindPassword: dc.adminPassword,
      poolSize: 2,
    });
    p = await startPipeline({ tenantId: TENANT, directory });
    await p.untilOnline();
  });
  after(async () => {
    await p?.stop();
    await directory?.close();
    await dc?.stop();
  });

  const tokenOf = (user: SambaUser, options: { sid?: boolean } = {}) =>
    p.token({ user: user.userPrincipalName, ...(options.sid ? { sid: user.sid } : {}) });
  const admin = () => p.token({ user: `admin@${TENANT}.test`, admin: true });

  it("the status route shows the domain's policy, read by the agent over LDAPS", async () => {
    const status = await p.call('GET', `/tenants/${TENANT}/writeback/status`, { token: await p.token() });
    assert.equal(status.body.state, 'online');
    assert.deepEqual(status.body.policy, TEST_POLICY);
  });

  it('self-service reset: 200, and the user logs on with the new password', async () => {
    const reset = await p.call('POST', `/tenants/${TENANT}/me/password/reset`, {
      token: await tokenOf(demo.alice),
      body: { newPassword: CANARY },
    });
    assert.equal(reset.status, 200, reset.text);
    assert.equal(reset.body.status, 'succeeded');
    assert.equal(await dc.logOn(demo.alice, CANARY), 'ok');
    assert.equal(await dc.logOn(demo.alice, DEMO_PASSWORD), 'badPassword');
  });

  it('change by SID: wrong current password, too short, complexity, success, then history', async () => {
    const change = async (currentPassword: string, newPassword: string) =>
      p.call('POST', `/tenants/${TENANT}/me/password/change`, {
        token: await tokenOf(demo.bob, { sid: true }),
        body: { currentPassword, newPassword },
      });
    const wrong = await change('Not-The-Passw0rd-1', 'Fresh-Passw0rd-S2');
    assert.equal(wrong.status, 422);
    assert.equal(wrong.body.code, 'CurrentPasswordIncorrect');
    const short = await change(DEMO_PASSWORD, 'Sh0rt!');
    assert.equal(short.status, 422);
    assert.deepEqual([short.body.code, short.body.reason], ['PasswordPolicy', 'tooShort']);
    const simple = await change(DEMO_PASSWORD, 'alllowercaseletters');
    assert.deepEqual(
      [simple.status, simple.body.code, simple.body.reason],
      [422, 'PasswordPolicy', 'complexity'],
    );
    const ok = await change(DEMO_PASSWORD, 'Fresh-Passw0rd-S2');
    assert.equal(ok.status, 200, ok.text);
    assert.equal(await dc.logOn(demo.bob, 'Fresh-Passw0rd-S2'), 'ok');
    // Back to a password of the history: AD refuses it, and the portal gets the reason.
    const reused = await change('Fresh-Passw0rd-S2', DEMO_PASSWORD);
    assert.deepEqual(
      [reused.status, reused.body.code, reused.body.reason],
      [422, 'PasswordPolicy', 'history'],
    );
    assert.equal(typeof reused.body.operationId, 'string');
  });

  it('admin reset with force change at next logon, and a generated temporary password', async () => {
    const reset = await p.call(
      'POST',
      `/tenants/${TENANT}/users/${demo.alice.userPrincipalName}/password/reset`,
      {
        token: await admin(),
        body: { forceChangeAtNextLogon: true },
      },
    );
    assert.equal(reset.status, 200, reset.text);
    const temporary = String(reset.body.temporaryPassword);
    assert.ok(temporary.length >= TEST_POLICY.minLength);
    assert.equal(await dc.logOn(demo.alice, temporary), 'mustChange');
  });

  it('unlock after a real lockout by bad logons, self-service', async () => {
    for (let i = 0; i < TEST_POLICY.lockoutThreshold; i++) await dc.logOn(demo.bob, 'Wrong-Passw0rd-0');
    assert.equal(await dc.logOn(demo.bob, 'Fresh-Passw0rd-S2'), 'lockedOut');
    const unlock = await p.call('POST', `/tenants/${TENANT}/me/unlock`, { token: await tokenOf(demo.bob) });
    assert.equal(unlock.status, 200, unlock.text);
    assert.equal(await dc.logOn(demo.bob, 'Fresh-Passw0rd-S2'), 'ok');
  });

  it('protected, disabled and unknown accounts: 403, 403, 404', async () => {
    const token = await admin();
    const resetOf = (upn: string) =>
      p.call('POST', `/tenants/${TENANT}/users/${upn}/password/reset`, {
        token,
        body: { newPassword: 'Fine-Passw0rd-S3' },
      });
    const protectedAccount = await resetOf(demo.da.userPrincipalName);
    assert.deepEqual([protectedAccount.status, protectedAccount.body.code], [403, 'ProtectedAccount']);
    assert.equal(await dc.logOn(demo.da, DEMO_PASSWORD), 'ok');
    const disabled = await resetOf(demo.gone.userPrincipalName);
    assert.deepEqual([disabled.status, disabled.body.code], [403, 'AccountDisabled']);
    const unknown = await resetOf('nobody@corp.example.test');
    assert.deepEqual([unknown.status, unknown.body.code], [404, 'UserNotFound']);
  });

  it('the DC stopped: 502 AgentFailure; back: 200', async () => {
    const token = await admin();
    const reset = () =>
      p.call('POST', `/tenants/${TENANT}/users/${demo.alice.userPrincipalName}/password/reset`, {
        token,
        body: { newPassword: 'Another-Passw0rd-S4' },
      });
    await dc.stopServer();
    try {
      const down = await reset();
      assert.deepEqual([down.status, down.body.code], [502, 'AgentFailure']);
    } finally {
      await dc.startServer();
    }
    const back = await eventually(
      async () => {
        const answer = await reset();
        return answer.status === 200 ? answer : undefined;
      },
      60_000,
      'a reset after the DC is back',
    );
    assert.equal(back.body.status, 'succeeded');
    assert.equal(await dc.logOn(demo.alice, 'Another-Passw0rd-S4'), 'ok');
  });

  it('no password in the host output or the agent log', () => {
    const output = p.cloud.host.output();
    for (const secret of [CANARY, DEMO_PASSWORD, 'Fresh-Passw0rd-S2', dc.adminPassword]) {
      assert.ok(!output.includes(secret), 'a password reached the host output');
      assert.ok(!p.agentLogs().some((line) => line.includes(secret)), 'a password reached the agent log');
    }
  });
});
