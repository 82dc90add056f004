import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigurationError } from '../../../shared/errors/index.js';
import {
  DEFAULT_CHANGE_LIMIT,
  DEFAULT_TENANT_LIMIT,
  DEFAULT_USER_LIMIT,
  describeLimit,
  parseRateLimit,
} from '../../../shared/ratelimit/index.js';

function failureOf(raw: string): ConfigurationError {
  try {
    parseRateLimit('RATE_LIMIT_PER_USER', raw, DEFAULT_USER_LIMIT);
  } catch (error) {
    assert.ok(error instanceof ConfigurationError, `expected a ConfigurationError, got ${String(error)}`);
    return error;
  }
  assert.fail(`expected "${raw}" to be refused`);
}

test('the defaults parse to the documented limits', () => {
  assert.deepEqual(parseRateLimit('X', undefined, DEFAULT_USER_LIMIT), { count: 10, windowMs: 900_000 });
  assert.deepEqual(parseRateLimit('X', undefined, DEFAULT_CHANGE_LIMIT), { count: 5, windowMs: 900_000 });
  assert.deepEqual(parseRateLimit('X', undefined, DEFAULT_TENANT_LIMIT), { count: 600, windowMs: 60_000 });
});

test('a blank setting falls back; a set one wins', () => {
  assert.deepEqual(parseRateLimit('X', '   ', '3/PT1M'), { count: 3, windowMs: 60_000 });
  assert.deepEqual(parseRateLimit('X', ' 20/PT1H30M ', '3/PT1M'), { count: 20, windowMs: 5_400_000 });
  assert.deepEqual(parseRateLimit('X', '1/PT1S', '3/PT1M'), { count: 1, windowMs: 1_000 });
  assert.deepEqual(parseRateLimit('X', '1000000/P1D', '3/PT1M'), { count: 1_000_000, windowMs: 86_400_000 });
  assert.deepEqual(parseRateLimit('X', '7/PT24H', '3/PT1M'), { count: 7, windowMs: 86_400_000 });
});

test('malformed values are refused with a message that names the setting', () => {
  for (const raw of [
    '10',
    'PT15M',
    '10/',
    '/PT15M',
    '10 / PT15M',
    'ten/PT15M',
    '-1/PT15M',
    '1.5/PT15M',
    '0/PT15M',
    '1000001/PT15M',
    '10/15 minutes',
    '10/PT',
    '10/PT0.5S',
    '10/PT0S',
    '10/-PT1M',
    '10/P2D',
    '10/PT24H1S',
    '10/PT15M/extra',
  ]) {
    const error = failureOf(raw);
    assert.equal(error.setting, 'RATE_LIMIT_PER_USER', raw);
    assert.match(error.message, /RATE_LIMIT_PER_USER/, raw);
    assert.match(error.message, /<count>\/<ISO-8601 duration>/, raw);
  }
});

test('the message says which part is wrong', () => {
  assert.match(failureOf('0/PT1M').message, /count must be 1 to 1000000/);
  assert.match(failureOf('5/P2D').message, /window must be from 1 second to 1 day/);
  assert.match(failureOf('5/soon').message, /ISO-8601 duration/);
});

test('a malformed fallback is refused too, naming the setting', () => {
  assert.throws(
    () => parseRateLimit('RATE_LIMIT_PER_TENANT', undefined, '600/minute'),
    (error: unknown) => error instanceof ConfigurationError && error.setting === 'RATE_LIMIT_PER_TENANT',
  );
});

test('limits are described for people', () => {
  assert.equal(describeLimit({ count: 10, windowMs: 900_000 }), '10 per 15 minutes');
  assert.equal(describeLimit({ count: 600, windowMs: 60_000 }), '600 per 1 minute');
  assert.equal(describeLimit({ count: 3, windowMs: 5_400_000 }), '3 per 1 hour 30 minutes');
  assert.equal(describeLimit({ count: 1, windowMs: 86_400_000 }), '1 per 1 day');
});
