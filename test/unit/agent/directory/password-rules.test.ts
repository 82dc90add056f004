import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  brokenRule,
  characterCategories,
  containsAccountName,
  meetsComplexity,
  reasonForRefusal,
  type PasswordAttempt,
} from '../../../../agent/directory/password-rules.js';
import type { DirectoryPolicy } from '../../../../shared/domain/index.js';

const POLICY: DirectoryPolicy = {
  minLength: 10,
  complexity: true,
  historyLength: 5,
  minimumAgeSeconds: 0,
  lockoutThreshold: 5,
};
const ALICE = { samAccountName: 'alice', displayName: 'Alice Q. van der Berg-Smith' };

describe('AD password rules', () => {
  it("counts AD's five character categories", () => {
    assert.equal(characterCategories('abcdef'), 1);
    assert.equal(characterCategories('abcDEF'), 2);
    assert.equal(characterCategories('abcDEF12'), 3);
    assert.equal(characterCategories('abcDEF12!'), 4);
    assert.equal(characterCategories('abcDEF12!漢字'), 5);
    assert.equal(characterCategories('ÄÖÜäöü'), 2, 'accented letters are upper and lower case');
    assert.equal(characterCategories('ΣΑΣσας'), 2, 'Greek too');
    assert.equal(characterCategories('€£€£'), 0, 'currency symbols are not special characters');
    assert.equal(characterCategories('~!@#$%^&*_-+=`|\\(){}[]:;"\'<>,.?/'), 1);
  });

  it('applies the account-name rule: sAMAccountName of 3+ characters, display-name tokens of 3+', () => {
    assert.equal(containsAccountName('xxALICExx', ALICE), true);
    assert.equal(containsAccountName('my-smith-password', ALICE), true);
    assert.equal(containsAccountName('vanity-Berg', ALICE), true);
    // "Q", "van"'s neighbours "der": tokens shorter than 3 are ignored, 3 counts.
    assert.equal(containsAccountName('Q.Q.Q.Q', ALICE), false);
    assert.equal(containsAccountName('xxDERxx', ALICE), true);
    assert.equal(containsAccountName('bo-password', { samAccountName: 'bo' }), false);
    assert.equal(containsAccountName('unrelated', { samAccountName: 'alice' }), false);
  });

  it('judges complexity as three categories and no account name (unless told to skip that part)', () => {
    assert.equal(meetsComplexity('Summer#2026x', ALICE), true);
    assert.equal(meetsComplexity('summer2026xx', ALICE), false);
    assert.equal(meetsComplexity('Alice#2026xx', ALICE), false);
    assert.equal(meetsComplexity('Alice#2026xx', ALICE, false), true);
  });

  const attempt = (overrides: Partial<PasswordAttempt>): PasswordAttempt => ({
    kind: 'change',
    policy: POLICY,
    newPassword: 'Summer#2026x',
    account: ALICE,
    passwordAgeSeconds: 10,
    ...overrides,
  });

  it("finds the first broken rule in AD's order: minimum age, length, complexity, history", () => {
    const young = { policy: { ...POLICY, minimumAgeSeconds: 86_400 } };
    assert.equal(brokenRule(attempt({ ...young, newPassword: 'x', inHistory: true })), 'minimumAge');
    assert.equal(brokenRule(attempt({ newPassword: 'Ab#1', inHistory: true })), 'tooShort');
    assert.equal(brokenRule(attempt({ newPassword: 'summer2026xx', inHistory: true })), 'complexity');
    assert.equal(brokenRule(attempt({ inHistory: true })), 'history');
    assert.equal(brokenRule(attempt({})), undefined);
  });

  it('does not apply minimum age to a password that must be changed, nor once it is old enough', () => {
    const policy = { ...POLICY, minimumAgeSeconds: 86_400 };
    assert.equal(brokenRule(attempt({ policy, passwordAgeSeconds: undefined })), undefined);
    assert.equal(brokenRule(attempt({ policy, passwordAgeSeconds: 86_400 })), undefined);
    assert.equal(brokenRule(attempt({ policy, passwordAgeSeconds: 86_399 })), 'minimumAge');
  });

  it('checks resets against length and complexity only', () => {
    const policy = { ...POLICY, minimumAgeSeconds: 86_400 };
    assert.equal(brokenRule(attempt({ kind: 'reset', policy, inHistory: true })), undefined);
    assert.equal(brokenRule(attempt({ kind: 'reset', newPassword: 'Ab#1' })), 'tooShort');
  });

  it('switches rules off as the policy does', () => {
    const lax = {
      minLength: 0,
      complexity: false,
      historyLength: 0,
      minimumAgeSeconds: 0,
      lockoutThreshold: 0,
    };
    assert.equal(brokenRule(attempt({ policy: lax, newPassword: 'a', inHistory: true })), undefined);
  });

  it('explains a 0000052D refusal: certain rules first, then history on a change, else other', () => {
    assert.equal(reasonForRefusal(attempt({ newPassword: 'Ab#1' })), 'tooShort');
    assert.equal(reasonForRefusal(attempt({ newPassword: 'alice#Summer26' })), 'complexity');
    assert.equal(
      reasonForRefusal(attempt({ newPassword: 'alice#Summer26', accountNameRule: false })),
      'history',
    );
    assert.equal(reasonForRefusal(attempt({})), 'history');
    assert.equal(reasonForRefusal(attempt({ policy: { ...POLICY, historyLength: 0 } })), 'other');
    assert.equal(reasonForRefusal(attempt({ kind: 'reset' })), 'other');
  });
});
