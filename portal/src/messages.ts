/**
 * What the portal says, in words a user understands: every problem code and policy reason of the API
 * (shared/domain/problems.ts), the directory's rules, and the checks shown while a password is typed.
 * No DOM here, so that tests can check every sentence; no sentence ever holds a password.
 */

/** The directory policy of the status route (`policy` of GET …/writeback/status). */
export interface Policy {
  minLength: number;
  complexity: boolean;
  historyLength: number;
  minimumAgeSeconds: number;
  lockoutThreshold: number;
}

/** An API problem (RFC 9457), or one of the portal's own: NetworkError, StillPending, HttpError. */
export interface Problem {
  code: string;
  status?: number;
  title?: string;
  detail?: string;
  reason?: string;
  operationId?: string;
  errors?: { path: string; message: string }[];
}

export type Field = 'currentPassword' | 'newPassword' | 'upn';

export interface Explained {
  text: string;
  /** The field the message is about, when it is about one. */
  field?: Field;
}

export interface ProblemContext {
  /** Who asks: the user for themselves, or an admin for another user. */
  who: 'self' | 'admin';
  policy?: Policy;
  retryAfterSeconds?: number;
  /** For complexity: the character classes the refused password lacked (never the password). */
  missing?: string[];
  now?: Date;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "in 14 minutes (at 10:32)"; a duration a person reads at a glance. */
export function retryWhen(seconds: number, now: Date = new Date()): string {
  const at = new Date(now.getTime() + seconds * 1000).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
  });
  if (seconds < 60) return `in ${plural(Math.ceil(seconds), 'second')}`;
  if (seconds < 3600) return `in ${plural(Math.ceil(seconds / 60), 'minute')} (at ${at})`;
  return `in ${plural(Math.ceil(seconds / 3600), 'hour')} (at ${at})`;
}

function duration(seconds: number): string {
  if (seconds >= 86_400) return plural(Math.round(seconds / 86_400), 'day');
  if (seconds >= 3600) return plural(Math.round(seconds / 3600), 'hour');
  return plural(Math.max(1, Math.round(seconds / 60)), 'minute');
}

const CLASSES: { name: string; test: RegExp }[] = [
  { name: 'an uppercase letter', test: /\p{Lu}/u },
  { name: 'a lowercase letter', test: /\p{Ll}/u },
  { name: 'a digit', test: /\p{Nd}/u },
  { name: 'a symbol (such as ! # or -)', test: /[^\p{L}\p{Nd}]/u },
];

/** Active Directory's complexity: three of the four classes (and not the account's name, checked by AD). */
export const COMPLEXITY_CLASSES_NEEDED = 3;

/** The character classes a password lacks (for the message; the password itself is not kept). */
export function missingCharacterClasses(password: string): string[] {
  return CLASSES.filter((c) => !c.test.test(password)).map((c) => c.name);
}

function listed(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

export interface PolicyCheck {
  id: 'length' | 'complexity' | 'history';
  text: string;
  /** undefined: only the directory can tell (history). */
  met: boolean | undefined;
}

/** The checks shown while a new password is typed. The directory still decides. */
export function policyChecks(password: string, policy: Policy): PolicyCheck[] {
  const checks: PolicyCheck[] = [
    {
      id: 'length',
      text: `At least ${plural(policy.minLength, 'character')}`,
      met: [...password].length >= policy.minLength,
    },
  ];
  if (policy.complexity) {
    checks.push({
      id: 'complexity',
      text: 'Three of: uppercase letters, lowercase letters, digits, symbols',
      met: CLASSES.length - missingCharacterClasses(password).length >= COMPLEXITY_CLASSES_NEEDED,
    });
  }
  if (policy.historyLength > 0) {
    checks.push({
      id: 'history',
      text: `Not one of your last ${plural(policy.historyLength, 'password')} (the directory checks this)`,
      met: undefined,
    });
  }
  return checks;
}

/** The directory's rules, as sentences, before anything is typed. */
export function describePolicy(policy: Policy): string[] {
  const rules = [`At least ${plural(policy.minLength, 'character')} long.`];
  if (policy.complexity) {
    rules.push(
      'At least three of: uppercase letters, lowercase letters, digits and symbols, and not your user name.',
    );
  }
  if (policy.historyLength > 0)
    rules.push(`Different from your last ${plural(policy.historyLength, 'password')}.`);
  if (policy.minimumAgeSeconds > 0) {
    rules.push(`You can change your password once every ${duration(policy.minimumAgeSeconds)}.`);
  }
  if (policy.lockoutThreshold > 0) {
    rules.push(`Your account locks after ${plural(policy.lockoutThreshold, 'wrong password')} in a row.`);
  }
  return rules;
}

function policyMessage(reason: string | undefined, ctx: ProblemContext): string {
  const your = ctx.who === 'self' ? 'Your new password' : 'The new password';
  const policy = ctx.policy;
  switch (reason) {
    case 'tooShort':
      return policy
        ? `${your} is too short: it needs at least ${plural(policy.minLength, 'character')}.`
        : `${your} is too short for the directory's minimum length.`;
    case 'tooLong':
      return `${your} is too long for the directory. Choose a shorter one.`;
    case 'complexity': {
      const missing = ctx.missing ?? [];
      const lacking = CLASSES.length - missing.length < COMPLEXITY_CLASSES_NEEDED;
      return lacking
        ? `${your} is not complex enough: add ${listed(missing)}. It needs three of: uppercase letters, ` +
            'lowercase letters, digits and symbols.'
        : `${your} is not accepted as complex: it must not contain the user name or parts of the full name.`;
    }
    case 'history':
      return policy && policy.historyLength > 0
        ? `${your} was used before. Choose one that is not among the last ${plural(policy.historyLength, 'password')}.`
        : `${your} was used before. Choose one that has not been used.`;
    case 'minimumAge':
      return policy && policy.minimumAgeSeconds > 0
        ? `The password was changed too recently: it can be changed once every ${duration(policy.minimumAgeSeconds)}.`
        : 'The password was changed too recently. Try again later.';
    case 'blocklisted':
      return `${your} is on the list of banned passwords: it is too common or easy to guess. Choose another.`;
    default:
      return `The directory refused ${ctx.who === 'self' ? 'your new' : 'the new'} password. Choose a different one.`;
  }
}

/** The sentence for a problem, and the field it is about. */
export function explainProblem(problem: Problem, ctx: ProblemContext): Explained {
  const self = ctx.who === 'self';
  const retry = ctx.retryAfterSeconds
    ? ` Try again ${retryWhen(ctx.retryAfterSeconds, ctx.now)}.`
    : ' Try again later.';
  const nothingChanged = self ? 'Your password was not changed.' : 'Nothing was changed.';
  switch (problem.code) {
    case 'PasswordPolicy':
      return { text: policyMessage(problem.reason, ctx), field: 'newPassword' };
    case 'CurrentPasswordIncorrect':
      return {
        text: 'Your current password is not right. Check it and try again.',
        field: 'currentPassword',
      };
    case 'WritebackOffline':
      return {
        text: `Password writeback is offline: the on-premises directory cannot be reached right now. ${nothingChanged}${retry}`,
      };
    case 'WritebackExpired':
      return {
        text: `The directory did not pick up the request in time, so it expired. ${nothingChanged} Please try again.`,
      };
    case 'RateLimited':
      return { text: `Too many attempts: for the account's safety, further attempts are paused.${retry}` };
    case 'WritebackDisabled':
      return {
        text: self
          ? 'Password self-service is not turned on for your organisation. Contact your help desk.'
          : 'Password writeback is not enabled for this tenant. Enable it in Writeback status below.',
      };
    case 'UserNotFound':
      return self
        ? { text: 'Your account was not found in the on-premises directory. Contact your help desk.' }
        : { text: 'There is no such user in the on-premises directory. Check the user name.', field: 'upn' };
    case 'ProtectedAccount':
      return {
        text: self
          ? 'Your account is a protected administrator account: its password cannot be changed here. Contact your help desk.'
          : 'This is a protected administrator account: its password cannot be changed through writeback.',
        ...(self ? {} : { field: 'upn' as const }),
      };
    case 'AccountDisabled':
      return {
        text: self
          ? 'Your account is disabled in the on-premises directory. Contact your help desk.'
          : 'This account is disabled in the on-premises directory. Enable it there first.',
        ...(self ? {} : { field: 'upn' as const }),
      };
    case 'AgentFailure':
      return {
        text:
          'The on-premises directory could not complete the request (it may be unreachable, or the account is locked). ' +
          `${nothingChanged} Try again later${self ? ', or unlock your account first' : ''}.`,
      };
    case 'Unauthenticated':
      return { text: 'Your sign-in has expired. Sign in again to continue.' };
    case 'Forbidden':
      return {
        text: self
          ? 'You are not allowed to do this.'
          : 'You need the Writeback.Admin role for this. Ask an administrator to assign it to you.',
      };
    case 'InvalidRequest': {
      const fields = (problem.errors ?? []).map((e) => e.path).join(', ');
      return {
        text: `The request was not accepted${fields ? ` (check: ${fields})` : ''}. A password must be 1 to 256 characters.`,
      };
    }
    case 'NotFound':
      return { text: 'The request could not be found any more. Start again.' };
    case 'ServiceUnavailable':
      return { text: `The password service is having trouble right now. ${nothingChanged}${retry}` };
    case 'InternalError':
      return {
        text: `Something went wrong on our side.${problem.detail ? ` If it happens again, quote: ${referenceOf(problem.detail)}.` : ''}`,
      };
    case 'RequestTimeout':
      return { text: 'The request took too long to arrive. Check your connection and try again.' };
    case 'RequestHeadersTooLarge':
      return { text: 'The request was too large. Sign out and in again, then retry.' };
    case 'NetworkError':
      return { text: 'The password service cannot be reached. Check your connection and try again.' };
    case 'StillPending':
      return {
        text: 'The directory has not answered yet. The request is still being processed: check again in a few minutes.',
      };
    default:
      return { text: `The request failed (HTTP ${problem.status ?? '?'}). Try again later.` };
  }
}

/** The invocation id an InternalError quotes. */
function referenceOf(detail: string): string {
  return (
    /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i.exec(detail)?.[0] ??
    'the time of the error'
  );
}

export type OperationKind = 'reset' | 'change' | 'unlock';

export function successMessage(kind: OperationKind, who: 'self' | 'admin', target?: string): string {
  const whose = who === 'self' ? 'Your' : `${target ?? 'The user'}'s`;
  switch (kind) {
    case 'reset':
      return who === 'self'
        ? 'Your password was reset. Use the new password from now on.'
        : `${whose} password was reset.`;
    case 'change':
      return 'Your password was changed. Use the new password from now on.';
    case 'unlock':
      return `${whose} account is unlocked.`;
  }
}
