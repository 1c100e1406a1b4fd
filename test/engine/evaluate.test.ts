import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluate } from '../../src/engine/evaluate.js';
import { buildModel } from '../../src/engine/model.js';
import type { DirectionReason, Endpoint, Flow, Policy } from '../../src/ir/index.js';
import {
  cidr,
  cluster,
  egress,
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
  portRange,
  ports,
  proto,
  rule,
  sel,
  selecting,
  tcp,
  tiered,
  icmp,
  unless,
} from './builders.js';

const A = pod(
  'x/a',
  labels({ app: 'web' }),
  nsLabels({ team: 'a' }),
  ips('10.0.1.1'),
  onNode('n1'),
  ports({ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }),
);
const B = pod(
  'x/b',
  labels({ app: 'db' }),
  nsLabels({ team: 'a' }),
  ips('10.0.1.2'),
  onNode('n2'),
  ports({ name: 'http', port: 8080, protocol: 'TCP' }),
);
const C = pod('y/c', labels({ app: 'web' }), nsLabels({ team: 'b' }), ips('10.0.2.1'), onNode('n1'));
const D = pod(
  'y/d',
  labels({ app: 'api' }),
  nsLabels({ team: 'b' }),
  ips('10.0.2.2', 'fd00::2'),
  onNode('n2'),
);
const H1 = pod(
  'x/h',
  labels({ app: 'agent' }),
  nsLabels({ team: 'a' }),
  hostNetwork,
  onNode('n1'),
  ips('192.168.0.1'),
);
const H2 = pod(
  'y/h2',
  labels({ app: 'agent' }),
  nsLabels({ team: 'b' }),
  hostNetwork,
  onNode('n2'),
  ips('192.168.0.2'),
);
const CLUSTER = cluster(
  [A, B, C, D, H1, H2],
  [node('n1', ['192.168.0.1'], { role: 'worker' }), node('n2', ['192.168.0.2'], { role: 'infra' })],
);

const denyIngressX = netpol('x/deny-in', isolating('Ingress'));
const denyEgressX = netpol('x/deny-out', isolating('Egress'));
const onlyA = selecting(sel({ app: 'web' }));
const allowIn = (name: string, ...peers: Parameters<typeof podsIn>[]) =>
  netpol(
    `x/${name}`,
    isolating('Ingress'),
    ingress(
      rule(
        'Allow',
        peers.map((p) => podsIn(...p)),
      ),
    ),
  );
const egressFromA = (name: string, r: ReturnType<typeof rule>) =>
  netpol(`x/${name}`, onlyA, isolating('Egress'), egress(r));
const ingressToX = (name: string, r: ReturnType<typeof rule>) =>
  netpol(`x/${name}`, isolating('Ingress'), ingress(r));

interface Case {
  name: string;
  policies: Policy[];
  flow: Flow;
  allowed: boolean;
  action?: 'Allow' | 'Deny' | 'Reject';
  egress?: DirectionReason;
  ingress?: DirectionReason;
  /** "policy#rule" of the rule that decided the denying direction (or ingress when allowed). */
  by?: string;
}

const cases: Case[] = [
  {
    name: 'no policy: both directions default allow',
    policies: [],
    flow: flow(C, A),
    allowed: true,
    egress: 'no-policy',
    ingress: 'no-policy',
  },
  {
    name: 'default-deny ingress isolates the destination',
    policies: [denyIngressX],
    flow: flow(C, A),
    allowed: false,
    egress: 'no-policy',
    ingress: 'isolated',
  },
  {
    name: 'namespace selector allows pods of matching namespaces',
    policies: [allowIn('from-b', [sel({ team: 'b' })])],
    flow: flow(C, A),
    allowed: true,
    ingress: 'rule',
    by: 'from-b#0',
  },
  {
    name: 'namespace selector does not match other namespaces',
    policies: [allowIn('from-b', [sel({ team: 'b' })])],
    flow: flow(B, A),
    allowed: false,
    ingress: 'isolated',
  },
  {
    name: 'namespace names scope',
    policies: [allowIn('from-y', [['y']])],
    flow: flow(D, B),
    allowed: true,
    ingress: 'rule',
  },
  {
    name: 'endpoint peer is namespace AND pod selector (pod part fails)',
    policies: [allowIn('web-in-b', [sel({ team: 'b' }), sel({ app: 'web' })])],
    flow: flow(D, A),
    allowed: false,
    ingress: 'isolated',
  },
  {
    name: 'endpoint peer is namespace AND pod selector (both hold)',
    policies: [allowIn('web-in-b', [sel({ team: 'b' }), sel({ app: 'web' })])],
    flow: flow(C, A),
    allowed: true,
  },
  {
    name: 'both sides must allow: egress denial denies despite ingress allow',
    policies: [denyEgressX, allowIn('all', [['x', 'y']])],
    flow: flow(B, A),
    allowed: false,
    egress: 'isolated',
    ingress: 'rule',
  },
  {
    name: 'self traffic is always allowed (loopback)',
    policies: [denyIngressX, denyEgressX],
    flow: flow(A, A),
    allowed: true,
    egress: 'loopback',
    ingress: 'loopback',
  },
  {
    name: 'self traffic through the pod IP is loopback',
    policies: [denyIngressX, denyEgressX],
    flow: flow(A, '10.0.1.1'),
    allowed: true,
    egress: 'loopback',
    ingress: 'loopback',
  },
  {
    name: 'ingress from the destination node IP is node-local',
    policies: [denyIngressX],
    flow: flow('192.168.0.1', A),
    allowed: true,
    egress: 'not-subject',
    ingress: 'node-local',
  },
  {
    name: 'ingress from another node IP is policed',
    policies: [denyIngressX],
    flow: flow('192.168.0.2', A),
    allowed: false,
    egress: 'not-subject',
    ingress: 'isolated',
  },
  {
    name: 'ingress from a host-network pod on the same node is node-local',
    policies: [denyIngressX],
    flow: flow(H1, A),
    allowed: true,
    egress: 'host-network',
    ingress: 'node-local',
  },
  {
    name: 'ingress from a host-network pod on another node is policed',
    policies: [denyIngressX],
    flow: flow(H2, A),
    allowed: false,
    ingress: 'isolated',
  },
  {
    name: 'host-network destination is not subject to ingress policy',
    policies: [denyIngressX],
    flow: flow(C, H1),
    allowed: true,
    ingress: 'host-network',
  },
  {
    name: 'host-network source is not subject to egress policy',
    policies: [denyEgressX],
    flow: flow(H1, C),
    allowed: true,
    egress: 'host-network',
  },
  {
    name: 'pod selectors do not match a host-network peer',
    policies: [allowIn('all-x', [['x']])],
    flow: flow(H1, B),
    allowed: false,
    ingress: 'isolated',
  },
  {
    name: 'an ipBlock containing its node IP matches a host-network peer',
    policies: [ingressToX('nodes-cidr', rule('Allow', [cidr('192.168.0.0/24')]))],
    flow: flow(H1, B),
    allowed: true,
    ingress: 'rule',
  },
  {
    name: 'a bare IP owned by a pod is that pod',
    policies: [allowIn('web-y', [['y'], sel({ app: 'web' })])],
    flow: flow('10.0.2.1', A),
    allowed: true,
    egress: 'no-policy',
    ingress: 'rule',
  },
  {
    name: 'ipBlock matches pod IPs',
    policies: [ingressToX('cidr', rule('Allow', [cidr('10.0.0.0/16', ['10.0.2.0/24'])]))],
    flow: flow(B, A),
    allowed: true,
  },
  {
    name: 'ipBlock except carves a hole',
    policies: [ingressToX('cidr', rule('Allow', [cidr('10.0.0.0/16', ['10.0.2.0/24'])]))],
    flow: flow(C, A),
    allowed: false,
    ingress: 'isolated',
  },
  {
    name: 'ipBlock with matchesPods false does not match pods',
    policies: [ingressToX('cidr', rule('Allow', [cidr('10.0.0.0/16', [], false)]))],
    flow: flow(C, A),
    allowed: false,
  },
  {
    name: 'ipBlock with matchesPods false matches outside addresses',
    policies: [ingressToX('cidr', rule('Allow', [cidr('10.0.0.0/16', [], false)]))],
    flow: flow('10.0.9.9', A),
    allowed: true,
  },
  {
    name: 'ipBlock family must match (IPv6 block, IPv4-only pod)',
    policies: [ingressToX('v6', rule('Allow', [cidr('fd00::/64')]))],
    flow: flow(C, A),
    allowed: false,
  },
  {
    name: 'ipBlock matches any IP of a dual-stack pod',
    policies: [ingressToX('v6', rule('Allow', [cidr('fd00::/64')]))],
    flow: flow(D, A),
    allowed: true,
  },
  {
    name: 'egress to an external IP inside an allowed block',
    policies: [egressFromA('dns', rule('Allow', [cidr('8.8.8.0/24')]))],
    flow: flow(A, '8.8.8.8', 53, 'UDP'),
    allowed: true,
    egress: 'rule',
    ingress: 'not-subject',
  },
  {
    name: 'egress to an external IP outside allowed blocks',
    policies: [egressFromA('dns', rule('Allow', [cidr('8.8.8.0/24')]))],
    flow: flow(A, '1.1.1.1', 53, 'UDP'),
    allowed: false,
    egress: 'isolated',
  },
  {
    name: 'nodes peer matches a selected node IP',
    policies: [egressFromA('infra', rule('Allow', [nodes(sel({ role: 'infra' }))]))],
    flow: flow(A, '192.168.0.2'),
    allowed: true,
  },
  {
    name: 'nodes peer does not match an unselected node IP',
    policies: [egressFromA('infra', rule('Allow', [nodes(sel({ role: 'infra' }))]))],
    flow: flow(A, '192.168.0.1'),
    allowed: false,
  },
  {
    name: 'nodes peer matches a host-network pod on a selected node',
    policies: [egressFromA('infra', rule('Allow', [nodes(sel({ role: 'infra' }))]))],
    flow: flow(A, H2),
    allowed: true,
  },
  {
    name: 'world entity matches outside IPs',
    policies: [egressFromA('w', rule('Allow', [entity('world')]))],
    flow: flow(A, '1.1.1.1'),
    allowed: true,
  },
  {
    name: 'world entity does not match pods',
    policies: [egressFromA('w', rule('Allow', [entity('world')]))],
    flow: flow(A, C),
    allowed: false,
  },
  {
    name: 'world entity does not match nodes',
    policies: [egressFromA('w', rule('Allow', [entity('world')]))],
    flow: flow(A, '192.168.0.2'),
    allowed: false,
  },
  {
    name: 'cluster entity matches pods',
    policies: [egressFromA('c', rule('Allow', [entity('cluster')]))],
    flow: flow(A, C),
    allowed: true,
  },
  {
    name: 'cluster entity matches nodes',
    policies: [egressFromA('c', rule('Allow', [entity('cluster')]))],
    flow: flow(A, '192.168.0.2'),
    allowed: true,
  },
  {
    name: 'cluster entity does not match outside IPs',
    policies: [egressFromA('c', rule('Allow', [entity('cluster')]))],
    flow: flow(A, '1.1.1.1'),
    allowed: false,
  },
  {
    name: 'host entity matches the subject node',
    policies: [egressFromA('h', rule('Allow', [entity('host')]))],
    flow: flow(A, '192.168.0.1'),
    allowed: true,
  },
  {
    name: 'host entity matches a host-network pod on the subject node',
    policies: [egressFromA('h', rule('Allow', [entity('host')]))],
    flow: flow(A, H1),
    allowed: true,
  },
  {
    name: 'host entity does not match another node',
    policies: [egressFromA('h', rule('Allow', [entity('host')]))],
    flow: flow(A, '192.168.0.2'),
    allowed: false,
  },
  {
    name: 'remote-node entity matches another node',
    policies: [egressFromA('r', rule('Allow', [entity('remote-node')]))],
    flow: flow(A, '192.168.0.2'),
    allowed: true,
  },
  {
    name: 'remote-node entity does not match the subject node',
    policies: [egressFromA('r', rule('Allow', [entity('remote-node')]))],
    flow: flow(A, '192.168.0.1'),
    allowed: false,
  },
  {
    name: 'all entity matches anything',
    policies: [egressFromA('all', rule('Allow', [entity('all')]))],
    flow: flow(A, '1.1.1.1'),
    allowed: true,
  },
  {
    name: 'fqdn peers match nothing while no name is learnt',
    policies: [
      egressFromA(
        'fqdn',
        rule('Allow', [{ kind: 'fqdn', pattern: '*', semantics: 'cilium', matchesPods: false }]),
      ),
    ],
    flow: flow(A, '1.1.1.1'),
    allowed: false,
  },
  {
    name: 'port range includes its ends',
    policies: [ingressToX('r', rule('Allow', 'any', [portRange('TCP', 80, 90)]))],
    flow: flow(C, A, 90),
    allowed: true,
  },
  {
    name: 'port range excludes ports past its end',
    policies: [ingressToX('r', rule('Allow', 'any', [portRange('TCP', 80, 90)]))],
    flow: flow(C, A, 91),
    allowed: false,
  },
  {
    name: 'port range needs its protocol',
    policies: [ingressToX('r', rule('Allow', 'any', [portRange('TCP', 80, 90)]))],
    flow: flow(C, A, 85, 'UDP'),
    allowed: false,
  },
  {
    name: 'protocol-only port matches every port of it',
    policies: [ingressToX('u', rule('Allow', 'any', [proto('UDP')]))],
    flow: flow(C, A, 5353, 'UDP'),
    allowed: true,
  },
  {
    name: 'protocol-only port does not match another protocol',
    policies: [ingressToX('u', rule('Allow', 'any', [proto('UDP')]))],
    flow: flow(C, A, 53, 'TCP'),
    allowed: false,
  },
  {
    name: 'SCTP is a protocol of its own',
    policies: [ingressToX('s', rule('Allow', 'any', [proto('SCTP')]))],
    flow: flow(C, A, 80, 'SCTP'),
    allowed: true,
  },
  {
    name: 'empty port list matches nothing',
    policies: [ingressToX('e', rule('Allow', 'any', []))],
    flow: flow(C, A),
    allowed: false,
  },
  {
    name: 'named ingress port resolves on the destination',
    policies: [ingressToX('n', rule('Allow', 'any', [named('http')]))],
    flow: flow(C, A, 80),
    allowed: true,
  },
  {
    name: 'named ingress port: other port number',
    policies: [ingressToX('n', rule('Allow', 'any', [named('http')]))],
    flow: flow(C, A, 8080),
    allowed: false,
  },
  {
    name: 'named ingress port: same name, other pod, other number',
    policies: [ingressToX('n', rule('Allow', 'any', [named('http')]))],
    flow: flow(C, B, 8080),
    allowed: true,
  },
  {
    name: 'named port must match protocol too',
    policies: [ingressToX('n', rule('Allow', 'any', [named('http', 'UDP')]))],
    flow: flow(C, A, 80),
    allowed: false,
  },
  {
    name: 'named egress port resolves on the destination, not the source',
    policies: [egressFromA('n', rule('Allow', 'any', [named('http')]))],
    flow: flow(A, B, 8080),
    allowed: true,
    egress: 'rule',
  },
  {
    name: 'named egress port: the source port number does not count',
    policies: [egressFromA('n', rule('Allow', 'any', [named('http')]))],
    flow: flow(A, B, 80),
    allowed: false,
  },
  {
    name: 'named port never matches a bare IP destination',
    policies: [egressFromA('n', rule('Allow', 'any', [named('http')]))],
    flow: flow(A, '1.1.1.1', 80),
    allowed: false,
  },
  {
    name: 'admin Reject gives action Reject',
    policies: [tiered('admin', 'rej', 1, ingress(rule('Reject')))],
    flow: flow(C, A),
    allowed: false,
    action: 'Reject',
    ingress: 'rule',
    by: 'rej#0',
  },
  {
    name: 'an egress Deny decides the action even when ingress would Reject',
    policies: [tiered('admin', 'both', 1, egress(rule('Deny')), ingress(rule('Reject')))],
    flow: flow(C, A),
    allowed: false,
    action: 'Deny',
    egress: 'rule',
    ingress: 'rule',
    by: 'both#0',
  },
  {
    // The Kubernetes dialect drops rules of directions policyTypes leaves out, so NetworkPolicy never
    // reaches this; Cilium's non-isolating policies (enableDefaultDeny: false) do.
    name: 'a policy with rules in a direction it does not isolate takes part there without isolating',
    policies: [netpol('x/in-only', isolating('Ingress'), ingress(rule('Allow')), egress(rule('Allow', [])))],
    flow: flow(A, C),
    allowed: true,
    egress: 'default',
  },
  {
    name: 'a non-isolating policy in the Kubernetes stage still denies with a matching Deny',
    policies: [netpol('x/no-y', egress(rule('Deny', [podsIn(['y'])])))],
    flow: flow(A, C),
    allowed: false,
    egress: 'rule',
    by: 'no-y#0',
  },
  {
    name: 'notPeers: a CIDR negation excludes the sources it covers',
    policies: [ingressToX('not-y', unless(rule('Allow'), [cidr('10.0.2.0/24')]))],
    flow: flow(C, A),
    allowed: false,
    ingress: 'isolated',
  },
  {
    name: 'notPeers: sources outside every negation still match',
    policies: [ingressToX('not-y', unless(rule('Allow'), [cidr('10.0.2.0/24')]))],
    flow: flow(B, A),
    allowed: true,
    by: 'not-y#0',
  },
  {
    name: 'notPeers: a selector negation excludes the pods it selects',
    policies: [
      ingressToX('not-api', unless(rule('Allow', [podsIn(['y'])]), [podsIn(['y'], sel({ app: 'api' }))])),
    ],
    flow: flow(D, A),
    allowed: false,
    ingress: 'isolated',
  },
  {
    name: 'notPeers: the positive peers must still match',
    policies: [
      ingressToX('not-api', unless(rule('Allow', [podsIn(['y'])]), [podsIn(['y'], sel({ app: 'api' }))])),
    ],
    flow: flow(C, A),
    allowed: true,
    by: 'not-api#0',
  },
  {
    name: 'notPorts: a port negation excludes that port',
    policies: [ingressToX('not-80', unless(rule('Allow'), [], [tcp(80)]))],
    flow: flow(C, A, 80),
    allowed: false,
    ingress: 'isolated',
  },
  {
    name: 'notPorts: other ports still match',
    policies: [ingressToX('not-80', unless(rule('Allow'), [], [tcp(80)]))],
    flow: flow(C, A, 8080),
    allowed: true,
  },
  {
    name: 'notPorts: a named negation resolves against the destination',
    policies: [ingressToX('not-http', unless(rule('Allow'), [], [named('http')]))],
    flow: flow(C, A, 80),
    allowed: false,
    ingress: 'isolated',
  },
  {
    name: 'notPorts: a protocol negation (Calico notProtocol) excludes the whole protocol',
    policies: [ingressToX('not-udp', unless(rule('Allow'), [], [proto('UDP')]))],
    flow: flow(C, A, 53, 'UDP'),
    allowed: false,
    ingress: 'isolated',
  },
  {
    name: 'a Deny with a negation denies everyone but the excluded peers (first-match tier)',
    policies: [tiered('admin', 'only-x', 1, ingress(unless(rule('Deny'), [podsIn(['x'])])))],
    flow: flow(B, A),
    allowed: true,
    ingress: 'default',
  },
  {
    name: 'a Deny with a negation denies peers outside it',
    policies: [tiered('admin', 'only-x', 1, ingress(unless(rule('Deny'), [podsIn(['x'])])))],
    flow: flow(C, A),
    allowed: false,
    by: 'only-x#0',
  },
  {
    name: 'an ICMP port match never matches a TCP flow',
    policies: [ingressToX('ping', rule('Allow', 'any', [icmp(4)]))],
    flow: flow(C, A),
    allowed: false,
    ingress: 'isolated',
  },
  {
    name: 'an ICMP negation never excludes a TCP flow',
    policies: [ingressToX('no-ping', unless(rule('Allow'), [], [icmp(4), icmp(6)]))],
    flow: flow(C, A),
    allowed: true,
  },
  {
    name: 'a bare destination IP owned by a node is not subject to ingress',
    policies: [denyIngressX],
    flow: flow(A, '192.168.0.1'),
    allowed: true,
    ingress: 'not-subject',
  },
];

void describe('evaluate', () => {
  for (const c of cases) {
    void it(c.name, () => {
      const v = evaluate(buildModel(CLUSTER, c.policies), c.flow);
      assert.equal(v.allowed, c.allowed, 'allowed');
      assert.equal(v.action, c.action ?? (c.allowed ? 'Allow' : 'Deny'), 'action');
      if (c.egress) assert.equal(v.egress.reason, c.egress, 'egress reason');
      if (c.ingress) assert.equal(v.ingress.reason, c.ingress, 'ingress reason');
      if (c.by) {
        const decider = !v.egress.allowed ? v.egress : v.ingress;
        assert.equal(`${decider.decidedBy?.policy.name}#${decider.decidedBy?.rule}`, c.by, 'decided by');
      }
      assert.equal(v.allowed, v.egress.allowed && v.ingress.allowed, 'verdict is the AND of directions');
    });
  }

  void it('selectedBy lists every selecting policy in evaluation order', () => {
    const model = buildModel(CLUSTER, [
      netpol('x/z', isolating('Ingress')),
      netpol('x/m', isolating('Ingress')),
      netpol('x/egress-only', isolating('Egress')),
      netpol('x/other', isolating('Ingress'), selecting(sel({ app: 'db' }))),
      tiered('baseline', 'base', 0, ingress(rule('Allow'))),
      tiered('admin', 'adm', 5, ingress(rule('Log'))),
    ]);
    const v = evaluate(model, flow(C, A));
    assert.deepEqual(
      v.ingress.selectedBy.map((r) => r.name),
      ['adm', 'm', 'z', 'base'],
    );
    assert.deepEqual(
      v.ingress.trail.map((r) => `${r.policy.name}:${r.action}`),
      ['adm:Log'],
    );
    assert.equal(v.ingress.reason, 'isolated');
  });

  void it('union allow names the first matching rule in policy order', () => {
    const model = buildModel(CLUSTER, [
      netpol('x/b-policy', isolating('Ingress'), ingress(rule('Allow'))),
      netpol('x/a-policy', isolating('Ingress'), ingress(rule('Allow', [cidr('1.0.0.0/8')]), rule('Allow'))),
    ]);
    const by = evaluate(model, flow(C, A)).ingress.decidedBy;
    assert.deepEqual(
      [by?.policy.name, by?.rule, by?.tier, by?.direction],
      ['a-policy', 1, 'kubernetes', 'Ingress'],
    );
  });

  void it('selectedBy is empty for a host-network subject', () => {
    const e: Endpoint = H1;
    const v = evaluate(buildModel(CLUSTER, [denyIngressX]), flow(C, e));
    assert.deepEqual(v.ingress.selectedBy, []);
  });
});
