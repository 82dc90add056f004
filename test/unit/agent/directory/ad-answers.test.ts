import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BusyError,
  ConfidentialityRequiredError,
  ConstraintViolationError,
  InsufficientAccessError,
  InvalidCredentialsError,
  NoSuchObjectError,
  OperationsError,
  SizeLimitExceededError,
  UnavailableError,
  UnwillingToPerformError,
} from 'ldapts';
import {
  bindDataCode,
  describeAnswer,
  interpretAnswer,
  leadingWin32Code,
  readDirectoryAnswer,
  type Phase,
} from '../../../../agent/directory/ad-answers.js';

/** Diagnostics as Samba 4.17 sent them (observed), and as Windows AD documents them. */
const SAMBA = {
  tooShort:
    '0000052D: Constraint violation - check_password_restrictions: the password is too short. It should be equal or longer than 10 characters!',
  complexity:
    '0000052D: Constraint violation - check_password_restrictions: the password does not meet the complexity criteria!',
  history:
    '0000052D: Constraint violation - check_password_restrictions: the password was already used (in history)!',
  young: '0000052D: Constraint violation - check_password_restrictions: password is too young to change!',
  wrongOld:
    "00000056: Constraint violation - check_password_restrictions: The old password specified doesn't match!",
  locked:
    '00000775: Password change not permitted, account locked out! at ../../source4/dsdb/samdb/ldb_modules/password_hash.c:3929:setup_io',
  noSuchObject: '00002030: No such Base DN: CN=alice,CN=Users,DC=corp,DC=example,DC=test',
  bind: (data: string) =>
    `80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data ${data}, v1db1`,
  access: 'error in module acl: insufficient access rights during LDB_MODIFY (50)',
};
const WINDOWS = {
  policy: '0000052D: SvcErr: DSID-031A12D2, problem 5003 (WILL_NOT_PERFORM), data 0\n',
  wrongOld:
    '00000056: AtrErr: DSID-03191083, #1:\n\t0: 00000056: DSID-03191083, problem 1005 (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)\n',
  clearText: '0000001F: SvcErr: DSID-031A126C, problem 5003 (WILL_NOT_PERFORM), data 0\n',
};

const interpret = (error: Error, phase: Phase = 'update') =>
  interpretAnswer(readDirectoryAnswer(error), phase);

describe('AD answers: codes, not words', () => {
  it('reads the leading Win32 code and nothing else', () => {
    assert.equal(leadingWin32Code(SAMBA.tooShort), 0x52d);
    assert.equal(leadingWin32Code(SAMBA.wrongOld), 0x56);
    assert.equal(leadingWin32Code(WINDOWS.policy), 0x52d);
    assert.equal(leadingWin32Code(SAMBA.access), undefined);
    assert.equal(leadingWin32Code('the password 0000052D: is not at the start'), undefined);
    assert.equal(leadingWin32Code('52D: too few digits'), undefined);
  });

  it('reads the sub-code of a refused bind', () => {
    assert.equal(bindDataCode(SAMBA.bind('52e')), 0x52e);
    assert.equal(bindDataCode(SAMBA.bind('775')), 0x775);
    assert.equal(bindDataCode(SAMBA.bind('773')), 0x773);
    assert.equal(
      bindDataCode('80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error'),
      undefined,
    );
  });

  it('maps every 0000052D refusal to PasswordPolicy with a reason left to deduce, for Samba (19) and Windows (53)', () => {
    for (const error of [
      new ConstraintViolationError(SAMBA.tooShort),
      new ConstraintViolationError(SAMBA.complexity),
      new ConstraintViolationError(SAMBA.history),
      new ConstraintViolationError(SAMBA.young),
      new UnwillingToPerformError(WINDOWS.policy),
    ]) {
      const meaning = interpret(error);
      assert.equal(meaning.outcome, 'PasswordPolicy');
      assert.equal(meaning.reason, 'deduce');
      assert.equal(meaning.connectionReusable, true);
    }
  });

  it('maps 00000056 to CurrentPasswordIncorrect and 00000775 to a locked-out AgentFailure', () => {
    assert.equal(interpret(new ConstraintViolationError(SAMBA.wrongOld)).outcome, 'CurrentPasswordIncorrect');
    assert.equal(
      interpret(new ConstraintViolationError(WINDOWS.wrongOld)).outcome,
      'CurrentPasswordIncorrect',
    );
    const locked = interpret(new ConstraintViolationError(SAMBA.locked));
    assert.equal(locked.outcome, 'AgentFailure');
    assert.match(locked.detail, /locked out/);
  });

  it('maps the other result codes', () => {
    const cases: Array<[Error, string, RegExp]> = [
      [new NoSuchObjectError(SAMBA.noSuchObject), 'UserNotFound', /no longer exists/],
      [new InsufficientAccessError(SAMBA.access), 'AgentFailure', /lacks the rights/],
      [new InvalidCredentialsError(SAMBA.bind('52e')), 'AgentFailure', /service account: wrong password/],
      [new InvalidCredentialsError(SAMBA.bind('775')), 'AgentFailure', /service account: account locked out/],
      [new InvalidCredentialsError(SAMBA.bind('532')), 'AgentFailure', /service account: password expired/],
      [new ConfidentialityRequiredError('requires TLS'), 'AgentFailure', /encrypted connection/],
      [new UnwillingToPerformError(WINDOWS.clearText), 'AgentFailure', /encrypted connection/],
      [new BusyError('busy'), 'AgentFailure', /could not process/],
      [new UnavailableError('unavailable'), 'AgentFailure', /could not process/],
      [new ConstraintViolationError('00001234: something else'), 'AgentFailure', /unexpected answer/],
    ];
    for (const [error, outcome, detail] of cases) {
      const meaning = interpret(error);
      assert.equal(meaning.outcome, outcome, error.message);
      assert.match(meaning.detail, detail);
    }
    assert.match(interpret(new SizeLimitExceededError('x'), 'lookup').detail, /more than one account/);
  });

  it('puts codes into details, never the directory text (which can name the account)', () => {
    const meaning = interpret(new NoSuchObjectError(SAMBA.noSuchObject));
    assert.equal(meaning.detail, 'the account no longer exists (LDAP 32, 00002030)');
    for (const error of [
      new ConstraintViolationError(SAMBA.history),
      new InvalidCredentialsError(SAMBA.bind('52e')),
    ]) {
      const { detail } = interpret(error);
      assert.ok(!/history|AcceptSecurityContext|alice|check_password/.test(detail), detail);
    }
    assert.equal(
      describeAnswer(readDirectoryAnswer(new InvalidCredentialsError(SAMBA.bind('52e')))),
      'LDAP 49, 80090308, data 52e',
    );
  });

  it('treats errors without an LDAP result as transport, with Node error codes only', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:636'), { code: 'ECONNREFUSED' });
    assert.deepEqual(readDirectoryAnswer(refused), { kind: 'transport', code: 'ECONNREFUSED' });
    assert.deepEqual(readDirectoryAnswer(new Error('Connection timeout')), { kind: 'transport' });
    assert.deepEqual(readDirectoryAnswer(Object.assign(new Error('x'), { code: 'a secret?' })), {
      kind: 'transport',
    });
    assert.deepEqual(readDirectoryAnswer('not even an error'), { kind: 'transport' });

    const lookup = interpret(refused, 'lookup');
    assert.equal(lookup.outcome, 'AgentFailure');
    assert.equal(lookup.retryable, true);
    assert.match(lookup.detail, /unreachable \(ECONNREFUSED\)/);

    const tls = interpret(
      Object.assign(new Error('x'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }),
      'connect',
    );
    assert.match(tls.detail, /TLS certificate was not accepted/);
    assert.equal(tls.retryable, false);
  });

  it('never retries a write whose connection failed, and says its outcome is unknown', () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const meaning = interpret(reset, 'update');
    assert.equal(meaning.outcome, 'AgentFailure');
    assert.equal(meaning.retryable, false);
    assert.match(meaning.detail, /outcome is unknown/);
    assert.equal(
      interpret(new OperationsError('00002020: Operation unavailable'), 'update').retryable,
      false,
    );
    assert.equal(interpret(new OperationsError('00002020: Operation unavailable'), 'lookup').retryable, true);
  });
});
