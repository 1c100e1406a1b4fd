/**
 * Random clusters and multi-dialect IR policy sets over a small vocabulary (so selectors, peers and ports
 * collide often), shared by the engine's class-matrix property and the datapath's exactness property:
 * every action, tiers whose defaultAction is Pass (first-match and union), Pass targets naming each of
 * them, negations, ICMP matches with types and codes, priorities and Calico/Cilium policies in the
 * Kubernetes stage.
 */
import fc from 'fast-check';
import type {
  Action,
  Dialect,
  Direction,
  Endpoint,
  Entity,
  Peer,
  PortMatch,
  Policy,
  Rule,
  Selector,
  Tier,
} from '../../src/ir/index.js';
import { KUBERNETES_TIER, SELECT_ALL, TIER_ORDER } from '../../src/ir/index.js';
import {
  cidr,
  dialectPolicy,
  egress,
  entity,
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
  unless,
} from '../engine/builders.js';

export const NODES = [
  node('n1', ['192.168.0.1'], { role: 'worker' }),
  node('n2', ['192.168.0.2'], { role: 'infra' }),
];

/** Tiers the random inputs declare, besides the built-in admin, kubernetes and baseline. */
export const DECLARED: Tier[] = [
  { name: 'emergency', order: TIER_ORDER.antrea + 50, semantics: 'first-match', dialect: 'antrea' },
  {
    name: 'calico-pass',
    order: TIER_ORDER.calicoBefore + 1,
    semantics: 'first-match',
    dialect: 'calico',
    defaultAction: 'Pass',
  },
  { name: 'after', order: TIER_ORDER.calicoAfter, semantics: 'union', dialect: 'calico' },
  { name: 'after-pass', order: TIER_ORDER.calicoAfter + 1, semantics: 'union', defaultAction: 'Pass' },
];

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
  fc.constant<Peer>({ kind: 'fqdn', pattern: '*.example.com', semantics: 'cilium', matchesPods: false }),
);

const icmpMatch: fc.Arbitrary<PortMatch> = fc
  .tuple(
    fc.constantFrom<4 | 6>(4, 6),
    fc.option(fc.constantFrom(0, 8, 128), { nil: undefined }),
    fc.option(fc.constantFrom(0, 1), { nil: undefined }),
  )
  .map(([family, type, code]) => ({
    kind: 'icmp',
    family,
    ...(type === undefined ? {} : { type }),
    ...(type === undefined || code === undefined ? {} : { code }),
  }));

const portMatch: fc.Arbitrary<PortMatch> = fc.oneof(
  fc.constantFrom(80, 8080, 53).map(tcp),
  fc.constantFrom('TCP', 'UDP').map((p) => proto(p)),
  fc.constantFrom('http', 'dns').chain((n) => fc.constantFrom('TCP', 'UDP').map((p) => named(n, p))),
  icmpMatch,
);

/** Tiers a Pass may name: later, earlier, the Kubernetes stage, unknown. */
const PASS_TARGETS = [
  'kubernetes',
  'baseline',
  'admin',
  'emergency',
  'calico-pass',
  'after',
  'after-pass',
  'nowhere',
];

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

export const policy: fc.Arbitrary<Policy> = fc.oneof(
  // Kubernetes NetworkPolicy (and the Deny/Log rules the engine's union stage must still order right).
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
  // ANP/BANP, Antrea and Calico tiers: first-match and union, isolating or not, every action.
  fc
    .tuple(
      fc.constantFrom('admin', 'baseline', 'emergency', 'calico-pass', 'after', 'after-pass', 'nowhere'),
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

const endpointSpecs = fc.array(
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
);

type EndpointSpec = typeof endpointSpecs extends fc.Arbitrary<(infer T)[]> ? T : never;

function toEndpoints(specs: readonly EndpointSpec[]): Endpoint[] {
  return specs.map((s, i) =>
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
  );
}

/** Any mix, several host-network pods per node included: what the engine must answer for. */
export const anyEndpoints: fc.Arbitrary<Endpoint[]> = endpointSpecs.map(toEndpoints);

/**
 * At most one host-network pod per node: two of them share the node's address, so a packet cannot tell
 * which one it is for, while the engine would answer for each (e.g. by its own named ports).
 */
export const endpoints: fc.Arbitrary<Endpoint[]> = endpointSpecs
  .map((specs) =>
    specs.map((s, i) => ({
      ...s,
      host: s.host && specs.findIndex((o) => o.host && o.node === s.node) === i,
    })),
  )
  .map(toEndpoints);
