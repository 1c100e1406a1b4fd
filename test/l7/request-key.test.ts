/**
 * Each IR HTTP entry as one pattern over the flattened request (src/l7/request-key.ts) must match exactly
 * the requests the engine's matcher does (src/engine/l7.ts httpRuleMatches). The patterns are PCRE for
 * HAProxy; the subset they use (lookahead, classes, \xNN) means the same in JS, which checks them here on
 * generated entries and requests. The loopback proxy test (proxy.test.ts) checks them in HAProxy itself.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { httpRuleMatches } from '../../src/engine/l7.js';
import type { HttpRequest } from '../../src/engine/l7.js';
import type { HttpRule, HttpSemantics } from '../../src/ir/index.js';
import { entryPattern, literal, mapSafe, requestKey } from '../../src/l7/request-key.js';

const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE');
const path = fc.constantFrom(
  '/',
  '/public',
  '/public/a b',
  '/api/v1?x=1',
  '/api/v1',
  '/a.b',
  '/ab',
  '/x/y/a',
);
const host = fc.constantFrom('web', 'web:8080', 'Web.Example:80', '10.0.0.2');

const req: fc.Arbitrary<HttpRequest> = fc
  .record({ method, path, host, token: fc.constantFrom(undefined, 'ok', 'no') })
  .map(({ method: m, path: p, host: h, token }) => ({
    method: m,
    path: p,
    headers: { Host: h, ...(token === undefined ? {} : { 'X-Token': token }) },
  }));

const ruleFor: Record<HttpSemantics, fc.Arbitrary<HttpRule>> = {
  'envoy-regex': fc.record(
    {
      method: fc.constantFrom('GET', 'GET|POST', 'P.*', ''),
      path: fc.constantFrom('/public', '/public/.*', '/api/v1.*', '/a.b', '/[a-z]+', '/public/a b'),
      host: fc.constantFrom('web', 'web(:[0-9]+)?', '.*'),
      headers: fc.constantFrom(
        [{ name: 'X-Token', value: 'ok' }],
        [{ name: 'x-token' }],
        [{ name: 'X-Token', value: 'ok', mismatch: 'LOG' as const }],
      ),
    },
    { requiredKeys: [] },
  ),
  'calico-alp': fc.record(
    {
      method: fc.constantFrom('GET', '*', 'POST'),
      path: fc.constantFrom('^/public$', '^/api', '^/a\\.b$', '^/'),
    },
    { requiredKeys: [] },
  ),
  'antrea-suricata': fc.record(
    {
      method: fc.constantFrom('GET', 'POST', 'PUT'),
      path: fc.constantFrom('/api/*', '*/a', '/public', '*', '*v1*', '/a.b'),
      host: fc.constantFrom('web', '*.example', 'web*'),
    },
    { requiredKeys: [] },
  ),
};

/** What PCRE reads from a map-safe pattern, as a JS RegExp. */
function compile(pattern: string): RegExp {
  return new RegExp(pattern);
}

describe('request key and entry patterns', () => {
  for (const semantics of Object.keys(ruleFor) as HttpSemantics[]) {
    it(`property (${semantics}): the pattern matches the key exactly when the engine's matcher matches`, () => {
      fc.assert(
        fc.property(
          ruleFor[semantics],
          req,
          fc.constantFrom('Ingress' as const, 'Egress' as const),
          (rule, r, dir) => {
            const want = httpRuleMatches(semantics, rule, r).matched;
            const re = compile(entryPattern('t1', dir, semantics, rule));
            assert.equal(re.test(requestKey('t1', dir, r)), want, `${re} on ${JSON.stringify(r)}`);
            // Another table's or direction's key never matches.
            assert.equal(re.test(requestKey('t2', dir, r)), false);
            assert.equal(re.test(requestKey('t1', dir === 'Ingress' ? 'Egress' : 'Ingress', r)), false);
          },
        ),
        { numRuns: 500 },
      );
    });
  }

  it('patterns never hold a raw space, tab or line break (each would end a map key)', () => {
    const p = entryPattern('t1', 'Ingress', 'envoy-regex', {
      path: '/a b\tc',
      headers: [{ name: 'X', value: 'a b' }],
    });
    assert.doesNotMatch(p, /[ \t\r\n]/);
    assert.equal(mapSafe('a b'), 'a\\x20b');
  });

  it('literal escapes every PCRE metacharacter', () => {
    const s = '^$.|?*+()[]{}/\\#-';
    assert.ok(new RegExp(`^${literal(s)}$`).test(s));
  });
});
