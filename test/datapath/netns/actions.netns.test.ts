/**
 * Every action on real packets (root): in a private pal-dp-* topology, the compiled table of each step is
 * applied and probed, for the nftables datapath and the iptables baseline alike. Reject must refuse a TCP connection at once (RST), Deny must let it time out, an
 * admin Deny must beat a Kubernetes allow, a Pass to the Kubernetes stage must skip the tiers in between,
 * and ICMP type matches with negations must hold for ping.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  applyIptables,
  applyNftables,
  compileIptables,
  compileNftables,
  resolveNodeRules,
  teardownIptables,
  teardownNftables,
} from '../../../src/datapath/index.js';
import type { NodeRules } from '../../../src/datapath/index.js';
import { buildModel } from '../../../src/engine/index.js';
import type { Policy, Rule, Tier } from '../../../src/ir/index.js';
import { KUBERNETES_TIER, SELECT_ALL, TIER_ORDER } from '../../../src/ir/index.js';
import { cluster, netpol, node, pod, podPeer, rule, tcp } from '../support/builders.js';
import {
  NODE_IP,
  connectOutcome,
  createTopology,
  icmpUnavailable,
  netnsUnavailable,
  pings,
  startServers,
} from '../support/netns.js';
import type { Topology } from '../support/netns.js';

const PODS = [
  { name: 'a', ip: '10.77.0.11' },
  { name: 'b', ip: '10.77.0.12' },
  { name: 'c', ip: '10.77.0.13' },
];
const CLUSTER = cluster(
  PODS.map((p) => pod('x', p.name, p.ip)),
  [node('node-1', NODE_IP)],
);
const EMERGENCY: Tier = { name: 'emergency', order: TIER_ORDER.antrea + 50, semantics: 'first-match' };

function onA(
  dialect: 'admin-network-policy' | 'antrea' | 'calico',
  name: string,
  tier: string,
  rules: Rule[],
  isolates: Policy['isolates'] = [],
): Policy {
  return {
    ref: {
      dialect,
      kind: dialect === 'admin-network-policy' ? 'AdminNetworkPolicy' : 'ClusterNetworkPolicy',
      name,
    },
    tier,
    priority: 10,
    subject: {
      namespaces: { kind: 'selector', selector: SELECT_ALL },
      pods: { kind: 'match', requirements: [{ key: 'pod', op: 'In', values: ['a'] }] },
    },
    isolates,
    ingress: rules.map((r, index) => ({ ...r, index })),
    egress: [],
  };
}
const allowBtoA = netpol('allow-b', 'x', 'a', { ingress: [rule([podPeer('b')], 'any')] });

interface Datapath {
  readonly name: string;
  apply(rules: NodeRules, netns: string): Promise<void>;
  teardown(netns: string): Promise<void>;
}

const DATAPATHS: readonly Datapath[] = [
  {
    name: 'nftables',
    apply: async (rules, netns) => void (await applyNftables(compileNftables(rules), { netns })),
    teardown: async (netns) => void (await teardownNftables({ netns })),
  },
  {
    name: 'iptables baseline',
    async apply(rules, netns) {
      const scripts = compileIptables(rules);
      assert.deepEqual(scripts.unsupported, []);
      await applyIptables(scripts, { netns });
    },
    teardown: (netns) => teardownIptables({ netns }),
  },
];

for (const dp of DATAPATHS)
  describe(
    `every action on real packets (${dp.name}, pal-dp-* netns)`,
    { skip: netnsUnavailable() ?? false },
    () => {
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

      const enforce = async (policies: Policy[], tiers: Tier[] = []): Promise<Topology> => {
        assert.ok(topo);
        await dp.apply(resolveNodeRules(buildModel(CLUSTER, policies, tiers), 'node-1'), topo.node);
        return topo;
      };
      const from = (t: Topology, name: string): string => t.pods.get(name)?.netns ?? '';
      const ipOf = (t: Topology, name: string): string => t.pods.get(name)?.ip ?? '';

      it('Reject refuses a TCP connection at once (RST); Deny lets it time out', async () => {
        const t = await enforce([
          onA('admin-network-policy', 'reject-b-deny-c', 'admin', [
            rule([podPeer('b')], [tcp(80)], { action: 'Reject' }),
            rule([podPeer('c')], [tcp(80)], { action: 'Deny' }),
          ]),
        ]);
        const [rejected, denied, open] = await Promise.all([
          connectOutcome(from(t, 'b'), ipOf(t, 'a'), 80),
          connectOutcome(from(t, 'c'), ipOf(t, 'a'), 80),
          connectOutcome(from(t, 'b'), ipOf(t, 'a'), 81),
        ]);
        assert.equal(rejected.outcome, 'refused');
        assert.ok(rejected.ms < 1000, `refused after ${rejected.ms} ms, not at once`);
        assert.equal(denied.outcome, 'timeout');
        assert.ok(denied.ms >= 1400, `gave up after ${denied.ms} ms`);
        assert.equal(open.outcome, 'open');
      });

      it('an admin (ANP) Deny beats a Kubernetes allow', async () => {
        const t = await enforce([
          onA('admin-network-policy', 'no-b-80', 'admin', [
            rule([podPeer('b')], [tcp(80)], { action: 'Deny' }),
          ]),
          allowBtoA,
        ]);
        const got = await Promise.all([
          connectOutcome(from(t, 'b'), ipOf(t, 'a'), 80, 700),
          connectOutcome(from(t, 'b'), ipOf(t, 'a'), 81, 700),
          connectOutcome(from(t, 'c'), ipOf(t, 'a'), 81, 700),
        ]);
        assert.deepEqual(
          got.map((g) => g.outcome),
          ['timeout', 'open', 'timeout'],
          'b>a:80 denied by the ANP, b>a:81 allowed by the NetworkPolicy, c>a:81 isolated',
        );
      });

      it('Pass goes to the Kubernetes stage, skipping the Antrea tier in between', async () => {
        const t = await enforce(
          [
            onA('admin-network-policy', 'pass-b', 'admin', [
              rule([podPeer('b')], 'any', { action: 'Pass', passTo: KUBERNETES_TIER }),
            ]),
            onA('antrea', 'deny-all', 'emergency', [rule('any', [tcp(80), tcp(81)], { action: 'Deny' })]),
            allowBtoA,
          ],
          [EMERGENCY],
        );
        const got = await Promise.all([
          connectOutcome(from(t, 'b'), ipOf(t, 'a'), 80, 700),
          connectOutcome(from(t, 'c'), ipOf(t, 'a'), 80, 700),
        ]);
        assert.deepEqual(
          got.map((g) => g.outcome),
          ['open', 'timeout'],
          'b passes over the Antrea deny to the NetworkPolicy that allows it; c meets the Antrea deny',
        );
      });

      it(
        'ICMP: echo allowed except from c (a negation), in an isolating tier',
        { skip: icmpUnavailable() ?? false },
        async () => {
          assert.ok(topo);
          const open = topo;
          await enforce([]);
          assert.equal(await pings(from(open, 'c'), ipOf(open, 'a')), true, 'echo works with no policy');
          const t = await enforce(
            [
              onA(
                'calico',
                'ping',
                'security',
                [rule('any', [{ kind: 'icmp', family: 4, type: 8 }], { notPeers: [podPeer('c')] })],
                ['Ingress'],
              ),
            ],
            [{ name: 'security', order: TIER_ORDER.calicoBefore + 1, semantics: 'first-match' }],
          );
          const got = await Promise.all([
            pings(from(t, 'b'), ipOf(t, 'a')),
            pings(from(t, 'c'), ipOf(t, 'a')),
          ]);
          assert.deepEqual(got, [true, false]);
        },
      );
    },
  );
