import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  UnsupportedSemanticsError,
  resolveNodeRules,
  tryResolveNodeRules,
} from '../../../src/datapath/index.js';
import type { EndpointRules, MatchTerm, SteerEntry } from '../../../src/datapath/index.js';
import { formatRange } from '../../../src/datapath/compile/ranges.js';
import { buildModel } from '../../../src/engine/index.js';
import type { Endpoint, Policy } from '../../../src/ir/index.js';
import { cidrPeer, cluster, netpol, node, pod, podPeer, rule, tcp } from '../support/builders.js';

const a = pod('x', 'a', '10.0.1.1');
const b = pod('x', 'b', '10.0.1.2', { ports: [{ name: 'web', port: 8080, protocol: 'TCP' }] });
const c = pod('x', 'c', '10.0.2.3', {
  node: 'node-2',
  ports: [{ name: 'web', port: 9090, protocol: 'TCP' }],
});
const h = pod('x', 'h', '10.255.0.1', { hostNetwork: true });
const ENDPOINTS = [a, b, c, h];
const NODES = [node('node-1', '10.255.0.1', { role: 'a' }), node('node-2', '10.255.0.2', { role: 'b' })];

/** Terms as text: "peers | ports". */
function show(terms: readonly MatchTerm[]): string[] {
  return terms.map((t) => {
    const peers = t.peers === 'any' ? 'any' : t.peers.map(formatRange).join(',');
    const ports =
      t.ports === 'any'
        ? 'any'
        : t.ports
            .map((p) =>
              p.protocol === 'ICMP'
                ? `ICMP${p.family}:${p.type ?? '*'}/${p.code ?? '*'}`
                : `${p.protocol}:${p.from}-${p.to}`,
            )
            .join(',');
    return `${peers} | ${ports}`;
  });
}

function resolve(policies: Policy[], endpoints: Endpoint[] = ENDPOINTS): Map<string, EndpointRules> {
  const rules = resolveNodeRules(buildModel(cluster(endpoints, NODES), policies), 'node-1');
  return new Map(rules.endpoints.map((e) => [e.key, e]));
}

describe('resolveNodeRules', () => {
  it('lists only pod-network endpoints of the node, in key order', () => {
    assert.deepEqual([...resolve([]).keys()], ['x/a', 'x/b']);
  });

  const cases: {
    name: string;
    policies: Policy[];
    endpoint: string;
    direction: 'ingress' | 'egress';
    want: string[] | undefined;
  }[] = [
    {
      name: 'no policy: no rules (default allow)',
      policies: [],
      endpoint: 'x/a',
      direction: 'ingress',
      want: undefined,
    },
    {
      name: 'deny-all: isolated with no rules',
      policies: [netpol('deny', 'x', undefined, {})],
      endpoint: 'x/a',
      direction: 'ingress',
      want: [],
    },
    {
      name: 'pod selector peers are pod IPs cluster-wide, never host-network pods',
      policies: [netpol('p', 'x', 'a', { ingress: [rule([podPeer('c'), podPeer('h')], [tcp(80)])] })],
      endpoint: 'x/a',
      direction: 'ingress',
      want: ['10.0.2.3 | TCP:80-80'],
    },
    {
      name: 'ipBlock except leaves holes',
      policies: [
        netpol('p', 'x', 'a', { ingress: [rule([cidrPeer('10.0.0.0/16', ['10.0.1.0/24'])], 'any')] }),
      ],
      endpoint: 'x/a',
      direction: 'ingress',
      want: ['10.0.0.0/24,10.0.2.0-10.0.255.255 | any'],
    },
    {
      name: 'nodes peers are node addresses',
      policies: [
        netpol('p', 'x', 'a', {
          ingress: [
            rule(
              [
                {
                  kind: 'nodes',
                  selector: { kind: 'match', requirements: [{ key: 'role', op: 'In', values: ['b'] }] },
                },
              ],
              'any',
            ),
          ],
        }),
      ],
      endpoint: 'x/a',
      direction: 'ingress',
      want: ['10.255.0.2 | any'],
    },
    {
      name: 'ingress named ports resolve against the endpoint itself',
      policies: [
        netpol('p', 'x', 'b', { ingress: [rule('any', [{ kind: 'named', protocol: 'TCP', name: 'web' }])] }),
      ],
      endpoint: 'x/b',
      direction: 'ingress',
      want: ['any | TCP:8080-8080'],
    },
    {
      name: 'egress named ports expand per destination',
      policies: [
        netpol('p', 'x', 'a', {
          isolates: ['Egress'],
          egress: [rule('any', [{ kind: 'named', protocol: 'TCP', name: 'web' }, tcp(53)])],
        }),
      ],
      endpoint: 'x/a',
      direction: 'egress',
      want: ['any | TCP:53-53', '10.0.1.2 | TCP:8080-8080', '10.0.2.3 | TCP:9090-9090'],
    },
    {
      name: 'a named port nobody declares matches nothing',
      policies: [
        netpol('p', 'x', 'a', { ingress: [rule('any', [{ kind: 'named', protocol: 'UDP', name: 'web' }])] }),
      ],
      endpoint: 'x/a',
      direction: 'ingress',
      want: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const ep = resolve(c.policies).get(c.endpoint);
      assert.ok(ep);
      const d = ep[c.direction];
      if (c.want === undefined) return assert.equal(d, undefined);
      assert.ok(d);
      assert.equal(d.tiers.length, 1);
      assert.equal(d.tiers[0]?.isolated, true);
      const rules = d.tiers[0]?.policies.flatMap((p) => p.rules) ?? [];
      assert.deepEqual(show(rules.flatMap((r) => r.terms)), c.want);
    });
  }

  it('keeps policies in evaluation order and rules as written, with negations and Pass targets', () => {
    const calico: Policy = {
      ...netpol('c', 'x', 'a', {
        ingress: [
          rule('any', [tcp(1)], {
            notPeers: [podPeer('b')],
            notPorts: [{ kind: 'icmp', family: 4, type: 8 }],
          }),
          rule('any', [tcp(2)], { action: 'Pass', passTo: 'baseline' }),
          rule('any', [tcp(3)], { action: 'Pass', passTo: 'admin' }),
        ],
      }),
      ref: { dialect: 'calico', kind: 'NetworkPolicy', namespace: 'x', name: 'c' },
      isolates: [],
      priority: 5,
    };
    const d = resolve([netpol('k', 'x', 'a', {}), calico]).get('x/a')?.ingress;
    assert.ok(d);
    const tier = d.tiers[0];
    assert.ok(tier);
    assert.equal(tier.isolated, true, 'the NetworkPolicy isolates');
    assert.deepEqual(
      tier.policies.map((p) => p.policy.name),
      ['c', 'k'],
    );
    const [r0, r1, r2] = tier.policies[0]?.rules ?? [];
    assert.deepEqual(show(r0?.exclude ?? []), ['10.0.1.2 | any', 'any | ICMP4:8/*']);
    // baseline comes after the Kubernetes stage (index 1 of admin, kubernetes, baseline); admin does not.
    assert.deepEqual([r1?.continueAt, r2?.continueAt], [2, 2]);
  });

  it('does not isolate for participants that do not isolate, nor for a tier whose default is Pass', () => {
    const open: Policy = { ...netpol('o', 'x', 'a', { ingress: [rule('any', [tcp(1)])] }), isolates: [] };
    assert.equal(resolve([open]).get('x/a')?.ingress?.tiers[0]?.isolated, false);
  });

  describe('L7 steering', () => {
    const http = { l7: { kind: 'http' as const, rules: [{ method: 'GET' }] } };
    const steering = (policies: Policy[]) =>
      resolveNodeRules(buildModel(cluster(ENDPOINTS, NODES), policies), 'node-1');
    const show = (entries: readonly SteerEntry[] | undefined) =>
      (entries ?? []).map((e) => `${e.endpoint} ${formatRange(e.addr)} ${e.from}-${e.to}`);

    it('steers the ingress TCP ports of Allows with HTTP rules, named ports resolved on the subject', () => {
      const rules = steering([
        netpol('p', 'x', 'b', {
          ingress: [
            rule([podPeer('a')], [tcp(90, 95), { kind: 'named', protocol: 'TCP', name: 'web' }], http),
            rule([podPeer('a')], [tcp(96)], http),
            rule([podPeer('a')], [tcp(22)]),
            rule([podPeer('a')], [{ kind: 'range', protocol: 'UDP', from: 53, to: 53 }], http),
          ],
        }),
      ]);
      assert.deepEqual(rules.endpoints.find((e) => e.key === 'x/b')?.l7, {
        ingress: [
          { from: 90, to: 96 },
          { from: 8080, to: 8080 },
        ],
        egress: [],
      });
      assert.equal(rules.endpoints.find((e) => e.key === 'x/a')?.l7, undefined);
      assert.deepEqual(show(rules.l7?.ingress), ['x/b 10.0.1.2 90-96', 'x/b 10.0.1.2 8080-8080']);
      assert.deepEqual(rules.l7?.egress, []);
    });

    it('steers the egress destination ports, named ports of every destination, keyed by the source', () => {
      const rules = steering([
        netpol('p', 'x', 'a', {
          isolates: ['Egress'],
          egress: [rule('any', [{ kind: 'named', protocol: 'TCP', name: 'web' }, tcp(80)], http)],
        }),
      ]);
      assert.deepEqual(show(rules.l7?.egress), [
        'x/a 10.0.1.1 80-80',
        'x/a 10.0.1.1 8080-8080',
        'x/a 10.0.1.1 9090-9090',
      ]);
      assert.deepEqual(rules.l7?.ingress, []);
    });

    it('takes every tier, any ports as every TCP port, and only Allows', () => {
      const admin: Policy = {
        ...netpol('adm', 'x', 'a', { ingress: [rule('any', 'any', http)] }),
        tier: 'admin',
        isolates: [],
      };
      const deny = netpol('d', 'x', 'b', { ingress: [rule('any', [tcp(80)], { ...http, action: 'Deny' })] });
      const rules = steering([admin, deny]);
      assert.deepEqual(show(rules.l7?.ingress), ['x/a 10.0.1.1 0-65535']);
    });

    it('is absent when no Allow carries HTTP rules (DNS and Kafka rules are not steered)', () => {
      const rules = steering([
        netpol('p', 'x', 'a', {
          ingress: [
            rule('any', [tcp(53)], { l7: { kind: 'dns', patterns: ['*'] } }),
            rule('any', [tcp(9092)], { l7: { kind: 'kafka', rules: [{ topic: 't' }] } }),
          ],
        }),
      ]);
      assert.equal(rules.l7, undefined);
      assert.ok(rules.endpoints.every((e) => e.l7 === undefined));
    });
  });

  it('refuses models built with another semantic profile', () => {
    const model = buildModel(cluster(ENDPOINTS, NODES), [], [], { semantics: 'calico' });
    const r = tryResolveNodeRules(model, 'node-1');
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.error instanceof UnsupportedSemanticsError);
    assert.throws(() => resolveNodeRules(model, 'node-1'), /enforces the 'kubernetes' semantics only/);
  });
});
