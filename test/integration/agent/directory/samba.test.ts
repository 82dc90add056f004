/**
 * The LDAP driver against a real Samba AD DC on loopback (no mocks): the shared conformance suite,
 * then what only a real directory shows — raw attributes, StartTLS, certificate checks, a refused
 * service account, and the DC stopped mid-run and brought back.
 *
 * This is the one test file that starts a DC (test/support/samba.ts serialises DCs machine-wide).
 * Without Samba the suite is skipped with a loud message; with WRITEBACK_REQUIRE_SAMBA=1 (CI) it fails.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LdapDirectory, type LdapDirectoryOptions } from '../../../../agent/directory/index.js';
import { ProblemError } from '../../../../shared/errors/index.js';
import { ensureLocalCa } from '../../../../local/certs/index.js';
import {
  SAMBA_BASE_DN,
  SAMBA_LDAPS_URL,
  SAMBA_LDAP_URL,
  SAMBA_TLS_SERVER_NAME,
  TEST_POLICY,
  sambaSuite,
  startSambaDc,
  type SambaDc,
  type SambaUser,
} from '../../../support/samba.js';
import {
  CANARY,
  assertNoCanary,
  directoryConformance,
  password,
  uniqueName,
  type ConformanceTarget,
} from './conformance.js';

const { skip, unavailable } = sambaSuite(
  'The Samba AD suite',
  'The LDAP directory driver is NOT tested against a real domain controller in this run.',
);

describe('LDAP directory against a Samba AD DC', { skip }, () => {
  let dc: SambaDc;
  let demo: Record<'alice' | 'bob' | 'da' | 'gone', SambaUser>;
  let directory: LdapDirectory;
  const lines: string[] = [];
  const users = new Map<string, SambaUser>();
  const drivers: LdapDirectory[] = [];
  let target: ConformanceTarget;

  /** A driver for this DC; extra options override the defaults. Closed after the suite. */
  const driverFor = (options: Partial<LdapDirectoryOptions> = {}) => {
    const driver = new LdapDirectory({
      url: SAMBA_LDAPS_URL,
      caCertificate: dc.caCertificate,
      tlsServerName: SAMBA_TLS_SERVER_NAME,
      baseDn: SAMBA_BASE_DN,
      bindDn: dc.adminUpn,
      bindPassword: dc.adminPassword,
      poolSize: 2,
      logger: {
        info: (message, fields) => lines.push(JSON.stringify({ level: 'info', message, ...fields })),
        warn: (message, fields) => lines.push(JSON.stringify({ level: 'warn', message, ...fields })),
      },
      ...options,
    });
    drivers.push(driver);
    return driver;
  };

  before(
    async () => {
      if (unavailable) throw new Error(`WRITEBACK_REQUIRE_SAMBA=1 but ${unavailable}`);
      dc = await startSambaDc({ policy: TEST_POLICY });
      demo = await dc.createDemoUsers(password('demo'));
      directory = driverFor();
      target = {
        driver: directory,
        policy: TEST_POLICY,
        unusedSid: `${dc.domainSid}-999999`,
        async createUser(spec) {
          const user = await dc.createUser(spec);
          users.set(user.userPrincipalName, user);
          return { upn: user.userPrincipalName, sid: user.sid };
        },
        setPolicy: (policy) => dc.setPolicy(policy),
        logOn: (user, secret) => dc.logOn(users.get(user.upn)!, secret),
        mustChangeAtNextLogon: async (user) =>
          (await dc.passwordState(users.get(user.upn)!)).pwdLastSet === '0',
        logLines: () => lines,
      };
    },
    { timeout: 240_000 },
  );

  after(async () => {
    await Promise.all(drivers.map((driver) => driver.close()));
    await dc?.stop();
  });

  describe('conformance', () => directoryConformance(() => target));

  describe('Active Directory specifics', () => {
    it('serves the demo users: alice and bob ordinary, da protected, gone disabled', async () => {
      const alice = { kind: 'upn', value: demo.alice.userPrincipalName } as const;
      assert.equal((await directory.resetPassword(alice, password('alice-1'))).outcome, 'succeeded');
      const bob = { kind: 'sid', value: demo.bob.sid } as const;
      assert.equal(
        (await directory.changePassword(bob, password('demo'), password('bob-1'))).outcome,
        'succeeded',
      );
      const da = { kind: 'upn', value: demo.da.userPrincipalName } as const;
      assert.equal((await directory.resetPassword(da, password('da-1'))).outcome, 'ProtectedAccount');
      const gone = { kind: 'upn', value: demo.gone.userPrincipalName } as const;
      assert.equal((await directory.resetPassword(gone, password('gone-1'))).outcome, 'AccountDisabled');
      assert.equal(await dc.logOn(demo.da, password('demo')), 'ok');
    });

    it('writes pwdLastSet 0 to force a change, a timestamp otherwise, and lockoutTime 0 to unlock', async () => {
      const user = await dc.createUser({ name: uniqueName('raw'), password: password('raw-0') });
      const id = { kind: 'upn', value: user.userPrincipalName } as const;
      await directory.resetPassword(id, password('raw-1'), { forceChangeAtNextLogon: true });
      assert.equal((await dc.passwordState(user)).pwdLastSet, '0');
      await directory.resetPassword(id, password('raw-2'));
      assert.ok(BigInt((await dc.passwordState(user)).pwdLastSet) > 0n);

      for (let attempt = 0; attempt < TEST_POLICY.lockoutThreshold; attempt++) await dc.logOn(user, 'wrong');
      assert.notEqual((await dc.passwordState(user)).lockoutTime, '0');
      assert.equal((await directory.unlock(id)).outcome, 'succeeded');
      assert.equal((await dc.passwordState(user)).lockoutTime, '0');
    });

    it('does not blame complexity for a refusal Samba made for history (Samba skips the account-name rule)', async () => {
      const name = uniqueName('nm');
      const user = await dc.createUser({ name, password: password('nm-0') });
      const id = { kind: 'upn', value: user.userPrincipalName } as const;
      const withName = `${CANARY}#${name}-1`;
      assert.equal((await directory.changePassword(id, password('nm-0'), withName)).outcome, 'succeeded');
      const again = await directory.changePassword(id, withName, withName);
      assert.deepEqual([again.outcome, again.reason], ['PasswordPolicy', 'history']);
    });

    it('runs concurrent operations through the pool', async () => {
      const batch = await Promise.all(
        Array.from({ length: 6 }, (_, index) =>
          dc.createUser({ name: uniqueName('pl'), password: password(`pool-${index}`) }),
        ),
      );
      const results = await Promise.all(
        batch.map((user, index) =>
          directory.changePassword(
            { kind: 'sid', value: user.sid },
            password(`pool-${index}`),
            password(`pool-new-${index}`),
          ),
        ),
      );
      assert.deepEqual(
        results.map((result) => result.outcome),
        batch.map(() => 'succeeded'),
      );
      assert.equal(await dc.logOn(batch[5]!, password('pool-new-5')), 'ok');
    });

    it('works over ldap:// with StartTLS', async () => {
      const startTls = driverFor({ url: SAMBA_LDAP_URL, startTls: true });
      assert.deepEqual(await startTls.readPolicy(), TEST_POLICY);
      const id = { kind: 'upn', value: demo.alice.userPrincipalName } as const;
      assert.equal((await startTls.resetPassword(id, password('starttls-1'))).outcome, 'succeeded');
      assert.equal(await dc.logOn(demo.alice, password('starttls-1')), 'ok');
    });

    it('answers AgentFailure when the service account is refused, without retrying the bind', async () => {
      const failuresBefore = lines.filter((line) => line.includes('directory connection failed')).length;
      const refused = driverFor({ bindPassword: `${CANARY}-wrong-service-password` });
      const result = await refused.resetPassword(
        { kind: 'upn', value: demo.bob.userPrincipalName },
        password('x'),
      );
      assert.equal(result.outcome, 'AgentFailure');
      assert.match(
        result.detail ?? '',
        /refused the service account: wrong password \(LDAP 49, .*data 52e\)/,
      );
      assertNoCanary(result, 'the result');
      await assert.rejects(refused.readPolicy(), (error: unknown) => {
        assert.ok(error instanceof ProblemError);
        assert.equal(error.code, 'AgentFailure');
        assertNoCanary(error.message, 'the error');
        return true;
      });
      // Refused credentials are not retried (retries could lock the service account out).
      assert.equal(
        lines.filter((line) => line.includes('directory connection failed')).length,
        failuresBefore,
      );
    });

    it('verifies the DC certificate: a foreign CA or a wrong host name is refused', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'foreign-ca-'));
      try {
        const foreign = await ensureLocalCa(dir);
        const id = { kind: 'upn', value: demo.bob.userPrincipalName } as const;
        for (const options of [
          { caCertificate: foreign.caPem },
          { tlsServerName: 'wrong.corp.example.test' },
        ]) {
          const result = await driverFor(options).unlock(id);
          assert.equal(result.outcome, 'AgentFailure');
          assert.match(result.detail ?? '', /TLS certificate was not accepted/);
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('fails fast with AgentFailure while the DC is stopped, and recovers when it is back', async () => {
      const quick = driverFor({
        connectTimeoutMs: 1_000,
        requestTimeoutMs: 2_000,
        operationDeadlineMs: 1_500,
        initialBackoffMs: 100,
        maxBackoffMs: 400,
      });
      const id = { kind: 'upn', value: demo.alice.userPrincipalName } as const;
      assert.equal((await quick.unlock(id)).outcome, 'succeeded');
      assert.equal((await directory.unlock(id)).outcome, 'succeeded');

      await dc.stopServer();
      try {
        const down = await quick.resetPassword(id, password('down-1'));
        assert.equal(down.outcome, 'AgentFailure');
        assert.match(down.detail ?? '', /unreachable|outcome is unknown/);
        await assert.rejects(quick.readPolicy(), /unreachable/);
      } finally {
        await dc.startServer();
      }

      assert.equal((await quick.resetPassword(id, password('back-1'))).outcome, 'succeeded');
      // The long-lived driver's pooled connections died with the DC; it reconnects by itself.
      assert.equal((await directory.resetPassword(id, password('back-2'))).outcome, 'succeeded');
      assert.equal(await dc.logOn(demo.alice, password('back-2')), 'ok');
      assert.ok(lines.some((line) => line.includes('directory connection failed')));
      assert.ok(lines.some((line) => line.includes('directory connection restored')));
    });

    it('never logged a password', () => {
      for (const line of lines) assertNoCanary(line, 'a log line');
    });
  });
});
