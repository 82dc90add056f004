/**
 * An in-memory directory with AD's password semantics, for the demo and the benchmark: length,
 * complexity (including the account-name rule, which Samba skips but Windows AD applies), history,
 * minimum age, lockout after failed logons and unlock, protected (adminCount=1) and disabled accounts,
 * and "must change at next logon". It answers with the same outcomes as the LDAP driver.
 *
 * Passwords are kept as salted SHA-256 digests, never in clear; a fast hash is enough for a directory
 * that lives in one process's memory and is fed demo users.
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { DirectoryPolicy, PolicyReason } from '../../shared/domain/index.js';
import {
  DirectoryClosedError,
  TOO_LATE,
  silentLogger,
  type DirectoryDriver,
  type DirectoryLogger,
  logRefusal,
  type OperationResult,
  type ResetFlags,
  type UserIdentifier,
  type WriteOptions,
} from './driver.js';
import { brokenRule } from './password-rules.js';
import { canonicalSid } from './sid.js';

export interface SeedUser {
  userPrincipalName: string;
  password: string;
  /** Defaults to a SID in the directory's domain with the next free RID. */
  sid?: string;
  /** Defaults to the UPN's part before the @. */
  samAccountName?: string;
  displayName?: string;
  /** 1: member of a protected group; refused with ProtectedAccount. */
  adminCount?: number;
  disabled?: boolean;
  mustChangePassword?: boolean;
  /** When the password was last set; defaults to the directory's `now()` at seeding. */
  passwordLastSet?: Date;
}

export interface InMemoryDirectoryOptions {
  policy?: Partial<DirectoryPolicy>;
  users?: readonly SeedUser[];
  /** Domain SID for generated user SIDs; a random S-1-5-21-… by default. */
  domainSid?: string;
  /** How long a lockout lasts; 0 means until unlocked (AD's lockoutDuration). Default 30 minutes. */
  lockoutDurationSeconds?: number;
  /** The directory's clock, injectable so that tests can move time for minimum age and lockouts. */
  now?: () => Date;
  /** Told about refused operations, as the LDAP driver tells its logger. */
  logger?: DirectoryLogger;
}

/** The demo policy (docs/local-development.md). */
export const DEMO_POLICY: DirectoryPolicy = {
  minLength: 10,
  complexity: true,
  historyLength: 5,
  minimumAgeSeconds: 0,
  lockoutThreshold: 5,
};

/** What a simulated interactive logon says (what AD's bind sub-codes say). */
export type LogonResult = 'ok' | 'badPassword' | 'lockedOut' | 'mustChange' | 'disabled' | 'unknownUser';

/** A user's state as tests and the demo may see it: no password material. */
export interface UserState {
  userPrincipalName: string;
  sid: string;
  samAccountName: string;
  protected: boolean;
  disabled: boolean;
  mustChangePassword: boolean;
  lockedOut: boolean;
  badPasswordCount: number;
  passwordLastSet?: Date;
}

interface StoredPassword {
  salt: Buffer;
  digest: Buffer;
}

interface StoredUser {
  userPrincipalName: string;
  sid: string;
  samAccountName: string;
  displayName?: string;
  adminCount: number;
  disabled: boolean;
  /** Newest first; index 0 is the current password. */
  passwords: StoredPassword[];
  /** undefined: must change at next logon (AD's pwdLastSet = 0). */
  passwordLastSet?: Date;
  /** How many times the password was set (AD's replication metadata version of unicodePwd). */
  passwordVersion: number;
  badPasswordCount: number;
  lockedOutAt?: Date;
}

function digestOf(password: string, salt: Buffer): Buffer {
  return createHash('sha256').update(salt).update(password, 'utf8').digest();
}

function store(password: string): StoredPassword {
  const salt = randomBytes(16);
  return { salt, digest: digestOf(password, salt) };
}

function matches(stored: StoredPassword | undefined, password: string): boolean {
  return stored !== undefined && timingSafeEqual(stored.digest, digestOf(password, stored.salt));
}

/** Keep enough past passwords for any history length AD allows (24). */
const MAX_HISTORY = 25;

export class InMemoryDirectory implements DirectoryDriver {
  private readonly users: StoredUser[] = [];
  private policy: DirectoryPolicy;
  private readonly domainSid: string;
  private readonly lockoutDurationSeconds: number;
  private readonly now: () => Date;
  private readonly log: DirectoryLogger;
  private nextRid = 1103;
  private closed = false;

  constructor(options: InMemoryDirectoryOptions = {}) {
    this.policy = { ...DEMO_POLICY, ...options.policy };
    this.domainSid =
      options.domainSid ?? `S-1-5-21-${randomInt(2 ** 31)}-${randomInt(2 ** 31)}-${randomInt(2 ** 31)}`;
    this.lockoutDurationSeconds = options.lockoutDurationSeconds ?? 1800;
    this.now = options.now ?? (() => new Date());
    this.log = options.logger ?? silentLogger;
    for (const user of options.users ?? []) this.addUser(user);
  }

  /** Adds a user (seeding is not subject to the password policy, as with an LDAP add by an admin). */
  addUser(seed: SeedUser): UserState {
    const sid = seed.sid === undefined ? `${this.domainSid}-${this.nextRid++}` : canonicalSid(seed.sid);
    if (!sid) throw new Error('seed user has an invalid SID');
    const upn = seed.userPrincipalName;
    if (this.find({ kind: 'upn', value: upn }) || this.find({ kind: 'sid', value: sid })) {
      throw new Error('a seed user with this UPN or SID already exists');
    }
    const user: StoredUser = {
      userPrincipalName: upn,
      sid,
      samAccountName: seed.samAccountName ?? upn.split('@')[0] ?? upn,
      ...(seed.displayName === undefined ? {} : { displayName: seed.displayName }),
      adminCount: seed.adminCount ?? 0,
      disabled: seed.disabled ?? false,
      passwords: [store(seed.password)],
      ...(seed.mustChangePassword ? {} : { passwordLastSet: seed.passwordLastSet ?? this.now() }),
      passwordVersion: 1,
      badPasswordCount: 0,
    };
    this.users.push(user);
    return this.stateOf(user);
  }

  /** Changes the domain policy (what `samba-tool domain passwordsettings set` does on a DC). */
  setPolicy(policy: Partial<DirectoryPolicy>): void {
    this.policy = { ...this.policy, ...policy };
  }

  /** A user's state without password material, or undefined. */
  userState(user: UserIdentifier): UserState | undefined {
    const found = this.find(user);
    return found && this.stateOf(found);
  }

  /**
   * A simulated interactive logon, with AD's effects: a wrong password counts towards lockout, and the
   * lockout holds for lockoutDurationSeconds or until unlocked.
   */
  logOn(user: UserIdentifier, password: string): LogonResult {
    this.assertOpen();
    const found = this.find(user);
    if (!found) return 'unknownUser';
    if (found.disabled) return 'disabled';
    if (this.isLockedOut(found)) return 'lockedOut';
    if (!matches(found.passwords[0], password)) {
      this.countBadPassword(found);
      return 'badPassword';
    }
    found.badPasswordCount = 0;
    return found.passwordLastSet === undefined ? 'mustChange' : 'ok';
  }

  async resetPassword(
    user: UserIdentifier,
    newPassword: string,
    flags: ResetFlags = {},
    options: WriteOptions = {},
  ): Promise<OperationResult> {
    return logRefusal(
      this.log,
      'reset',
      this.inTime(options, () => this.reset(user, newPassword, flags)),
    );
  }

  async changePassword(
    user: UserIdentifier,
    currentPassword: string,
    newPassword: string,
    options: WriteOptions = {},
  ): Promise<OperationResult> {
    return logRefusal(
      this.log,
      'change',
      this.inTime(options, () => this.change(user, currentPassword, newPassword)),
    );
  }

  async unlock(user: UserIdentifier, options: WriteOptions = {}): Promise<OperationResult> {
    return logRefusal(
      this.log,
      'unlock',
      this.inTime(options, () => this.clearLock(user)),
    );
  }

  async readPolicy(): Promise<DirectoryPolicy> {
    this.assertOpen();
    return { ...this.policy };
  }

  async passwordStamp(user: UserIdentifier): Promise<string | undefined> {
    this.assertOpen();
    const found = this.find(user);
    return found && String(found.passwordVersion);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Writes here take no time: a deadline that has passed is the only one too close. */
  private inTime(options: WriteOptions, write: () => OperationResult): OperationResult {
    this.assertOpen();
    return options.deadline !== undefined && Date.now() >= options.deadline ? TOO_LATE : write();
  }

  private reset(user: UserIdentifier, newPassword: string, flags: ResetFlags): OperationResult {
    const found = this.target(user);
    if ('outcome' in found) return found;
    const refused = this.policyRefusal(found, 'reset', newPassword);
    if (refused) return refused;
    this.setPassword(found, newPassword);
    if (flags.forceChangeAtNextLogon) delete found.passwordLastSet;
    if (flags.unlock) this.clearLockout(found);
    return { outcome: 'succeeded' };
  }

  private change(user: UserIdentifier, currentPassword: string, newPassword: string): OperationResult {
    const found = this.target(user);
    if ('outcome' in found) return found;
    if (this.isLockedOut(found)) {
      return {
        outcome: 'AgentFailure',
        detail: 'the account is locked out; unlock it or reset the password',
      };
    }
    if (!matches(found.passwords[0], currentPassword)) {
      this.countBadPassword(found);
      return { outcome: 'CurrentPasswordIncorrect', detail: 'the current password does not match' };
    }
    const refused = this.policyRefusal(found, 'change', newPassword);
    if (refused) return refused;
    this.setPassword(found, newPassword);
    return { outcome: 'succeeded' };
  }

  private clearLock(user: UserIdentifier): OperationResult {
    const found = this.target(user);
    if ('outcome' in found) return found;
    this.clearLockout(found);
    return { outcome: 'succeeded' };
  }

  private assertOpen(): void {
    if (this.closed) throw new DirectoryClosedError();
  }

  private find(user: UserIdentifier): StoredUser | undefined {
    if (user.kind === 'sid') {
      const sid = canonicalSid(user.value);
      return sid === undefined ? undefined : this.users.find((candidate) => candidate.sid === sid);
    }
    // AD compares userPrincipalName case-insensitively.
    const upn = user.value.toLowerCase();
    return this.users.find((candidate) => candidate.userPrincipalName.toLowerCase() === upn);
  }

  /** The user an operation applies to, or the outcome that refuses it (same order as the LDAP driver). */
  private target(user: UserIdentifier): StoredUser | OperationResult {
    this.assertOpen();
    const found = this.find(user);
    if (!found) return { outcome: 'UserNotFound', detail: 'no account matches the identifier' };
    if (found.adminCount === 1) {
      return { outcome: 'ProtectedAccount', detail: 'the account is in a protected group (adminCount=1)' };
    }
    if (found.disabled) return { outcome: 'AccountDisabled', detail: 'the account is disabled' };
    return found;
  }

  private policyRefusal(
    user: StoredUser,
    kind: 'reset' | 'change',
    newPassword: string,
  ): OperationResult | undefined {
    const now = this.now().getTime();
    const reason: PolicyReason | undefined = brokenRule({
      kind,
      policy: this.policy,
      newPassword,
      account: {
        samAccountName: user.samAccountName,
        ...(user.displayName ? { displayName: user.displayName } : {}),
      },
      ...(user.passwordLastSet === undefined
        ? {}
        : { passwordAgeSeconds: Math.floor((now - user.passwordLastSet.getTime()) / 1000) }),
      inHistory: user.passwords
        .slice(0, this.policy.historyLength)
        .some((past) => matches(past, newPassword)),
    });
    return reason && { outcome: 'PasswordPolicy', reason, detail: 'the directory refused the new password' };
  }

  private setPassword(user: StoredUser, newPassword: string): void {
    user.passwords = [store(newPassword), ...user.passwords].slice(0, MAX_HISTORY);
    user.passwordLastSet = this.now();
    user.passwordVersion++;
  }

  private isLockedOut(user: StoredUser): boolean {
    if (!user.lockedOutAt) return false;
    if (this.lockoutDurationSeconds === 0) return true;
    const elapsed = this.now().getTime() - user.lockedOutAt.getTime();
    if (elapsed < this.lockoutDurationSeconds * 1000) return true;
    // The lockout has run out, as AD's lockoutDuration lets it.
    this.clearLockout(user);
    return false;
  }

  private countBadPassword(user: StoredUser): void {
    user.badPasswordCount++;
    if (this.policy.lockoutThreshold > 0 && user.badPasswordCount >= this.policy.lockoutThreshold) {
      user.lockedOutAt = this.now();
    }
  }

  private clearLockout(user: StoredUser): void {
    delete user.lockedOutAt;
    user.badPasswordCount = 0;
  }

  private stateOf(user: StoredUser): UserState {
    return {
      userPrincipalName: user.userPrincipalName,
      sid: user.sid,
      samAccountName: user.samAccountName,
      protected: user.adminCount === 1,
      disabled: user.disabled,
      mustChangePassword: user.passwordLastSet === undefined,
      lockedOut: this.isLockedOut(user),
      badPasswordCount: user.badPasswordCount,
      ...(user.passwordLastSet ? { passwordLastSet: new Date(user.passwordLastSet) } : {}),
    };
  }
}
