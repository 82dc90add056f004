/** What only the in-memory directory does (the shared behaviour is in the conformance suite). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { DEMO_POLICY, DirectoryClosedError, InMemoryDirectory } from '../../../../agent/directory/index.js';

const CANARY = 'Kanarie7q';
const pw = (n: number | string) => `${CANARY}#${n}-Zx`;

function clock(start = Date.parse('2026-11-22T00:00:00Z')) {
  let now = start;
  return { now: () => new Date(now), advance: (seconds: number) => (now += seconds * 1000) };
}

const alice = { kind: 'upn', value: 'alice@contoso.test' } as const;

describe('in-memory directory', () => {
  it('starts with the demo policy and seeds users with generated SIDs in its domain', async () => {
    const directory = new InMemoryDirectory({
      domainSid: 'S-1-5-21-1-2-3',
      users: [
        { userPrincipalName: 'alice@contoso.test', password: pw(0) },
        { userPrincipalName: 'bob@contoso.test', password: pw(0), sid: 'S-1-5-21-1-2-3-5000' },
      ],
    });
    assert.deepEqual(await directory.readPolicy(), DEMO_POLICY);
    assert.equal(directory.userState(alice)?.sid, 'S-1-5-21-1-2-3-1103');
    assert.equal(
      directory.userState({ kind: 'sid', value: 'S-1-5-21-1-2-3-5000' })?.userPrincipalName,
      'bob@contoso.test',
    );
    assert.throws(
      () => directory.addUser({ userPrincipalName: 'ALICE@contoso.test', password: pw(1) }),
      /already exists/,
    );
    assert.throws(
      () => directory.addUser({ userPrincipalName: 'x@contoso.test', password: pw(1), sid: 'nope' }),
      /SID/,
    );
  });

  it('applies the account-name part of complexity, as Windows AD does', async () => {
    const directory = new InMemoryDirectory({
      users: [{ userPrincipalName: 'alice@contoso.test', password: pw(0), displayName: 'Alice Liddell' }],
    });
    for (const candidate of [`${CANARY}#alice`, `${CANARY}#Liddell`, `ALICE-${CANARY}-1`]) {
      const result = await directory.resetPassword(alice, candidate);
      assert.deepEqual([result.outcome, result.reason], ['PasswordPolicy', 'complexity'], candidate);
    }
    assert.equal((await directory.resetPassword(alice, `${CANARY}#Ali-1`)).outcome, 'succeeded');
  });

  it('keeps history as deep as the policy says, and no deeper', async () => {
    const directory = new InMemoryDirectory({
      users: [{ userPrincipalName: 'alice@contoso.test', password: pw(0) }],
    });
    for (let n = 1; n <= 5; n++) {
      assert.equal((await directory.changePassword(alice, pw(n - 1), pw(n))).outcome, 'succeeded');
    }
    // The last five passwords (1–5) are history; password 0 is the sixth back and may return.
    assert.equal((await directory.changePassword(alice, pw(5), pw(1))).reason, 'history');
    assert.equal((await directory.changePassword(alice, pw(5), pw(0))).outcome, 'succeeded');
    directory.setPolicy({ historyLength: 0 });
    assert.equal((await directory.changePassword(alice, pw(0), pw(0))).outcome, 'succeeded');
  });

  it('lets minimum age run out with time', async () => {
    const time = clock();
    const directory = new InMemoryDirectory({
      now: time.now,
      policy: { minimumAgeSeconds: 3_600 },
      users: [{ userPrincipalName: 'alice@contoso.test', password: pw(0) }],
    });
    assert.equal((await directory.changePassword(alice, pw(0), pw(1))).reason, 'minimumAge');
    time.advance(3_599);
    assert.equal((await directory.changePassword(alice, pw(0), pw(1))).reason, 'minimumAge');
    time.advance(1);
    assert.equal((await directory.changePassword(alice, pw(0), pw(1))).outcome, 'succeeded');
    // A reset restarts the clock for the next change, and must-change lifts minimum age.
    assert.equal((await directory.resetPassword(alice, pw(2))).outcome, 'succeeded');
    assert.equal((await directory.changePassword(alice, pw(2), pw(3))).reason, 'minimumAge');
    await directory.resetPassword(alice, pw(4), { forceChangeAtNextLogon: true });
    assert.equal((await directory.changePassword(alice, pw(4), pw(5))).outcome, 'succeeded');
  });

  it('ends a lockout after lockoutDurationSeconds, or never when it is 0', async () => {
    const time = clock();
    const timed = new InMemoryDirectory({
      now: time.now,
      lockoutDurationSeconds: 60,
      users: [{ userPrincipalName: 'alice@contoso.test', password: pw(0) }],
    });
    for (let n = 0; n < 5; n++) timed.logOn(alice, 'wrong');
    assert.equal(timed.logOn(alice, pw(0)), 'lockedOut');
    assert.equal(timed.userState(alice)?.lockedOut, true);
    time.advance(60);
    assert.equal(timed.logOn(alice, pw(0)), 'ok');
    assert.equal(timed.userState(alice)?.badPasswordCount, 0);

    const forever = new InMemoryDirectory({
      now: time.now,
      lockoutDurationSeconds: 0,
      users: [{ userPrincipalName: 'alice@contoso.test', password: pw(0) }],
    });
    for (let n = 0; n < 5; n++) forever.logOn(alice, 'wrong');
    time.advance(86_400 * 365);
    assert.equal(forever.logOn(alice, pw(0)), 'lockedOut');
  });

  it('never locks out when the threshold is 0', async () => {
    const directory = new InMemoryDirectory({
      policy: { lockoutThreshold: 0 },
      users: [{ userPrincipalName: 'alice@contoso.test', password: pw(0) }],
    });
    for (let n = 0; n < 50; n++) assert.equal(directory.logOn(alice, 'wrong'), 'badPassword');
    assert.equal(directory.logOn(alice, pw(0)), 'ok');
  });

  it('answers logons as AD binds would', () => {
    const directory = new InMemoryDirectory({
      users: [
        { userPrincipalName: 'alice@contoso.test', password: pw(0), mustChangePassword: true },
        { userPrincipalName: 'gone@contoso.test', password: pw(0), disabled: true },
      ],
    });
    assert.equal(directory.logOn(alice, pw(0)), 'mustChange');
    assert.equal(directory.logOn({ kind: 'upn', value: 'gone@contoso.test' }, pw(0)), 'disabled');
    assert.equal(directory.logOn({ kind: 'upn', value: 'nobody@contoso.test' }, pw(0)), 'unknownUser');
  });

  it('holds no password in clear', async () => {
    const directory = new InMemoryDirectory({
      users: [{ userPrincipalName: 'alice@contoso.test', password: pw(0) }],
    });
    await directory.resetPassword(alice, pw(1));
    await directory.changePassword(alice, pw(1), pw(2));
    const everything =
      inspect(directory, { depth: 10, showHidden: true }) + JSON.stringify(directory.userState(alice));
    assert.ok(!everything.includes(CANARY));
  });

  it('throws DirectoryClosedError after close()', async () => {
    const directory = new InMemoryDirectory();
    await directory.close();
    await assert.rejects(directory.unlock(alice), DirectoryClosedError);
    await assert.rejects(directory.readPolicy(), DirectoryClosedError);
    assert.throws(() => directory.logOn(alice, pw(0)), DirectoryClosedError);
  });
});
