/**
 * Route template parsing and ordering (the parts of routing that need no server).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareRoutes, matchRoute, parseRouteTemplate } from '../../../../local/functions-host/routes.js';

describe('route template parsing', () => {
  it('refuses templates the real host refuses', () => {
    const bad = [
      'items/{id:nosuch}', // unknown constraint
      'files/{*path}/more', // catch-all not last
      'a/{x}/{x}', // duplicate name
      'a/{x}{y}', // two parameters without a literal between them
      'a/{x', // unclosed brace
      'a//b', // empty segment
      'a/{x?}/b', // optional parameter before a required segment
      'a/{n:length(a)}', // non-integer argument
    ];
    for (const template of bad) assert.throws(() => parseRouteTemplate(template), /is invalid/, template);
  });

  it('reads escaped braces as literals', () => {
    const route = parseRouteTemplate('a{{b}}/{x}');
    assert.deepEqual(matchRoute(route, '/a%7Bb%7D/1'), { x: '1' });
  });

  it('accepts the int boundaries and rejects what overflows', () => {
    const route = parseRouteTemplate('n/{v:int}');
    assert.deepEqual(matchRoute(route, '/n/2147483647'), { v: '2147483647' });
    assert.deepEqual(matchRoute(route, '/n/-5'), { v: '-5' });
    assert.equal(matchRoute(route, '/n/2147483648'), undefined);
    assert.equal(matchRoute(route, '/n/1.5'), undefined);
  });

  it('checks several constraints on one parameter', () => {
    const route = parseRouteTemplate('t/{id:minlength(2):maxlength(3)}');
    assert.equal(matchRoute(route, '/t/a'), undefined);
    assert.deepEqual(matchRoute(route, '/t/abc'), { id: 'abc' });
    assert.equal(matchRoute(route, '/t/abcd'), undefined);
  });
});

describe('route order', () => {
  const order = (...templates: string[]): string[] =>
    templates
      .map(parseRouteTemplate)
      .sort(compareRoutes)
      .map((r) => r.text);

  it('puts literals before parameters and constrained parameters before plain ones', () => {
    assert.deepEqual(order('api/items/{name}', 'api/items/{id:int}', 'api/items/special'), [
      'api/items/special',
      'api/items/{id:int}',
      'api/items/{name}',
    ]);
  });

  it('puts a longer template before its prefix', () => {
    assert.deepEqual(order('api/{a}', 'api/{a}/{b}'), ['api/{a}/{b}', 'api/{a}']);
  });
});
