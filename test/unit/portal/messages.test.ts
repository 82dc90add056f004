/**
 * The portal's words (portal/src/messages.ts, compiled with the site): a sentence of its own for every
 * problem code and policy reason of the API, the numbers a user needs in it, and never the password.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { POLICY_REASONS, PROBLEM_CODES } from '../../../shared/domain/index.js';
import { REPO_ROOT } from '../../support/app.js';

interface Messages {
  explainProblem(
    problem: { code: string; reason?: string; detail?: string },
    context: {
      who: 'self' | 'admin';
      policy?: object;
      retryAfterSeconds?: number;
      missing?: string[];
      now?: Date;
    },
  ): { text: string; field?: string };
  missingCharacterClasses(password: string): string[];
  policyChecks(password: string, policy: object): { id: string; met: boolean | undefined }[];
}

const messages = (await import(
  pathToFileURL(path.join(REPO_ROOT, 'dist', 'portal', 'site', 'js', 'messages.js')).href
)) as Messages;

const POLICY = {
  minLength: 12,
  complexity: true,
  historyLength: 24,
  minimumAgeSeconds: 86_400,
  lockoutThreshold: 5,
};
const CANARY = 'Canary-messages-Xy9!';

describe('portal messages', () => {
  it('has its own sentence for every problem code, for users and admins', () => {
    for (const who of ['self', 'admin'] as const) {
      const seen = new Set<string>();
      for (const code of PROBLEM_CODES) {
        const { text } = messages.explainProblem({ code }, { who, policy: POLICY, retryAfterSeconds: 600 });
        assert.ok(text.length > 20 && !/undefined|NaN|\[object/.test(text), `${code}: ${text}`);
        assert.ok(!seen.has(text), `${code} shares its sentence`);
        seen.add(text);
      }
    }
  });

  it('has its own sentence for every policy reason, with the rule’s number', () => {
    const texts = POLICY_REASONS.map(
      (reason) =>
        messages.explainProblem(
          { code: 'PasswordPolicy', reason },
          { who: 'self', policy: POLICY, missing: messages.missingCharacterClasses('lowercaseonly') },
        ).text,
    );
    assert.equal(new Set(texts).size, POLICY_REASONS.length);
    const text = (reason: string) =>
      texts[POLICY_REASONS.indexOf(reason as (typeof POLICY_REASONS)[number])]!;
    assert.match(text('tooShort'), /at least 12 characters/);
    assert.match(text('complexity'), /add an uppercase letter, a digit or a symbol/);
    assert.match(text('history'), /used before.*last 24 passwords/);
    assert.match(text('minimumAge'), /once every 1 day/);
  });

  it('ties field problems to their fields and says when to retry', () => {
    assert.equal(
      messages.explainProblem({ code: 'PasswordPolicy', reason: 'tooShort' }, { who: 'self' }).field,
      'newPassword',
    );
    assert.equal(
      messages.explainProblem({ code: 'CurrentPasswordIncorrect' }, { who: 'self' }).field,
      'currentPassword',
    );
    assert.equal(messages.explainProblem({ code: 'UserNotFound' }, { who: 'admin' }).field, 'upn');
    const now = new Date('2026-06-01T10:00:00Z');
    assert.match(
      messages.explainProblem({ code: 'RateLimited' }, { who: 'self', retryAfterSeconds: 840, now }).text,
      /in 14 minutes/,
    );
    assert.match(
      messages.explainProblem({ code: 'WritebackOffline' }, { who: 'self', retryAfterSeconds: 30, now }).text,
      /offline.*in 30 seconds/,
    );
  });

  it('never repeats a password, even one in a problem’s detail', () => {
    const { text } = messages.explainProblem(
      { code: 'InternalError', detail: `quote ${CANARY} 0af76519-16cd-43dd-8448-eb211c80319c` },
      { who: 'self' },
    );
    assert.ok(!text.includes(CANARY));
    assert.match(text, /0af76519-16cd-43dd-8448-eb211c80319c/);
    assert.deepEqual(
      messages.policyChecks(CANARY, POLICY).map((c) => [c.id, c.met]),
      [
        ['length', true],
        ['complexity', true],
        ['history', undefined],
      ],
    );
  });
});
