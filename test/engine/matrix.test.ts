import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { evaluate } from '../../src/engine/evaluate.js';
import { computeMatrix, computeMatrixCounts, defaultTargets } from '../../src/engine/matrix.js';
import type { Target } from '../../src/engine/matrix.js';
import { buildModel } from '../../src/engine/model.js';
import { SEMANTICS_PROFILES } from '../../src/engine/pipeline.js';
import type {
  Action,
  Dialect,
  Direction,
  Endpoint,
  Entity,
  Peer,
  Policy,
  PortMatch,
  Rule,
  Selector,
  Tier,
} from '../../src/ir/index.js';
import { KUBERNETES_TIER, SELECT_ALL, TIER_ORDER, endpointKey } from '../../src/ir/index.js';
import {
  cidr,
  cluster,
  dialectPolicy,
  egress,
  icmp,
  unless,
  entity,
  flow,
  hostNetwork,
  ingress,
  ips,
  isolating,
  labels,
  named,
  netpol,
  node,
  nodes,
  nsLabels,
  onNode,
  pod,
  podsIn,
  ports,
  proto,
  rule,
  sel,
  selecting,
  tcp,
  tiered,
} from './builders.js';

const NODES = [
  node('n1', ['192.168.0.1'], { role: 'worker' }),
  node('n2', ['192.168.0.2'], { role: 'infra' }),
];

void describe('computeMatrix', () => {
  const a = pod('y/a', ips('10.0.0.2'), ports({ name: 'http', port: 80, protocol: 'TCP' }));
  const b = pod('x/b', ips('10.0.0.1'), ports({ name: 'dns', port: 53, protocol: 'UDP' }));
  const c = pod('x/a', ips('10.0.0.3'), ports({ port: 80, protocol: 'TCP' }));

  void it('sorts pods by namespace then name', () => {
    const m = computeMatrix(buildModel(cluster([a, b, c]), []), []);
    assert.deepEqual(m.pods, ['x/a', 'x/b', 'y/a']);
  });

  void it('orders results by target, then from, then to, self pairs included', () => {
    const m = computeMatrix(buildModel(cluster([a, c]), []), [
      { port: 81, protocol: 'TCP' },
      { port: 53, protocol: 'UDP' },
    ]);
    assert.deepEqual(
      m.results.map((r) => `${r.protocol}/${r.port} ${r.from}>${r.to}`),
      [
        'TCP/81 x/a>x/a',
        'TCP/81 x/a>y/a',
        'TCP/81 y/a>x/a',
        'TCP/81 y/a>y/a',
        'UDP/53 x/a>x/a',
        'UDP/53 x/a>y/a',
        'UDP/53 y/a>x/a',
        'UDP/53 y/a>y/a',
      ],
    );
  });

  void it('keeps loopback exact inside a class of identical pods', () => {
    const p1 = pod('x/p1', labels({ app: 'w' }), ips('10.0.0.1'));
    const p2 = pod('x/p2', labels({ app: 'w' }), ips('10.0.0.2'));
    const model = buildModel(cluster([p1, p2]), [netpol('x/deny', isolating('Ingress'))]);
    const m = computeMatrix(model, [{ port: 80, protocol: 'TCP' }]);
    assert.deepEqual(
      m.results.map((r) => r.allowed),
      [true, false, false, true],
    );
    assert.equal(computeMatrixCounts(model, [{ port: 80, protocol: 'TCP' }]).classes, 1);
  });

  void it('keeps node-local exact for host-network sources', () => {
    const h = pod('x/h', hostNetwork, onNode('n1'), ips('192.168.0.1'));
    const on1 = pod('y/on1', labels({ app: 'w' }), onNode('n1'), ips('10.0.0.1'));
    const on2 = pod('y/on2', labels({ app: 'w' }), onNode('n2'), ips('10.0.0.2'));
    const m = computeMatrix(
      buildModel(cluster([h, on1, on2], NODES), [netpol('y/deny', isolating('Ingress'))]),
      [{ port: 80, protocol: 'TCP' }],
    );
    const cell = (from: string, to: string) => m.results.find((r) => r.from === from && r.to === to)?.allowed;
    assert.equal(cell('x/h', 'y/on1'), true);
    assert.equal(cell('x/h', 'y/on2'), false);
  });

  void it('counts cells, allowed cells and classes', () => {
    const model = buildModel(cluster([a, b, c]), [netpol('x/deny', isolating('Ingress'))]);
    const counts = computeMatrixCounts(model, [{ port: 80, protocol: 'TCP' }]);
    // 9 cells; into x/a and x/b only self traffic passes: 9 - 4 denied.
    assert.deepEqual(counts, { cells: 9, allowed: 5, classes: 2 });
  });
});

void describe('defaultTargets', () => {
  void it('is the sorted union of declared container ports', () => {
    const c = cluster([
      pod('x/a', ports({ port: 80, protocol: 'UDP' }, { port: 80, protocol: 'TCP' })),
      pod('x/b', ports({ name: 'dns', port: 53, protocol: 'UDP' }, { port: 80, protocol: 'TCP' })),
    ]);
    assert.deepEqual(defaultTargets(c), [
      { port: 53, protocol: 'UDP' },
      { port: 80, protocol: 'TCP' },
      { port: 80, protocol: 'UDP' },
    ]);
  });
});

// Random clusters and policies over a small vocabulary, so that selectors, peers and ports collide often.
const selector: fc.Arbitrary<Selector> = fc.oneof(
  fc.constant(SELECT_ALL),
  fc.constantFrom('web', 'db', 'api').map((app) => sel({ app })),
  fc.constant<Selector>({ kind: 'match', requirements: [{ key: 'app', op: 'NotIn', values: ['web'] }] }),
);
const peer: fc.Arbitrary<Peer> = fc.oneof(
  fc
    .tuple(
      fc.oneof(
        fc.subarray(['x', 'y']),
        fc.constantFrom('a', 'b').map((team) => sel({ team })),
      ),
      selector,
    )
    .map(([scope, pods]) => podsIn(scope, pods)),
  fc
    .tuple(fc.constantFrom('10.0.0.0/23', '10.0.1.0/24', '192.168.0.0/31', '0.0.0.0/0'), fc.boolean())
    .map(([block, matchesPods]) => cidr(block, block === '0.0.0.0/0' ? ['10.0.0.0/24'] : [], matchesPods)),
  fc.constantFrom<Entity>('world', 'host', 'remote-node', 'cluster', 'all', 'kube-apiserver').map(entity),
  fc.constantFrom('worker', 'infra').map((role) => nodes(sel({ role }))),
  fc.constant<Peer>({ kind: 'fqdn', pattern: '*.example.com' }),
);
const portMatch: fc.Arbitrary<PortMatch> = fc.oneof(
  fc.constantFrom(80, 8080, 53).map(tcp),
  fc.constantFrom('TCP', 'UDP').map((p) => proto(p)),
  fc.constantFrom('http', 'dns').chain((n) => fc.constantFrom('TCP', 'UDP').map((p) => named(n, p))),
  fc.constantFrom<4 | 6>(4, 6).map(icmp),
);
/** Tiers a Pass may name: later, earlier, the Kubernetes stage, unknown. */
const PASS_TARGETS = ['kubernetes', 'baseline', 'admin', 'emergency', 'after', 'nowhere'];
/** Rules with negations and Pass targets; the Kubernetes dialect never writes those (see k8sRuleOf). */
const ruleOf = (actions: readonly Action[]): fc.Arbitrary<Rule> =>
  fc
    .tuple(
      fc.constantFrom(...actions),
      fc.oneof(fc.constant<'any'>('any'), fc.array(peer, { maxLength: 2 })),
      fc.oneof(fc.constant<'any'>('any'), fc.array(portMatch, { maxLength: 2 })),
      fc.array(peer, { maxLength: 1 }),
      fc.array(portMatch, { maxLength: 1 }),
      fc.option(fc.constantFrom(...PASS_TARGETS), { nil: undefined }),
    )
    .map(([action, peers, ps, notPeers, notPorts, to]) => {
      const r = unless(rule(action, peers, ps), notPeers, notPorts);
      return action === 'Pass' && to !== undefined ? { ...r, passTo: to } : r;
    });
const k8sRuleOf = (actions: readonly Action[]): fc.Arbitrary<Rule> =>
  fc
    .tuple(
      fc.constantFrom(...actions),
      fc.oneof(fc.constant<'any'>('any'), fc.array(peer, { maxLength: 2 })),
      fc.oneof(fc.constant<'any'>('any'), fc.array(portMatch, { maxLength: 2 })),
    )
    .map(([action, peers, ps]) => rule(action, peers, ps));
const directions = fc.subarray<Direction>(['Ingress', 'Egress']);
const ALL_ACTIONS: Action[] = ['Allow', 'Deny', 'Reject', 'Pass', 'Log'];
/** Tiers the random inputs declare: Antrea-like before the Kubernetes stage, Calico-like after it. */
const DECLARED: Tier[] = [
  { name: 'emergency', order: TIER_ORDER.antrea + 50, semantics: 'first-match', dialect: 'antrea' },
  { name: 'after', order: TIER_ORDER.calicoAfter, semantics: 'union', dialect: 'calico' },
];

const policy: fc.Arbitrary<Policy> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('x', 'y'),
      fc.nat(99),
      selector,
      directions,
      fc.array(k8sRuleOf(['Allow', 'Allow', 'Deny', 'Log']), { maxLength: 3 }),
      fc.array(k8sRuleOf(['Allow', 'Allow', 'Deny', 'Log']), { maxLength: 3 }),
    )
    .map(([ns, n, pods, iso, inRules, outRules]) =>
      netpol(`${ns}/np${n}`, selecting(pods), isolating(...iso), ingress(...inRules), egress(...outRules)),
    ),
  fc
    .tuple(
      fc.constantFrom('admin', 'baseline', 'emergency', 'after', 'nowhere'),
      fc.nat(99),
      fc.nat(3),
      selector,
      directions,
      fc.array(ruleOf(ALL_ACTIONS), { maxLength: 3 }),
      fc.array(ruleOf(ALL_ACTIONS), { maxLength: 3 }),
    )
    .map(([tier, n, priority, pods, iso, inRules, outRules]) =>
      tiered(
        tier,
        `${tier}${n}`,
        priority,
        selecting(pods),
        isolating(...iso),
        ingress(...inRules),
        egress(...outRules),
      ),
    ),
  // Calico/Cilium policies in the Kubernetes stage: priorities make groups, every action, negations.
  fc
    .tuple(
      fc.constantFrom<Dialect>('calico', 'cilium'),
      fc.constantFrom('x', 'y'),
      fc.nat(99),
      fc.nat(2),
      selector,
      directions,
      fc.array(ruleOf(ALL_ACTIONS), { maxLength: 3 }),
      fc.array(ruleOf(ALL_ACTIONS), { maxLength: 3 }),
    )
    .map(([dialect, ns, n, priority, pods, iso, inRules, outRules]) =>
      dialectPolicy(
        dialect,
        KUBERNETES_TIER,
        `${ns}/${dialect}${n}`,
        priority,
        selecting(pods),
        isolating(...iso),
        ingress(...inRules),
        egress(...outRules),
      ),
    ),
);

const endpoints: fc.Arbitrary<Endpoint[]> = fc
  .array(
    fc.record({
      ns: fc.constantFrom('x', 'y'),
      app: fc.constantFrom('web', 'db', 'api', undefined),
      node: fc.constantFrom('n1', 'n2'),
      host: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
      ports: fc.subarray([
        { name: 'http', port: 80, protocol: 'TCP' as const },
        { name: 'http', port: 8080, protocol: 'TCP' as const },
        { name: 'dns', port: 53, protocol: 'UDP' as const },
      ]),
    }),
    { minLength: 1, maxLength: 8 },
  )
  .map((specs) =>
    specs.map((s, i) =>
      pod(
        `${s.ns}/p${i}`,
        labels(s.app === undefined ? {} : { app: s.app }),
        nsLabels({ team: s.ns === 'x' ? 'a' : 'b' }),
        onNode(s.node),
        ports(...s.ports),
        ...(s.host
          ? [hostNetwork, ips(s.node === 'n1' ? '192.168.0.1' : '192.168.0.2')]
          : [ips(`10.0.${i % 2}.${i + 1}`)]),
      ),
    ),
  );

const TARGETS: Target[] = [
  { port: 80, protocol: 'TCP' },
  { port: 8080, protocol: 'TCP' },
  { port: 53, protocol: 'UDP' },
];

void describe('computeMatrix agrees with per-pair evaluate', () => {
  void it('on random clusters and policies', () => {
    fc.assert(
      fc.property(
        endpoints,
        fc.array(policy, { maxLength: 6 }),
        fc.constantFrom(...SEMANTICS_PROFILES),
        (eps, policies, semantics) => {
          const model = buildModel(cluster(eps, NODES), policies, DECLARED, { semantics });
          const m = computeMatrix(model, TARGETS);
          const byKey = new Map(eps.map((e) => [endpointKey(e), e]));
          assert.equal(m.results.length, eps.length * eps.length * TARGETS.length);
          for (const cell of m.results) {
            const src = byKey.get(cell.from);
            const dst = byKey.get(cell.to);
            assert.ok(src && dst);
            const want = evaluate(model, flow(src, dst, cell.port, cell.protocol)).allowed;
            assert.equal(cell.allowed, want, `${cell.protocol}/${cell.port} ${cell.from} -> ${cell.to}`);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
