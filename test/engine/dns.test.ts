/**
 * DNS-aware egress decided offline: FQDN peers against learnt names (src/engine/match.ts, model.dns) and DNS
 * queries against Cilium DNS rules (src/engine/dns.ts). Each case names the upstream source it follows.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { emptyDnsCache, learn, learntNames } from '../../src/engine/dns-cache.js';
import type { DnsAnswer, LearntNames } from '../../src/engine/dns-cache.js';
import { evaluateDnsQuery } from '../../src/engine/dns.js';
import { evaluate } from '../../src/engine/evaluate.js';
import { explain, explainDnsQuery, formatExplanation } from '../../src/engine/explain.js';
import { computeMatrix } from '../../src/engine/matrix.js';
import { buildModel, createModelBuilder } from '../../src/engine/model.js';
import type { FqdnSemantics, L7Match, Peer, Policy, Rule } from '../../src/ir/index.js';
import {
  cluster,
  dialectPolicy,
  egress,
  flow,
  ips,
  isolating,
  labels,
  netpol,
  pod,
  podsIn,
  portRange,
  rule,
  sel,
  selecting,
  tcp,
} from './builders.js';

const CLIENT = pod('default/client', labels({ app: 'client' }), ips('10.0.0.1'));
const OTHER = pod('default/other', labels({ app: 'other' }), ips('10.0.0.3'));
const WEB = pod('default/web', labels({ app: 'web' }), ips('10.0.0.2'));
const DNS = pod('kube-system/coredns', labels({ 'k8s-app': 'kube-dns' }), ips('10.0.0.53'));
const CLUSTER = cluster([CLIENT, OTHER, WEB, DNS]);

const fqdn = (pattern: string, semantics: FqdnSemantics = 'cilium', matchesPods = false): Peer => ({
  kind: 'fqdn',
  pattern,
  semantics,
  matchesPods,
});

function resolved(...answers: [string, string[]][]): LearntNames {
  const cache = answers.reduce(
    (c, [name, addrs]) => learn(c, { name, ips: addrs, ttl: 60, at: 0 } satisfies DnsAnswer),
    emptyDnsCache(),
  );
  return learntNames(cache, 0);
}

const toDns = [podsIn(['kube-system'], sel({ 'k8s-app': 'kube-dns' }))];
const dns53: Rule['ports'] = [portRange('UDP', 53, 53), tcp(53)];
const dnsRules = (...patterns: string[]): L7Match => ({ kind: 'dns', patterns });

/** A Cilium-like policy on the client: DNS to kube-dns with `dns` rules, and `fqdn` peers on 443. */
function ciliumClient(l7: L7Match | undefined, peers: Peer[]): Policy {
  const dnsRule: Rule = { ...rule('Allow', toDns, dns53), ...(l7 === undefined ? {} : { l7 }) };
  return dialectPolicy(
    'cilium',
    'kubernetes',
    'default/client-egress',
    0,
    selecting(sel({ app: 'client' })),
    isolating('Egress'),
    egress(dnsRule, rule('Allow', peers, [tcp(443)])),
  );
}

void describe('FQDN peers cover the addresses learnt for a name they select', () => {
  const policies = [ciliumClient(dnsRules('*'), [fqdn('*.example.com')])];

  void it('no resolution: the FQDN peer matches nothing, as before', () => {
    const model = buildModel(CLUSTER, policies);
    assert.equal(evaluate(model, flow(CLIENT, '192.0.2.10', 443)).allowed, false);
  });

  void it('a learnt address of a selected name is allowed, on the rule port only', () => {
    const model = buildModel(CLUSTER, policies, [], { dns: resolved(['api.example.com', ['192.0.2.10']]) });
    assert.equal(evaluate(model, flow(CLIENT, '192.0.2.10', 443)).allowed, true);
    assert.equal(evaluate(model, flow(CLIENT, '192.0.2.10', 80)).allowed, false);
    assert.equal(evaluate(model, flow(CLIENT, '192.0.2.11', 443)).allowed, false, 'an address never learnt');
  });

  void it('an address learnt only for a name the pattern does not select stays denied', () => {
    const model = buildModel(CLUSTER, policies, [], {
      dns: resolved(['example.com', ['192.0.2.10']], ['a.b.example.com', ['192.0.2.11']]),
    });
    // Cilium: `*.` spans one label and never the apex (language.rst "DNS based").
    assert.equal(evaluate(model, flow(CLIENT, '192.0.2.10', 443)).allowed, false);
    assert.equal(evaluate(model, flow(CLIENT, '192.0.2.11', 443)).allowed, false);
  });

  void it('an address shared by a selected and an unselected name is allowed (any learnt name counts)', () => {
    const model = buildModel(CLUSTER, policies, [], {
      dns: resolved(['cdn.other.org', ['192.0.2.10']], ['www.example.com', ['192.0.2.10']]),
    });
    assert.equal(evaluate(model, flow(CLIENT, '192.0.2.10', 443)).allowed, true);
  });

  void it('matchesPods false (Cilium: FQDN rules behave like CIDR rules) never selects a pod', () => {
    const dns = resolved(['web.example.com', ['10.0.0.2']]);
    const cil = buildModel(CLUSTER, policies, [], { dns });
    assert.equal(evaluate(cil, flow(CLIENT, WEB, 443)).allowed, false);
    // network-policy-api: NPEP-133 supports selecting pods by their DNS records.
    const npa = buildModel(
      CLUSTER,
      [ciliumClient(undefined, [fqdn('*.example.com', 'network-policy-api', true)])],
      [],
      {
        dns,
      },
    );
    assert.equal(evaluate(npa, flow(CLIENT, WEB, 443)).allowed, true);
  });

  void it('the matrix sees learnt pod addresses too (analyze matrix --dns)', () => {
    const npaPolicies = [ciliumClient(undefined, [fqdn('web.example.com', 'network-policy-api', true)])];
    const targets = [{ port: 443, protocol: 'TCP' as const }];
    const cell = (m: ReturnType<typeof computeMatrix>) =>
      m.results.find((c) => c.from === 'default/client' && c.to === 'default/web')?.allowed;
    assert.equal(cell(computeMatrix(buildModel(CLUSTER, npaPolicies), targets)), false);
    const dns = resolved(['web.example.com', ['10.0.0.2']]);
    assert.equal(cell(computeMatrix(buildModel(CLUSTER, npaPolicies, [], { dns }), targets)), true);
  });

  void it('explain names the name that admitted the address', () => {
    const model = buildModel(CLUSTER, policies, [], { dns: resolved(['api.example.com', ['192.0.2.10']]) });
    const text = formatExplanation(explain(model, flow(CLIENT, '192.0.2.10', 443)));
    assert.match(text, /fqdn \*\.example\.com admits 192\.0\.2\.10: learnt for api\.example\.com/);
  });

  void it('createModelBuilder carries the learnt names like buildModel', () => {
    const dns = resolved(['api.example.com', ['192.0.2.10']]);
    assert.deepStrictEqual(
      createModelBuilder().build(CLUSTER, policies, [], { dns }),
      buildModel(CLUSTER, policies, [], { dns }),
    );
  });

  void it('property: without learnt names, FQDN peers change no verdict (they match nothing)', () => {
    const pattern = fc.constantFrom('*', '*.example.com', 'example.com', '**.example.com');
    fc.assert(
      fc.property(pattern, fc.constantFrom('192.0.2.1', '10.0.0.2', '198.51.100.9'), (p, dst) => {
        const withFqdn = buildModel(CLUSTER, [ciliumClient(undefined, [fqdn(p)])]);
        const without = buildModel(CLUSTER, [ciliumClient(undefined, [])]);
        const target = dst === '10.0.0.2' ? WEB : dst;
        assert.equal(
          evaluate(withFqdn, flow(CLIENT, target, 443)).allowed,
          evaluate(without, flow(CLIENT, target, 443)).allowed,
        );
      }),
    );
  });
});

void describe('DNS queries against Cilium DNS rules (rules.dns)', () => {
  const query = (policies: Policy[], name: string, opts = {}) =>
    evaluateDnsQuery(buildModel(CLUSTER, policies), flow(CLIENT, DNS, 53, 'UDP'), name, opts);

  void it('a name a DNS rule selects is forwarded (pkg/fqdn/dnsproxy CheckAllowed)', () => {
    const v = query([ciliumClient(dnsRules('*.example.com', 'cilium.io'), [])], 'API.example.com.');
    assert.deepEqual(
      [v.response, v.allowed, v.dns?.why, v.dns?.entry, v.name],
      ['forwarded', true, 'matched', 0, 'api.example.com'],
    );
  });

  void it('a name no DNS rule selects gets REFUSED (Cilium default), NXDOMAIN by option', () => {
    const policies = [ciliumClient(dnsRules('*.example.com'), [])];
    const v = query(policies, 'evil.org');
    assert.deepEqual(
      [v.response, v.allowed, v.l4.allowed, v.dns?.why],
      ['dns:REFUSED', false, true, 'no-match'],
    );
    assert.equal(query(policies, 'evil.org', { refuseWith: 'NXDOMAIN' }).response, 'dns:NXDOMAIN');
  });

  void it('the DNS rules of every allow on the flow are one union (layer7.rst)', () => {
    const second = dialectPolicy(
      'cilium',
      'kubernetes',
      'default/more-dns',
      0,
      selecting(sel({ app: 'client' })),
      isolating('Egress'),
      egress({ ...rule('Allow', toDns, dns53), l7: dnsRules('cilium.io') }),
    );
    const policies = [ciliumClient(dnsRules('*.example.com'), []), second];
    assert.equal(query(policies, 'cilium.io').response, 'forwarded');
    assert.equal(query(policies, 'a.example.com').response, 'forwarded');
    assert.equal(query(policies, 'kubernetes.io').response, 'dns:REFUSED');
  });

  void it('an allow of the same flow without L7 rules wildcards the DNS rules (layer7.rst)', () => {
    const plain = dialectPolicy(
      'cilium',
      'kubernetes',
      'default/plain-dns',
      0,
      selecting(sel({ app: 'client' })),
      isolating('Egress'),
      egress(rule('Allow', toDns, dns53)),
    );
    const v = query([ciliumClient(dnsRules('*.example.com'), []), plain], 'kubernetes.io');
    assert.deepEqual([v.response, v.dns?.why], ['forwarded', 'l4-wildcard']);
  });

  void it('FQDN peers do no DNS filtering (NPEP-133 Expected Behavior; Antrea docs)', () => {
    const v = query(
      [ciliumClient(undefined, [fqdn('*.example.com', 'network-policy-api', true)])],
      'evil.org',
    );
    assert.deepEqual([v.response, v.dns], ['forwarded', undefined]);
  });

  void it('a query L3/L4 denies is dropped, before any DNS rule', () => {
    const denyAll = netpol('default/deny', selecting(sel({ app: 'client' })), isolating('Egress'));
    const v = query([denyAll], 'example.com');
    assert.deepEqual([v.response, v.allowed, v.l4.allowed], ['dropped', false, false]);
  });

  void it('a forwarded query is modelled to get the addresses learnt for the name', () => {
    const model = buildModel(CLUSTER, [ciliumClient(dnsRules('*'), [])], [], {
      dns: resolved(['api.example.com', ['192.0.2.10', '192.0.2.9']]),
    });
    const v = evaluateDnsQuery(model, flow(CLIENT, DNS, 53, 'UDP'), 'api.example.com');
    assert.deepEqual(v.answers, ['192.0.2.10', '192.0.2.9']);
  });

  void it('explains the rule that refused, and says it is enforced offline only', () => {
    const model = buildModel(CLUSTER, [ciliumClient(dnsRules('*.example.com'), [])]);
    const e = explainDnsQuery(model, flow(CLIENT, DNS, 53, 'UDP'), 'evil.org');
    assert.equal(e.verdict.response, 'dns:REFUSED');
    const text = formatExplanation(e);
    assert.match(text, /DENIED \(allowed at L3\/L4, denied at L7\)/);
    assert.match(text, /DNS query evil\.org: dns:REFUSED/);
    assert.match(text, /client-egress .*no DNS rule selects the name/);
    assert.match(text, /enforced offline only/);
  });
});
