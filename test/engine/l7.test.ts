/**
 * L7 semantics decided offline (src/engine/l7.ts): each dialect's HTTP rules with their own meaning, the
 * upstream source each case follows named in the case.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  antreaGlobMatch,
  computeHttpMatrix,
  evaluateHttp,
  fullRegexMatch,
  httpRuleMatches,
} from '../../src/engine/l7.js';
import type { HttpRequest } from '../../src/engine/l7.js';
import { buildModel } from '../../src/engine/model.js';
import type { HttpRule, HttpSemantics, L7Match, Policy, Rule, Tier } from '../../src/ir/index.js';
import { KUBERNETES_TIER, TIER_ORDER } from '../../src/ir/index.js';
import {
  cluster,
  dialectPolicy,
  flow,
  ingress,
  ips,
  isolating,
  labels,
  pod,
  podsIn,
  rule,
  sel,
  selecting,
  tcp,
} from './builders.js';

const A = pod('default/client', labels({ app: 'client' }), ips('10.0.0.1'));
const B = pod('default/web', labels({ app: 'web' }), ips('10.0.0.2'));
const CLUSTER = cluster([A, B]);
const APPLICATION: Tier = {
  name: 'application',
  order: TIER_ORDER.antrea + 250,
  semantics: 'first-match',
  dialect: 'antrea',
};
const fromClient = [podsIn(['default'], sel({ app: 'client' }))];

function req(line: string, headers: Record<string, string> = {}): HttpRequest {
  const [method = '', path = ''] = line.split(' ');
  const hasHost = Object.keys(headers).some((k) => k.toLowerCase() === 'host');
  return { method, path, headers: hasHost ? headers : { host: '10.0.0.2', ...headers } };
}
const GRPC = { 'content-type': 'application/grpc' };

function http(semantics: HttpSemantics | undefined, rules: HttpRule[]): L7Match {
  return semantics === undefined ? { kind: 'http', rules } : { kind: 'http', semantics, rules };
}
function withL7(r: Rule, l7: L7Match): Rule {
  return { ...r, l7 };
}
const allow80 = (l7?: L7Match): Rule => {
  const r = rule('Allow', fromClient, [tcp(80)]);
  return l7 === undefined ? r : withL7(r, l7);
};

function cnp(name: string, ...rules: Rule[]): Policy {
  return dialectPolicy(
    'cilium',
    KUBERNETES_TIER,
    `default/${name}`,
    0,
    selecting(sel({ app: 'web' })),
    isolating('Ingress'),
    ingress(...rules),
  );
}
function run(policies: Policy[], r: HttpRequest, tiers: Tier[] = []) {
  return evaluateHttp(buildModel(CLUSTER, policies, tiers), flow(A, B, 80), r);
}

describe('L7 matchers', () => {
  const cases: { name: string; got: boolean; want: boolean }[] = [
    // cilium pkg/envoy/xds_server.go: path is a regex on `:path`, Envoy safe_regex is a full match.
    {
      name: 'cilium regex is anchored: /public does not match /public/x',
      got: fullRegexMatch('/public', '/public/x'),
      want: false,
    },
    {
      name: 'cilium regex: /public/.* matches /public/x',
      got: fullRegexMatch('/public/.*', '/public/x'),
      want: true,
    },
    {
      name: 'cilium regex: alternation is grouped before anchoring',
      got: fullRegexMatch('GET|HEAD', 'HEADER'),
      want: false,
    },
    { name: 'cilium regex: an invalid pattern matches nothing', got: fullRegexMatch('(', '('), want: false },
    // antrea l7engine/reconciler.go convertContent: `*` only counts at either end.
    {
      name: 'antrea glob: /api/v2/* is a prefix',
      got: antreaGlobMatch('/api/v2/*', '/api/v2/pods'),
      want: true,
    },
    {
      name: 'antrea glob: */v2/* is a substring',
      got: antreaGlobMatch('*/v2/*', '/api/v2/pods'),
      want: true,
    },
    {
      name: 'antrea glob: *.foo.com is a suffix',
      got: antreaGlobMatch('*.foo.com', 'www.foo.com'),
      want: true,
    },
    {
      name: 'antrea glob: no star is exact',
      got: antreaGlobMatch('/index.html', '/index.html?x=1'),
      want: false,
    },
    {
      name: 'antrea glob: a star in the middle is literal',
      got: antreaGlobMatch('/a*b', '/axb'),
      want: false,
    },
  ];
  for (const c of cases) it(c.name, () => assert.equal(c.got, c.want));

  const rules: { name: string; semantics: HttpSemantics; rule: HttpRule; req: HttpRequest; want: boolean }[] =
    [
      // cilium: `:path` carries the query, so a full match on the bare path misses it.
      {
        name: 'cilium: path /public misses GET /public?x=1 (query is part of :path)',
        semantics: 'envoy-regex',
        rule: { path: '/public' },
        req: req('GET /public?x=1'),
        want: false,
      },
      // cilium: host → `:authority`, as sent (port included).
      {
        name: 'cilium: host regex full-matches :authority with its port',
        semantics: 'envoy-regex',
        rule: { host: 'web' },
        req: req('GET /', { Host: 'web:80' }),
        want: false,
      },
      // cilium xds_server.go headers: "Name: value" is an exact value, "Name" presence.
      {
        name: 'cilium: headers "X-My-Header: true" needs that exact value',
        semantics: 'envoy-regex',
        rule: { headers: [{ name: 'X-My-Header', value: 'true' }] },
        req: req('GET /', { 'x-my-header': 'false' }),
        want: false,
      },
      {
        name: 'cilium: header names are case-insensitive',
        semantics: 'envoy-regex',
        rule: { headers: [{ name: 'X-My-Header' }] },
        req: req('GET /', { 'x-my-header': '' }),
        want: true,
      },
      // cilium pkg/policy/api/http.go HeaderMatch: with a mismatch action the rule still matches.
      {
        name: 'cilium: headerMatches mismatch LOG keeps the rule matching',
        semantics: 'envoy-regex',
        rule: { headers: [{ name: 'X-Token', value: 'a', mismatch: 'LOG' }] },
        req: req('GET /'),
        want: true,
      },
      // calico felix/app-policy/checker matchHTTPPaths: query and fragment stripped.
      {
        name: 'calico: exact /a matches GET /a?x=1 (query stripped)',
        semantics: 'calico-alp',
        rule: { path: '^/a$' },
        req: req('GET /a?x=1'),
        want: true,
      },
      {
        name: 'calico: methods are exact and case-sensitive',
        semantics: 'calico-alp',
        rule: { method: 'GET' },
        req: req('get /'),
        want: false,
      },
      {
        name: 'calico: method * is any',
        semantics: 'calico-alp',
        rule: { method: '*' },
        req: req('PATCH /'),
        want: true,
      },
      // antrea: `http.uri` has the query; host has no port.
      {
        name: 'antrea: path /a misses /a?x=1 (http.uri carries the query)',
        semantics: 'antrea-suricata',
        rule: { path: '/a' },
        req: req('GET /a?x=1'),
        want: false,
      },
      {
        name: 'antrea: host foo.bar.com matches Host foo.bar.com:8080',
        semantics: 'antrea-suricata',
        rule: { host: 'foo.bar.com' },
        req: req('GET /', { Host: 'Foo.Bar.com:8080' }),
        want: true,
      },
    ];
  for (const c of rules)
    it(c.name, () => assert.equal(httpRuleMatches(c.semantics, c.rule, c.req).matched, c.want));
});

describe('evaluateHttp', () => {
  // cilium Documentation/security/policy/layer7.rst, the GET /public example.
  const getPublic = cnp('rule1', allow80(http(undefined, [{ method: 'GET', path: '/public' }])));

  it('cilium: GET /public is forwarded, attributed to the rule and its entry', () => {
    const v = run([getPublic], req('GET /public'));
    assert.equal(v.response, 'forwarded');
    assert.equal(v.allowed, true);
    assert.equal(v.l7[0]?.why, 'matched');
    assert.equal(v.l7[0]?.entry, 0);
    assert.equal(v.l7[0]?.by.policy.name, 'rule1');
  });
  it('cilium: PUT /public is answered 403 by its Envoy (docs: servicemesh/default-deny-ingress-policy shows 403 from envoy)', () => {
    const v = run([getPublic], req('PUT /public'));
    assert.deepEqual([v.response, v.allowed, v.l4.allowed], ['http:403', false, true]);
  });
  it('cilium: a denied gRPC call gets grpc-status 7 (envoy source/common/grpc/status.cc: 403 → PermissionDenied)', () => {
    const p = cnp('grpc', allow80(http(undefined, [{ method: 'POST', path: '/pkg.Svc/Get' }])));
    assert.equal(run([p], req('POST /pkg.Svc/Get', GRPC)).response, 'forwarded');
    assert.equal(run([p], req('POST /pkg.Svc/Delete', GRPC)).response, 'grpc:7');
  });
  it('cilium: L7 rules of several policies on the same port are a union (layer7.rst)', () => {
    const other = cnp('rule2', allow80(http(undefined, [{ method: 'PUT' }])));
    const v = run([getPublic, other], req('PUT /anything'));
    assert.equal(v.response, 'forwarded');
    assert.equal(v.l7[0]?.by.policy.name, 'rule2');
  });
  it('cilium: an L4-only allow on the same port wildcards the L7 rules (layer7.rst)', () => {
    const v = run([getPublic, cnp('l4', allow80())], req('DELETE /secret'));
    assert.equal(v.response, 'forwarded');
    assert.equal(v.l7[0]?.why, 'l4-wildcard');
  });
  it('an L3/L4 denial is dropped and no L7 layer speaks', () => {
    const other = pod('default/other', labels({ app: 'other' }), ips('10.0.0.3'));
    const v = evaluateHttp(
      buildModel(cluster([A, B, other]), [getPublic]),
      flow(other, B, 80),
      req('GET /public'),
    );
    assert.deepEqual([v.response, v.l7.length], ['dropped', 0]);
  });

  // calico: http is part of the rule match; a miss falls through (HTTPMatch, Calico policy reference).
  const calico = (...rules: Rule[]): Policy =>
    dialectPolicy(
      'calico',
      KUBERNETES_TIER,
      'default/alp',
      1000,
      selecting(sel({ app: 'web' })),
      isolating('Ingress'),
      ingress(...rules),
    );
  it('calico: GET /users/1 matches prefix /users and is forwarded', () => {
    const p = calico(allow80(http('calico-alp', [{ method: 'GET', path: '^/users' }])));
    assert.equal(run([p], req('GET /users/1')).response, 'forwarded');
  });
  it('calico: POST /users/1 misses, nothing else allows, 403 from ext_authz', () => {
    const p = calico(allow80(http('calico-alp', [{ method: 'GET', path: '^/users' }])));
    const v = run([p], req('POST /users/1'));
    assert.deepEqual([v.response, v.l4.allowed], ['http:403', true]);
  });
  it('calico: a request the HTTP rule misses falls through to a later plain allow', () => {
    const p = calico(allow80(http('calico-alp', [{ method: 'GET' }])), allow80());
    const v = run([p], req('POST /x'));
    assert.equal(v.response, 'forwarded');
    assert.equal(v.l7[0]?.by.rule, 1);
  });

  // antrea: the L7 rule the walk chose decides alone; a denied request is reset (Suricata `reject`).
  const antrea = (...rules: Rule[]): Policy =>
    dialectPolicy(
      'antrea',
      'application',
      'default/l7',
      5,
      selecting(sel({ app: 'web' })),
      ingress(...rules),
    );
  const antreaL7 = allow80(http('antrea-suricata', [{ method: 'GET', path: '/api/v2/*' }]));
  it('antrea: GET /api/v2/pods is forwarded', () => {
    assert.equal(run([antrea(antreaL7)], req('GET /api/v2/pods'), [APPLICATION]).response, 'forwarded');
  });
  it('antrea: POST is reset by Suricata, and a later allow is not consulted (antrea-l7-network-policy.md)', () => {
    const v = run([antrea(antreaL7, allow80())], req('POST /api/v2/pods'), [APPLICATION]);
    assert.deepEqual([v.response, v.l7[0]?.by.rule], ['reset', 0]);
  });
  it('antrea: a denied gRPC call is reset too', () => {
    assert.equal(run([antrea(antreaL7)], req('POST /pkg.Svc/Get', GRPC), [APPLICATION]).response, 'reset');
  });

  it('property (cilium layer7.rst): with an L4-only allow on the port, every request is forwarded', () => {
    const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH');
    const path = fc.stringMatching(/^\/[a-z0-9/._-]{0,12}(\?[a-z=&]{0,6})?$/);
    const pattern = fc.constantFrom('/public', '/api/.*', 'GET', '/[a-z]+', '');
    fc.assert(
      fc.property(
        method,
        path,
        fc.array(fc.tuple(method, pattern), { maxLength: 3 }),
        fc.boolean(),
        (m, p, rs, grpc) => {
          const l7 = http(
            undefined,
            rs.map(([rm, rp]) => ({ method: rm, path: rp })),
          );
          const v = run([cnp('l7', allow80(l7)), cnp('l4', allow80())], req(`${m} ${p}`, grpc ? GRPC : {}));
          assert.equal(v.response, 'forwarded');
        },
      ),
      { numRuns: 200 },
    );
  });
  it('property: without the L4-only allow, the response is forwarded exactly when some entry matches', () => {
    const method = fc.constantFrom('GET', 'POST');
    const path = fc.constantFrom('/public', '/public/x', '/api/v1', '/api/v1?x=1');
    const pattern = fc.constantFrom('/public', '/api/.*', '/public/.*');
    fc.assert(
      fc.property(
        method,
        path,
        fc.array(fc.tuple(method, pattern), { minLength: 1, maxLength: 3 }),
        (m, p, rs) => {
          const rules = rs.map(([rm, rp]) => ({ method: rm, path: rp }));
          const v = run([cnp('l7', allow80(http(undefined, rules)))], req(`${m} ${p}`));
          const some = rules.some((r) => r.method === m && new RegExp(`^(?:${r.path})$`).test(p));
          assert.equal(v.response, some ? 'forwarded' : 'http:403');
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('computeHttpMatrix', () => {
  it('every pair on the TCP targets: forwarded, http:403 where L7 denies, and the L3/L4 cells unchanged', () => {
    const getPublic = cnp('rule1', allow80(http(undefined, [{ method: 'GET', path: '/public' }])));
    const model = buildModel(CLUSTER, [getPublic]);
    const ask = (line: string) =>
      computeHttpMatrix(
        model,
        [
          { port: 80, protocol: 'TCP' },
          { port: 53, protocol: 'UDP' },
        ],
        (dst) => req(line, { host: dst.ips[0] ?? '' }),
      );
    const cells = (line: string) =>
      Object.fromEntries(ask(line).results.map((c) => [`${c.from}>${c.to}:${c.port}`, c.response]));
    assert.deepEqual(cells('GET /public'), {
      'default/client>default/client:80': 'forwarded',
      'default/client>default/web:80': 'forwarded',
      'default/web>default/client:80': 'forwarded',
      'default/web>default/web:80': 'forwarded',
    });
    assert.deepEqual(cells('POST /public'), {
      'default/client>default/client:80': 'forwarded',
      'default/client>default/web:80': 'http:403',
      'default/web>default/client:80': 'forwarded',
      // web → web is loopback: no policy applies to a pod talking to itself.
      'default/web>default/web:80': 'forwarded',
    });
    assert.equal(
      ask('POST /public').results.find((c) => c.to === 'default/web' && c.from === 'default/client')?.allowed,
      false,
    );
  });
});
