import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { httpRuleMatches } from '../../src/engine/index.js';
import type { HttpRequest } from '../../src/engine/index.js';
import type { HttpRule, HttpSemantics } from '../../src/ir/index.js';
import { exactDirection, exactEntry, exactKey, regexLiteral } from '../../src/l7/exact-table.js';
import type { ExactDirection } from '../../src/l7/exact-table.js';

describe('regexLiteral', () => {
  it('reads plain text and escaped punctuation as the string they match', () => {
    assert.equal(regexLiteral('/api/v1/items/7'), '/api/v1/items/7');
    assert.equal(regexLiteral('/index\\.html'), '/index.html');
    assert.equal(regexLiteral('GET'), 'GET');
  });
  it('refuses anything that is a pattern', () => {
    for (const re of [
      '/index.html',
      '/a.*',
      'GET|PUT',
      '/a?',
      '/a+',
      '(a)',
      '[ab]',
      '\\d',
      '/a$',
      '^/a',
      '\\',
    ])
      assert.equal(regexLiteral(re), undefined, re);
  });
});

describe('exactEntry: the entries whose conditions are equalities', () => {
  it('Cilium (envoy-regex, pkg/envoy/xds_server.go full matches): literal method and path on :path with its query', () => {
    assert.deepEqual(exactEntry('envoy-regex', { method: 'GET', path: '/public' }), {
      method: 'GET',
      value: '/public',
      field: 'pathq',
    });
    // "If omitted or empty, all … are allowed" (pkg/policy/api/http.go).
    assert.deepEqual(exactEntry('envoy-regex', { method: '', path: '' }), {});
    assert.equal(exactEntry('envoy-regex', { path: '/a', host: 'web' }), undefined);
    assert.equal(exactEntry('envoy-regex', { path: '/a', headers: [{ name: 'x' }] }), undefined);
    // A header with a mismatch action keeps the rule matching: it takes no part in the match.
    assert.deepEqual(exactEntry('envoy-regex', { path: '/a', headers: [{ name: 'x', mismatch: 'LOG' }] }), {
      value: '/a',
      field: 'pathq',
    });
  });
  it('Calico (application layer policy): `^x$` (exact) on the path alone; `^x` (prefix) is a pattern', () => {
    assert.deepEqual(exactEntry('calico-alp', { method: 'GET', path: '^/public$' }), {
      method: 'GET',
      value: '/public',
      field: 'path',
    });
    assert.deepEqual(exactEntry('calico-alp', { method: '*' }), {});
    assert.equal(exactEntry('calico-alp', { path: '^/api' }), undefined);
    assert.equal(exactEntry('calico-alp', { path: '/api' }), undefined);
  });
  it('Antrea (Suricata content matches): a method or host is a substring match, only a glob without `*` is literal', () => {
    assert.deepEqual(exactEntry('antrea-suricata', { path: '/public' }), {
      value: '/public',
      field: 'pathq',
    });
    assert.equal(exactEntry('antrea-suricata', { method: 'GET', path: '/public' }), undefined);
    assert.equal(exactEntry('antrea-suricata', { path: '/api/*' }), undefined);
  });
  it('a literal a map key cannot hold stays a pattern', () => {
    assert.equal(exactEntry('envoy-regex', { path: '/a\\ b' }), undefined);
    assert.equal(exactEntry('calico-alp', { method: 'GE/T' }), undefined);
  });
});

/** What the proxy does with the cells (haproxy-config.ts): the first of four keys present, else the fallback. */
function lookup(d: ExactDirection, req: HttpRequest): number {
  const keys = new Map(d.cells.map((c) => [exactKey('t', 'I', c.method, c.value), c.entry]));
  const value = d.field === 'path' ? (req.path.split('?')[0] ?? '') : req.path;
  for (const [m, v] of [
    [req.method, value],
    ['', value],
    [req.method, ''],
    ['', ''],
  ] as const) {
    const hit = keys.get(exactKey('t', 'I', m, v));
    if (hit !== undefined) return hit;
  }
  throw new Error('the (⊥, ⊥) cell is always there');
}

const METHODS = ['GET', 'POST', 'PUT'];
const PATHS = ['/a', '/b', '/a/b', '/c'];

const entry: fc.Arbitrary<{ semantics: HttpSemantics; rule: HttpRule }> = fc.oneof(
  fc
    .record({
      method: fc.constantFrom(undefined, '', ...METHODS),
      path: fc.constantFrom(undefined, ...PATHS),
    })
    .map(({ method, path }) => ({
      semantics: 'envoy-regex' as const,
      rule: { ...(method === undefined ? {} : { method }), ...(path === undefined ? {} : { path }) },
    })),
  fc
    .record({
      method: fc.constantFrom(undefined, '*', ...METHODS),
      path: fc.constantFrom(undefined, ...PATHS),
    })
    .map(({ method, path }) => ({
      semantics: 'calico-alp' as const,
      rule: {
        ...(method === undefined ? {} : { method }),
        ...(path === undefined ? {} : { path: `^${path}$` }),
      },
    })),
  fc.constantFrom(...PATHS).map((path) => ({ semantics: 'antrea-suricata' as const, rule: { path } })),
);

const request: fc.Arbitrary<HttpRequest> = fc
  .record({
    method: fc.constantFrom(...METHODS, 'DELETE'),
    path: fc.constantFrom(...PATHS, '/d', '/a?x=1', '/b?'),
  })
  .map(({ method, path }) => ({ method, path, headers: { host: 'web' } }));

describe('exactDirection', () => {
  it('property: the cell a request looks up holds the first entry the engine says it matches', () => {
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 8 }), request, (entries, req) => {
        const d = exactDirection(entries);
        const fields = new Set(entries.map((e) => exactEntry(e.semantics, e.rule)?.field).filter(Boolean));
        if (fields.size > 1) {
          assert.equal(d, undefined, 'entries on :path and on the path alone cannot share cells');
          return;
        }
        assert.ok(d !== undefined);
        const want = entries.findIndex((e) => httpRuleMatches(e.semantics, e.rule, req).matched);
        assert.equal(lookup(d, req), want);
      }),
      { numRuns: 3000 },
    );
  });
  it('a pattern anywhere keeps the whole direction a regex scan', () => {
    assert.equal(
      exactDirection([
        { semantics: 'envoy-regex', rule: { path: '/a' } },
        { semantics: 'envoy-regex', rule: { path: '/b.*' } },
      ]),
      undefined,
    );
  });
  it('1000 literal rules of one method are 2002 cells, one lookup each', () => {
    const d = exactDirection(
      Array.from({ length: 1000 }, (_, i) => ({
        semantics: 'envoy-regex' as const,
        rule: { method: 'GET', path: `/api/v1/items/${i + 1}` },
      })),
    );
    assert.equal(d?.cells.length, 2 * 1001);
    assert.equal(d?.cells.find((c) => c.method === 'GET' && c.value === '/api/v1/items/1000')?.entry, 999);
    assert.equal(d?.cells.find((c) => c.method === '' && c.value === '/api/v1/items/1000')?.entry, -1);
  });
});
