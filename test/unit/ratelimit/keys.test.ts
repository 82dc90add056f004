import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  normaliseKey,
  partitionKeyOf,
  rowKeyOf,
  rowKeyPrefix,
  rowKeyUpperBound,
  shardOf,
} from '../../../shared/ratelimit/keys.js';

// eslint-disable-next-line no-control-regex -- Table keys may not hold control characters
const UNSAFE = /[/\\#?\u0000-\u001f\u007f-\u009f]/;

test('upn and sid keys are case-insensitive; others are counted verbatim', () => {
  assert.equal(normaliseKey('upn:Alice@Contoso.TEST'), 'upn:alice@contoso.test');
  assert.equal(normaliseKey('UPN:alice@contoso.test'), 'upn:alice@contoso.test');
  assert.equal(normaliseKey('sid:S-1-5-21-1-2-3-1104'), 'sid:s-1-5-21-1-2-3-1104');
  assert.equal(normaliseKey('contoso'), 'contoso');
  assert.equal(normaliseKey('Contoso'), 'Contoso');
  // Composed and decomposed é are one user.
  assert.equal(normaliseKey('upn:Ren\u0065\u0301@contoso.test'), normaliseKey('upn:ren\u00e9@contoso.test'));
});

test('row keys are safe for any key and differ by scope and key', () => {
  const keys = ['upn:a/b#c?d\\e@contoso.test', 'upn:\u0000\u0007\n', 'upn:名前@例え.jp', 'sid:S-1-5', ''];
  const prefixes = new Set<string>();
  for (const key of keys) {
    for (const scope of ['user', 'change', 'tenant'] as const) {
      const prefix = rowKeyPrefix(scope, key);
      assert.doesNotMatch(prefix, UNSAFE);
      assert.match(prefix, /^limit-(user|change|tenant)-[0-9a-f]{32}-$/);
      prefixes.add(prefix);
    }
  }
  assert.equal(prefixes.size, keys.length * 3);
  assert.equal(rowKeyPrefix('user', 'upn:Bob@X.test'), rowKeyPrefix('user', 'upn:bob@x.test'));
});

test('every shard of a counter sorts inside its range, and no other counter does', () => {
  const prefix = rowKeyPrefix('tenant', 'contoso');
  const upper = rowKeyUpperBound(prefix);
  for (const shard of [0, 1, 9, 10, 15, 98]) {
    const rowKey = rowKeyOf(prefix, shard);
    assert.ok(rowKey >= prefix && rowKey < upper, rowKey);
    assert.equal(shardOf(prefix, rowKey), shard);
  }
  const other = rowKeyOf(rowKeyPrefix('user', 'contoso'), 0);
  assert.equal(shardOf(prefix, other), undefined);
  assert.equal(shardOf(prefix, `${prefix}x`), undefined);
});

test('a tenant id is the partition key; one a Table key cannot hold is refused', () => {
  assert.equal(partitionKeyOf('contoso'), 'contoso');
  for (const bad of ['', 'a/b', 'a#b', 'a?b', 'a\\b', 'a\nb'])
    assert.throws(() => partitionKeyOf(bad), RangeError);
});
