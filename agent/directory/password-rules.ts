/**
 * AD's password rules, in one place for both drivers: the in-memory directory enforces them, and the
 * LDAP driver uses them to tell which rule AD applied when it refuses a password with the one code
 * it has for all of them (0000052D).
 */
import type { DirectoryPolicy, PolicyReason } from '../../shared/domain/index.js';

/** What AD compares a password against for the account-name part of complexity. */
export interface AccountNames {
  samAccountName: string;
  displayName?: string;
}

/** AD's special characters for complexity (Microsoft's list; currency symbols do not count). */
const SPECIAL_CHARACTERS = new Set('~!@#$%^&*_-+=`|\\(){}[]:;"\'<>,.?/');
/** Delimiters that split a display name into tokens for the account-name check. */
const DISPLAY_NAME_DELIMITERS = /[,.\-_ #\t]+/;

/**
 * How many of AD's five character categories the password uses: upper case, lower case, digits
 * 0–9, the special characters above, and letters that are neither upper nor lower case (e.g. CJK).
 */
export function characterCategories(password: string): number {
  let upper = false;
  let lower = false;
  let digit = false;
  let special = false;
  let otherLetter = false;
  for (const char of password) {
    if (/\p{Lu}/u.test(char)) upper = true;
    else if (/\p{Ll}/u.test(char)) lower = true;
    else if (/[0-9]/.test(char)) digit = true;
    else if (SPECIAL_CHARACTERS.has(char)) special = true;
    else if (/\p{L}/u.test(char)) otherLetter = true;
  }
  return [upper, lower, digit, special, otherLetter].filter(Boolean).length;
}

/**
 * AD's account-name rule: the password must not contain the sAMAccountName (checked only when it is
 * at least three characters long) nor any display-name token of three or more characters; case is
 * ignored. (Samba does not enforce this part; Windows AD does.)
 */
export function containsAccountName(password: string, account: AccountNames): boolean {
  const haystack = password.toLowerCase();
  const sam = account.samAccountName.toLowerCase();
  if (sam.length >= 3 && haystack.includes(sam)) return true;
  return (account.displayName ?? '')
    .split(DISPLAY_NAME_DELIMITERS)
    .filter((token) => token.length >= 3)
    .some((token) => haystack.includes(token.toLowerCase()));
}

/**
 * AD's "password must meet complexity requirements". `accountNameRule: false` leaves out the
 * account-name part, for directories that do not apply it (Samba).
 */
export function meetsComplexity(password: string, account: AccountNames, accountNameRule = true): boolean {
  return characterCategories(password) >= 3 && !(accountNameRule && containsAccountName(password, account));
}

/** Password length as AD counts it: UTF-16 code units. */
export function passwordLength(password: string): number {
  return password.length;
}

export interface PasswordAttempt {
  kind: 'reset' | 'change';
  policy: DirectoryPolicy;
  newPassword: string;
  account: AccountNames;
  /**
   * Seconds since the password was last set, by the directory's clock; undefined when it must be
   * changed at next logon (minimum age does not apply then) or is not known.
   */
  passwordAgeSeconds?: number;
  /** Only the in-memory directory knows this; the LDAP driver cannot read password history. */
  inHistory?: boolean;
  /** Whether complexity includes the account-name rule (Windows AD: yes; Samba: no). Default true. */
  accountNameRule?: boolean;
}

/**
 * The first rule a password operation breaks, in the order AD applies them (minimum age first for
 * a change — observed on Samba: a too-young password is refused as such whatever the new one is),
 * or undefined when it breaks none that can be known.
 *
 * Resets are checked against length and complexity only: AD ignores history and minimum age on an
 * administrative reset (unless a client sends the policy-hints control, which we do not).
 */
export function brokenRule(attempt: PasswordAttempt): PolicyReason | undefined {
  const { kind, policy, newPassword, account, passwordAgeSeconds } = attempt;
  if (
    kind === 'change' &&
    policy.minimumAgeSeconds > 0 &&
    passwordAgeSeconds !== undefined &&
    passwordAgeSeconds < policy.minimumAgeSeconds
  ) {
    return 'minimumAge';
  }
  if (passwordLength(newPassword) < policy.minLength) return 'tooShort';
  if (policy.complexity && !meetsComplexity(newPassword, account, attempt.accountNameRule ?? true)) {
    return 'complexity';
  }
  if (kind === 'change' && policy.historyLength > 0 && attempt.inHistory) return 'history';
  return undefined;
}

/**
 * Which rule AD applied when it refused a password with 0000052D. Minimum age, length and complexity
 * can be checked here, so those answers are certain. What remains on a change with history switched
 * on is history — the only other rule AD has itself; a third-party password filter on the DC would
 * also land there, which is the one ambiguity left. On a reset nothing can be told: `other`.
 */
export function reasonForRefusal(attempt: Omit<PasswordAttempt, 'inHistory'>): PolicyReason {
  const known = brokenRule({ ...attempt, inHistory: false });
  if (known) return known;
  if (attempt.kind === 'change' && attempt.policy.historyLength > 0) return 'history';
  return 'other';
}
