/**
 * DNS name matching per dialect (src/engine/fqdn.ts). Each case names the upstream source it follows:
 * Cilium pkg/fqdn/matchpattern (matchpattern.go, matchpattern_test.go) and Documentation/security/policy/
 * language.rst "DNS based" (Cilium 1.19); network-policy-api apis/v1alpha2 DomainName and NPEP-133; Antrea
 * pkg/agent/controller/networkpolicy/fqdn.go (toRegex, parseDNSResponse) and docs/antrea-network-policy.md.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalName, ciliumPatternRegex, fqdnMatches } from '../../src/engine/fqdn.js';
import type { FqdnSemantics } from '../../src/ir/index.js';

interface Case {
  readonly source: string;
  readonly pattern: string;
  readonly accept: readonly string[];
  readonly reject: readonly string[];
}

function table(semantics: FqdnSemantics, cases: readonly Case[]): void {
  for (const c of cases) {
    void it(`${c.pattern} (${c.source})`, () => {
      for (const name of c.accept)
        assert.equal(fqdnMatches(semantics, c.pattern, name), true, `${c.pattern} should match ${name}`);
      for (const name of c.reject)
        assert.equal(fqdnMatches(semantics, c.pattern, name), false, `${c.pattern} should not match ${name}`);
    });
  }
}

void describe('Cilium matchName/matchPattern (pkg/fqdn/matchpattern, Cilium 1.19)', () => {
  table('cilium', [
    {
      source: 'matchpattern_test.go: cilium.io. matches only cilium.io.',
      pattern: 'cilium.io',
      accept: ['cilium.io', 'cilium.io.', 'CILIUM.IO.'],
      reject: ['', 'anysub.cilium.io', 'anysub.ci.io', 'anysub.ciliumandmore.io'],
    },
    {
      source: 'language.rst: *.cilium.io matches sub.cilium.io, not cilium.io or sub.sub.cilium.io',
      pattern: '*.cilium.io',
      accept: ['sub.cilium.io', 'anysub.cilium.io.'],
      reject: ['cilium.io', 'sub.sub.cilium.io', 'anysub.ci.io', 'anysub.ciliumandmore.io'],
    },
    {
      source: 'language.rst: part*ial.com matches partial.com and part-extra-ial.com',
      pattern: 'part*ial.com',
      accept: ['partial.com', 'part-extra-ial.com'],
      reject: ['part.x.ial.com', 'partial.com.evil'],
    },
    {
      source: 'matchpattern_test.go: *.ci*.io.',
      pattern: '*.ci*.io.',
      accept: ['anysub.cilium.io', 'anysub.ci.io', 'anysub.ciliumandmore.io'],
      reject: ['cilium.io', 'ci.io', 'service.namesace.svc.cluster.local'],
    },
    {
      source: 'language.rst: * alone matches all names (matchpattern_test.go: and the root)',
      pattern: '*',
      accept: ['.', 'io', 'cilium.io', 'service.namesace.svc.cluster.local', '_foobar._tcp.cilium.io'],
      reject: ['.io', '.cilium.io'],
    },
    {
      source: 'matchpattern.go isDNSWildcard: **, *. and **. match all too',
      pattern: '**.',
      accept: ['io', 'cilium.io', 'a.b.c.d'],
      reject: ['..io'],
    },
    {
      source: 'language.rst: **.cilium.io matches app.cilium.io and test.app.cilium.io but not cilium.io',
      pattern: '**.cilium.io',
      accept: ['app.cilium.io', 'test.app.cilium.io', 'sub11.sub22.sub33._foobar._tcp.cilium.io'],
      reject: ['cilium.io', 'anysub.ci.io', 'anysub.ciliumandmore.io', '1._foobar_tcp.cilium.trio'],
    },
    {
      source: 'matchpattern.go escapeRegexpCharacters: only a leading **. spans labels; inside, ** is *',
      pattern: 'sub.**.cilium.io',
      accept: ['sub.x.cilium.io'],
      reject: ['sub.a.b.cilium.io', 'sub.cilium.io'],
    },
    {
      source: 'matchpattern.go: ** without a dot after it is one label, like *',
      pattern: '**cilium.io',
      accept: ['cilium.io', 'xcilium.io'],
      reject: ['app.cilium.io'],
    },
    {
      source: 'matchpattern_test.go: SRV and DNS-SD names (RFC 2782, RFC 6763) keep their underscores',
      pattern: '*.*.cilium.io',
      accept: ['_foobar._tcp.cilium.io'],
      reject: ['_tcp.cilium.io'],
    },
  ]);

  void it('builds the anchored regex matchpattern builds (matchpattern_test.go conversion table)', () => {
    assert.equal(ciliumPatternRegex('cilium.io.').source, '^cilium\\.io\\.$');
    assert.equal(ciliumPatternRegex('*.cilium.io').source, '^[-a-z0-9_]*\\.cilium\\.io\\.$');
    assert.equal(
      ciliumPatternRegex('**.cilium.io').source,
      '^(?:[-a-z0-9_]+(?:\\.[-a-z0-9_]+)*)\\.cilium\\.io\\.$',
    );
  });
});

void describe('network-policy-api DomainName (apis/v1alpha2, NPEP-133)', () => {
  table('network-policy-api', [
    {
      source: 'DomainName: kubernetes.io matches only kubernetes.io',
      pattern: 'kubernetes.io',
      accept: ['kubernetes.io', 'kubernetes.io.', 'Kubernetes.IO'],
      reject: ['www.kubernetes.io', 'blog.kubernetes.io', 'my-kubernetes.io', 'wikipedia.org'],
    },
    {
      source: 'DomainName: blog.kubernetes.io matches only blog.kubernetes.io',
      pattern: 'blog.kubernetes.io',
      accept: ['blog.kubernetes.io'],
      reject: ['www.kubernetes.io', 'kubernetes.io'],
    },
    {
      source: 'DomainName: *.kubernetes.io matches subdomains, one or more labels, not the apex',
      pattern: '*.kubernetes.io',
      accept: ['www.kubernetes.io', 'blog.kubernetes.io', 'latest.blog.kubernetes.io'],
      reject: ['kubernetes.io', 'wikipedia.org', 'my-kubernetes.io', 'xkubernetes.io'],
    },
    {
      source: 'DomainName validation pattern: an optional trailing dot (an absolute name)',
      pattern: '*.example.com.',
      accept: ['a.example.com', 'a.example.com.'],
      reject: ['example.com'],
    },
  ]);
});

void describe('Antrea fqdn (fqdn.go toRegex, docs "FQDN based filtering")', () => {
  table('antrea', [
    {
      source: 'docs: *foobar.com matches foobar.com, www.foobar.com and test.uswest.foobar.com',
      pattern: '*foobar.com',
      accept: ['foobar.com', 'www.foobar.com', 'test.uswest.foobar.com', 'FOOBAR.com.'],
      reject: ['foobar.org', 'foobar.com.evil.org'],
    },
    {
      source: 'fqdn.go toRegex: * is .*, so it also spans characters of a label (xfoobar.com)',
      pattern: '*foobar.com',
      accept: ['xfoobar.com'],
      reject: [],
    },
    {
      source: 'fqdn.go toRegex: *.foobar.com needs the dot, so not the apex',
      pattern: '*.foobar.com',
      accept: ['a.foobar.com', 'a.b.foobar.com'],
      reject: ['foobar.com'],
    },
    {
      source: 'fqdnToSelectorItem: an exact name, lower-cased',
      pattern: 'svcA.default.svc.cluster.local',
      accept: ['svca.default.svc.cluster.local', 'SVCA.default.svc.cluster.local.'],
      reject: ['x.svca.default.svc.cluster.local'],
    },
    {
      source: "parseDNSResponse trims the answer name's dot but not the expression's: never matches",
      pattern: 'example.com.',
      accept: [],
      reject: ['example.com', 'example.com.'],
    },
  ]);
});

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$/);
const name = fc.array(label, { minLength: 1, maxLength: 5 }).map((ls) => ls.join('.'));
const semantics = fc.constantFrom<FqdnSemantics>('cilium', 'network-policy-api', 'antrea');
/** Patterns every dialect accepts: exact names and `*.`-prefixed ones. */
const pattern = fc.tuple(fc.boolean(), name).map(([wild, n]) => (wild ? `*.${n}` : n));

function randomCase(s: string, flips: readonly boolean[]): string {
  return [...s].map((c, i) => (flips[i % Math.max(flips.length, 1)] ? c.toUpperCase() : c)).join('');
}

void describe('fqdnMatches properties', () => {
  void it('is case-insensitive in the name, and a trailing dot on the name changes nothing (RFC 4343)', () => {
    fc.assert(
      fc.property(
        semantics,
        pattern,
        name,
        fc.array(fc.boolean(), { minLength: 1 }),
        fc.boolean(),
        (s, p, n, flips, dot) => {
          const variant = randomCase(n, flips) + (dot ? '.' : '');
          assert.equal(fqdnMatches(s, p, variant), fqdnMatches(s, p, n));
        },
      ),
    );
  });

  void it('is case-insensitive in the pattern (each source lower-cases it)', () => {
    fc.assert(
      fc.property(semantics, pattern, name, fc.array(fc.boolean(), { minLength: 1 }), (s, p, n, flips) => {
        assert.equal(fqdnMatches(s, randomCase(p, flips), n), fqdnMatches(s, p, n));
      }),
    );
  });

  void it('an exact name matches itself and nothing else, in every dialect', () => {
    fc.assert(
      fc.property(semantics, name, name, (s, p, n) => {
        assert.equal(fqdnMatches(s, p, n), p === n);
      }),
    );
  });

  void it('*.parent never matches the apex; it matches one more label in every dialect', () => {
    fc.assert(
      fc.property(semantics, name, label, (s, parent, sub) => {
        assert.equal(fqdnMatches(s, `*.${parent}`, parent), false);
        assert.equal(fqdnMatches(s, `*.${parent}`, `${sub}.${parent}`), true);
      }),
    );
  });

  void it('where the dialects differ: two extra labels under *.parent (Cilium: no; the others: yes)', () => {
    fc.assert(
      fc.property(name, label, label, (parent, a, b) => {
        const deep = `${a}.${b}.${parent}`;
        assert.equal(fqdnMatches('cilium', `*.${parent}`, deep), false);
        assert.equal(fqdnMatches('cilium', `**.${parent}`, deep), true);
        assert.equal(fqdnMatches('network-policy-api', `*.${parent}`, deep), true);
        assert.equal(fqdnMatches('antrea', `*.${parent}`, deep), true);
      }),
    );
  });

  void it('canonicalName lower-cases and drops one trailing dot', () => {
    assert.equal(canonicalName(' Example.COM. '), 'example.com');
    assert.equal(canonicalName('.'), '');
  });
});
