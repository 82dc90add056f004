/**
 * The behaviour both directory drivers share, as one suite: the LDAP driver against a real Samba DC
 * and the in-memory directory run the same tests (samba.test.ts, memory-conformance.test.ts).
 *
 * Every password here contains CANARY; `assertNoCanary` checks results and the driver's log lines.
 * Each test creates its own users, so that history and lockouts of one test do not leak into another.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { DirectoryDriver, OperationResult } from '../../../../agent/directory/index.js';
import type { DirectoryPolicy, UserIdentifier } from '../../../../shared/domain/index.js';

export const CANARY = 'Kanarie7q';

export type Logon =
  'ok' | 'badPassword' | 'lockedOut' | 'mustChange' | 'disabled' | 'expired' | 'unknownUser';

export interface TargetUser {
  upn: string;
  sid: string;
}

export interface UserSpec {
  name: string;
  password: string;
  adminCount?: number;
  disabled?: boolean;
}

/** What the suite needs from a directory besides the driver under test. */
export interface ConformanceTarget {
  driver: DirectoryDriver;
  /** The policy the target starts with (the demo policy, docs/local-development.md). */
  policy: DirectoryPolicy;
  /** A SID of the directory's domain that belongs to nobody. */
  unusedSid: string;
  createUser(spec: UserSpec): Promise<TargetUser>;
  setPolicy(policy: Partial<DirectoryPolicy>): Promise<void>;
  /** An interactive logon as the directory sees it; a wrong password counts towards lockout. */
  logOn(user: TargetUser, password: string): Promise<Logon>;
  mustChangeAtNextLogon(user: TargetUser): Promise<boolean>;
  /** Every line the driver logged so far, serialised. */
  logLines(): string[];
}

let counter = 0;
/** A short unique account name (sAMAccountName allows 20 characters). */
export function uniqueName(prefix: string): string {
  counter++;
  return `${prefix}${process.pid % 1000}${counter}`;
}

/** A password that meets the test policy and contains the canary (not the account name). */
export function password(n: number | string): string {
  return `${CANARY}#${n}-Zx`;
}

export function assertNoCanary(value: unknown, where: string): void {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  assert.ok(!text.includes(CANARY), `${where} contains a password`);
}

function expectOutcome(result: OperationResult, outcome: OperationResult['outcome'], reason?: string): void {
  assertNoCanary(result, 'an operation result');
  assert.equal(result.outcome, outcome, `expected ${outcome}, got ${JSON.stringify(result)}`);
  if (reason !== undefined) assert.equal(result.reason, reason);
  if (outcome !== 'succeeded') assert.ok(result.detail, 'a refusal says why');
}

const byUpn = (user: TargetUser): UserIdentifier => ({ kind: 'upn', value: user.upn });
const bySid = (user: TargetUser): UserIdentifier => ({ kind: 'sid', value: user.sid });

/** Registers the shared tests in the current describe(). `target` is read when the tests run. */
export function directoryConformance(target: () => ConformanceTarget): void {
  const fresh = async (spec: Partial<UserSpec> = {}) => {
    const initial = spec.password ?? password('initial');
    const user = await target().createUser({ name: uniqueName('cf'), ...spec, password: initial });
    return { user, initial };
  };

  it('reads the domain password policy', async () => {
    assert.deepEqual(await target().driver.readPolicy(), target().policy);
  });

  it('resets a password: the new one logs on, the old one no longer does', async () => {
    const { user, initial } = await fresh();
    expectOutcome(await target().driver.resetPassword(byUpn(user), password('reset-1')), 'succeeded');
    assert.equal(await target().logOn(user, password('reset-1')), 'ok');
    assert.equal(await target().logOn(user, initial), 'badPassword');
    assert.equal(await target().mustChangeAtNextLogon(user), false);
  });

  it('finds users by SID as well as by UPN (UPN case-insensitively)', async () => {
    const { user } = await fresh();
    expectOutcome(await target().driver.resetPassword(bySid(user), password('by-sid')), 'succeeded');
    assert.equal(await target().logOn(user, password('by-sid')), 'ok');
    const shouting: UserIdentifier = { kind: 'upn', value: user.upn.toUpperCase() };
    expectOutcome(await target().driver.resetPassword(shouting, password('by-upn')), 'succeeded');
    assert.equal(await target().logOn(user, password('by-upn')), 'ok');
  });

  it('forces a change at next logon, and a plain reset clears that again', async () => {
    const { user } = await fresh();
    const forced = await target().driver.resetPassword(byUpn(user), password('force-1'), {
      forceChangeAtNextLogon: true,
    });
    expectOutcome(forced, 'succeeded');
    assert.equal(await target().mustChangeAtNextLogon(user), true);
    assert.equal(await target().logOn(user, password('force-1')), 'mustChange');
    // The user can still change it (the agent changes as the service account, not bound as the user).
    expectOutcome(
      await target().driver.changePassword(byUpn(user), password('force-1'), password('force-2')),
      'succeeded',
    );
    assert.equal(await target().mustChangeAtNextLogon(user), false);
    assert.equal(await target().logOn(user, password('force-2')), 'ok');
  });

  it('refuses a too short password on reset and change, and keeps the old one', async () => {
    const { user, initial } = await fresh();
    expectOutcome(await target().driver.resetPassword(byUpn(user), 'K7#short'), 'PasswordPolicy', 'tooShort');
    expectOutcome(
      await target().driver.changePassword(byUpn(user), initial, 'K7#short'),
      'PasswordPolicy',
      'tooShort',
    );
    assert.equal(await target().logOn(user, initial), 'ok');
  });

  it('refuses a password without three character categories', async () => {
    const { user, initial } = await fresh();
    const simple = `${CANARY.toLowerCase()}onlylower`;
    expectOutcome(await target().driver.resetPassword(byUpn(user), simple), 'PasswordPolicy', 'complexity');
    expectOutcome(
      await target().driver.changePassword(byUpn(user), initial, simple),
      'PasswordPolicy',
      'complexity',
    );
    assert.equal(await target().logOn(user, initial), 'ok');
  });

  it('changes a password with the right current password', async () => {
    const { user, initial } = await fresh();
    expectOutcome(
      await target().driver.changePassword(byUpn(user), initial, password('change-1')),
      'succeeded',
    );
    assert.equal(await target().logOn(user, password('change-1')), 'ok');
    assert.equal(await target().logOn(user, initial), 'badPassword');
  });

  it('refuses a change with a wrong current password and leaves the password as it was', async () => {
    const { user, initial } = await fresh();
    const result = await target().driver.changePassword(byUpn(user), password('wrong'), password('change-2'));
    expectOutcome(result, 'CurrentPasswordIncorrect');
    assert.equal(await target().logOn(user, initial), 'ok');
    assert.equal(await target().logOn(user, password('change-2')), 'badPassword');
  });

  it('refuses a change to a password in history, and to the current one', async () => {
    const { user, initial } = await fresh();
    expectOutcome(
      await target().driver.changePassword(byUpn(user), initial, password('hist-1')),
      'succeeded',
    );
    expectOutcome(
      await target().driver.changePassword(byUpn(user), password('hist-1'), initial),
      'PasswordPolicy',
      'history',
    );
    expectOutcome(
      await target().driver.changePassword(byUpn(user), password('hist-1'), password('hist-1')),
      'PasswordPolicy',
      'history',
    );
    assert.equal(await target().logOn(user, password('hist-1')), 'ok');
  });

  it('lets an administrative reset reuse a password from history (AD applies history to changes)', async () => {
    const { user, initial } = await fresh();
    expectOutcome(await target().driver.resetPassword(byUpn(user), password('reuse-1')), 'succeeded');
    expectOutcome(await target().driver.resetPassword(byUpn(user), initial), 'succeeded');
    assert.equal(await target().logOn(user, initial), 'ok');
  });

  it('refuses a change before the minimum password age, but not a reset', async () => {
    const { user, initial } = await fresh();
    await target().setPolicy({ minimumAgeSeconds: 86_400 });
    try {
      assert.equal((await target().driver.readPolicy()).minimumAgeSeconds, 86_400);
      expectOutcome(
        await target().driver.changePassword(byUpn(user), initial, password('young-1')),
        'PasswordPolicy',
        'minimumAge',
      );
      expectOutcome(await target().driver.resetPassword(byUpn(user), password('young-2')), 'succeeded');
    } finally {
      await target().setPolicy({ minimumAgeSeconds: 0 });
    }
    assert.equal(await target().logOn(user, password('young-2')), 'ok');
  });

  it('unlocks an account that failed logons locked out', async () => {
    const { user, initial } = await fresh();
    for (let attempt = 0; attempt < target().policy.lockoutThreshold; attempt++) {
      assert.equal(await target().logOn(user, password(`bad-${attempt}`)), 'badPassword');
    }
    assert.equal(await target().logOn(user, initial), 'lockedOut');
    // A locked-out account cannot change its password: the directory says so (no code of its own).
    const change = await target().driver.changePassword(byUpn(user), initial, password('locked-1'));
    expectOutcome(change, 'AgentFailure');
    assert.match(change.detail ?? '', /locked out/);
    expectOutcome(await target().driver.unlock(byUpn(user)), 'succeeded');
    assert.equal(await target().logOn(user, initial), 'ok');
    // Unlocking an account that is not locked is fine too.
    expectOutcome(await target().driver.unlock(bySid(user)), 'succeeded');
  });

  it('counts wrong current passwords of changes towards lockout', async () => {
    const { user, initial } = await fresh();
    for (let attempt = 0; attempt < target().policy.lockoutThreshold; attempt++) {
      const result = await target().driver.changePassword(
        byUpn(user),
        password(`nope-${attempt}`),
        password('x-1'),
      );
      expectOutcome(result, 'CurrentPasswordIncorrect');
    }
    assert.equal(await target().logOn(user, initial), 'lockedOut');
  });

  it('resets and unlocks in one step when asked', async () => {
    const { user } = await fresh();
    for (let attempt = 0; attempt < target().policy.lockoutThreshold; attempt++) {
      await target().logOn(user, password(`bad-${attempt}`));
    }
    expectOutcome(
      await target().driver.resetPassword(byUpn(user), password('unlock-1'), { unlock: true }),
      'succeeded',
    );
    assert.equal(await target().logOn(user, password('unlock-1')), 'ok');
  });

  it('refuses protected accounts (adminCount=1) for every operation and changes nothing', async () => {
    const { user, initial } = await fresh({ adminCount: 1 });
    expectOutcome(await target().driver.resetPassword(byUpn(user), password('p-1')), 'ProtectedAccount');
    expectOutcome(
      await target().driver.changePassword(bySid(user), initial, password('p-2')),
      'ProtectedAccount',
    );
    expectOutcome(await target().driver.unlock(byUpn(user)), 'ProtectedAccount');
    assert.equal(await target().logOn(user, initial), 'ok');
  });

  it('refuses disabled accounts for every operation', async () => {
    const { user, initial } = await fresh({ disabled: true });
    expectOutcome(await target().driver.resetPassword(byUpn(user), password('d-1')), 'AccountDisabled');
    expectOutcome(
      await target().driver.changePassword(bySid(user), initial, password('d-2')),
      'AccountDisabled',
    );
    expectOutcome(await target().driver.unlock(byUpn(user)), 'AccountDisabled');
    assert.equal(await target().logOn(user, initial), 'disabled');
  });

  it('answers UserNotFound for unknown UPNs and SIDs, malformed SIDs and filter metacharacters', async () => {
    const { user } = await fresh();
    const driver = target().driver;
    const unknown: UserIdentifier[] = [
      { kind: 'upn', value: `nobody-${uniqueName('x')}@corp.example.test` },
      { kind: 'sid', value: target().unusedSid },
      { kind: 'sid', value: 'S-1-5-21-not-a-sid' },
      { kind: 'sid', value: '' },
      { kind: 'upn', value: '*' },
      { kind: 'upn', value: `${user.upn})(userPrincipalName=*` },
      { kind: 'upn', value: `${user.upn.slice(0, 4)}*` },
      { kind: 'upn', value: '' },
    ];
    for (const identifier of unknown) {
      expectOutcome(await driver.resetPassword(identifier, password('n-1')), 'UserNotFound');
      expectOutcome(
        await driver.changePassword(identifier, password('n-1'), password('n-2')),
        'UserNotFound',
      );
      expectOutcome(await driver.unlock(identifier), 'UserNotFound');
    }
    assert.equal(await target().logOn(user, password('n-1')), 'badPassword');
  });

  it('stamps each password set, and nothing else: what an agent taking over compares', async () => {
    const { user, initial } = await fresh();
    const driver = target().driver;
    const stamp = () => driver.passwordStamp(byUpn(user));
    const first = await stamp();
    assert.equal(typeof first, 'string');
    assert.equal(await driver.passwordStamp(bySid(user)), first, 'the same by SID');
    for (const unknown of [
      { kind: 'upn', value: `nobody-${uniqueName('x')}@corp.example.test` },
      { kind: 'sid', value: target().unusedSid },
      { kind: 'sid', value: 'S-1-5-21-not-a-sid' },
    ] as UserIdentifier[]) {
      assert.equal(await driver.passwordStamp(unknown), undefined);
    }

    const seen = new Set([first]);
    const changed = async (what: string) => {
      const now = await stamp();
      assert.ok(!seen.has(now), `${what} gives a new stamp`);
      seen.add(now);
    };
    const unchanged = async (what: string) => assert.equal(await stamp(), [...seen].pop(), what);

    expectOutcome(await driver.resetPassword(byUpn(user), password('stamp-1')), 'succeeded');
    await changed('a reset');
    const force = { forceChangeAtNextLogon: true };
    expectOutcome(await driver.resetPassword(byUpn(user), password('stamp-2'), force), 'succeeded');
    await changed('a reset to "must change"');
    expectOutcome(await driver.resetPassword(byUpn(user), password('stamp-3'), force), 'succeeded');
    await changed('another reset to "must change" (pwdLastSet stays 0)');
    expectOutcome(
      await driver.changePassword(byUpn(user), password('stamp-3'), password('stamp-4')),
      'succeeded',
    );
    await changed('a change');
    expectOutcome(await driver.resetPassword(byUpn(user), 'K7#short'), 'PasswordPolicy', 'tooShort');
    await unchanged('a refused reset changes nothing');
    expectOutcome(
      await driver.changePassword(byUpn(user), initial, password('stamp-5')),
      'CurrentPasswordIncorrect',
    );
    await unchanged('a refused change changes nothing');
    expectOutcome(await driver.unlock(byUpn(user)), 'succeeded');
    await unchanged('an unlock is no password set');
  });

  it('begins no write once its deadline leaves no time: AgentFailure, not applied', async () => {
    const { user, initial } = await fresh();
    const driver = target().driver;
    const before = await driver.passwordStamp(byUpn(user));
    const late = { deadline: Date.now() - 1 };
    const reset = await driver.resetPassword(byUpn(user), password('late-1'), {}, late);
    expectOutcome(reset, 'AgentFailure');
    assert.match(reset.detail ?? '', /not applied/);
    expectOutcome(
      await driver.changePassword(byUpn(user), initial, password('late-2'), late),
      'AgentFailure',
    );
    expectOutcome(await driver.unlock(byUpn(user), late), 'AgentFailure');
    assert.equal(await driver.passwordStamp(byUpn(user)), before);
    assert.equal(await target().logOn(user, initial), 'ok');
    const inTime = { deadline: Date.now() + 60_000 };
    expectOutcome(await driver.resetPassword(byUpn(user), password('late-3'), {}, inTime), 'succeeded');
    assert.equal(await target().logOn(user, password('late-3')), 'ok');
  });

  it('never puts a password into a result or a log line', async () => {
    const lines = target().logLines();
    assert.ok(lines.length > 0, 'the refusals above were logged');
    for (const line of lines) assertNoCanary(line, 'a log line');
  });
}
