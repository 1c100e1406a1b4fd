/**
 * The datapath conformance suite (STYLE.md 12): the same policy steps, checked with real TCP connections,
 * for every datapath. Pods a, b, c sit on one node netns, so each connection crosses the source's egress
 * and the destination's ingress in the same forward pass.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { resolveNodeRules } from '../../../src/datapath/index.js';
import type { NodeRules } from '../../../src/datapath/index.js';
import { buildModel } from '../../../src/engine/index.js';
import type { Policy } from '../../../src/ir/index.js';
import { cluster, netpol, node, pod, podPeer, rule, tcp } from './builders.js';
import { NODE_IP, canConnect, createTopology, netnsUnavailable, startServers } from './netns.js';
import type { Topology } from './netns.js';

export interface Datapath {
  readonly name: string;
  /** Brings the node netns to the rules; returns whether anything was sent to the kernel, if it knows. */
  apply(rules: NodeRules, netns: string): Promise<{ changed?: boolean }>;
  teardown(netns: string): Promise<void>;
}

const PODS = [
  { name: 'a', ip: '10.77.0.11' },
  { name: 'b', ip: '10.77.0.12' },
  { name: 'c', ip: '10.77.0.13' },
];
const ENDPOINTS = PODS.map((p) => pod('x', p.name, p.ip));
const CLUSTER = cluster(ENDPOINTS, [node('node-1', NODE_IP)]);

const denyB = netpol('deny-b', 'x', 'b', {});
const allowAtoB80 = netpol('a-to-b', 'x', 'b', { ingress: [rule([podPeer('a')], [tcp(80)])] });
const egressA81 = netpol('a-out', 'x', 'a', {
  isolates: ['Egress'],
  egress: [rule('any', [{ kind: 'named', protocol: 'TCP', name: 'serve-81-tcp' }])],
});

/** "a>b:80" means a connects to b on port 80; "node>b:80" connects from the node netns. */
interface Step {
  readonly name: string;
  readonly policies: readonly Policy[];
  readonly open: readonly string[];
  readonly closed: readonly string[];
  /** Re-applying the previous step's state: the datapath must send nothing. */
  readonly noop?: boolean;
}

const STEPS: readonly Step[] = [
  { name: 'no policy: everything open', policies: [], open: ['a>b:80', 'c>b:81', 'b>a:80'], closed: [] },
  {
    name: 'deny-all ingress for b drops it, other directions and the node stay open',
    policies: [denyB],
    open: ['b>a:80', 'a>c:80', 'node>b:80'],
    closed: ['a>b:80', 'c>b:80', 'a>b:81'],
  },
  {
    name: 'an allow from a on 80 re-opens exactly that',
    policies: [denyB, allowAtoB80],
    open: ['a>b:80', 'node>b:81'],
    closed: ['a>b:81', 'c>b:80'],
  },
  {
    name: 're-applying the same policies changes nothing',
    policies: [denyB, allowAtoB80],
    open: ['a>b:80'],
    closed: ['c>b:80'],
    noop: true,
  },
  {
    name: 'egress of a to the named port serve-81-tcp only; both sides must allow',
    policies: [denyB, allowAtoB80, egressA81],
    open: ['a>c:81', 'c>a:80'],
    closed: ['a>c:80', 'a>b:80', 'a>b:81'],
  },
  { name: 'removing the policies re-opens', policies: [], open: ['a>b:80', 'a>c:80', 'c>b:81'], closed: [] },
];

export function conformance(dp: Datapath): void {
  const skip = netnsUnavailable();
  describe(`datapath conformance: ${dp.name} (real TCP in pal-dp-* netns)`, { skip: skip ?? false }, () => {
    let topo: Topology | undefined;
    before(async () => {
      topo = await createTopology(PODS);
      await startServers(topo, [80, 81]);
    });
    after(async () => {
      if (!topo) return;
      try {
        await dp.teardown(topo.node);
      } finally {
        await topo.destroy();
      }
    });

    const probe = async (t: Topology, spec: string): Promise<boolean> => {
      const [from = '', rest = ''] = spec.split('>');
      const [to = '', port = ''] = rest.split(':');
      const src = from === 'node' ? t.node : t.pods.get(from)?.netns;
      const dst = t.pods.get(to)?.ip;
      assert.ok(src && dst, spec);
      return canConnect(src, dst, Number(port));
    };

    for (const step of STEPS) {
      it(step.name, async () => {
        assert.ok(topo);
        const t = topo;
        const result = await dp.apply(resolveNodeRules(buildModel(CLUSTER, step.policies), 'node-1'), t.node);
        if (step.noop && result.changed !== undefined) assert.equal(result.changed, false, 'nothing sent');
        const specs = [...step.open, ...step.closed];
        const got = await Promise.all(specs.map((s) => probe(t, s)));
        const wrong = specs.filter((s, i) => got[i] !== step.open.includes(s));
        assert.deepEqual(
          wrong.map((s) => `${s} should be ${step.open.includes(s) ? 'open' : 'closed'}`),
          [],
        );
      });
    }
  });
}
