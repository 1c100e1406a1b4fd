/**
 * Every action on real packets (root): in a private pal-dp-* topology, the compiled state of each step is
 * applied and probed, once per registered backend. Reject must refuse a TCP connection at once (RST), Deny
 * must let it time out, an admin Deny must beat a Kubernetes allow, a Pass to the Kubernetes stage must
 * skip the tiers in between, and ICMP type matches with negations must hold for ping. Each case names the
 * capabilities it needs; a backend lacking one skips it by that name.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { allBackends, resolveNodeRules } from '../../../src/datapath/index.js';
import type { NodeDatapath } from '../../../src/datapath/index.js';
import { buildModel } from '../../../src/engine/index.js';
import type { Policy, Rule, Tier } from '../../../src/ir/index.js';
import { backendUnavailable, compileAndApply, skipUnless } from '../../support/backends.js';
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

for (const backend of allBackends())
  describe(
    `every action on real packets (${backend.name}, pal-dp-* netns)`,
    { skip: netnsUnavailable() ?? backendUnavailable(backend) },
    () => {
      let topo: Topology | undefined;
      let dp: NodeDatapath | undefined;
      before(async () => {
        topo = await createTopology(PODS);
        dp = backend.create({ netns: topo.node });
        await startServers(topo, [80, 81]);
      });
      after(async () => {
        if (!topo) return;
        try {
          await dp?.teardown();
        } finally {
          await topo.destroy();
        }
      });

      /** Undefined when the backend left part of the rules out (the test is then skipped, by capability). */
      const enforce = async (
        t: TestContext,
        policies: Policy[],
        tiers: Tier[] = [],
      ): Promise<Topology | undefined> => {
        assert.ok(topo && dp);
        const rules = resolveNodeRules(buildModel(CLUSTER, policies, tiers), 'node-1');
        return (await compileAndApply(t, dp, rules)) === undefined ? undefined : topo;
      };
      const from = (t: Topology, name: string): string => t.pods.get(name)?.netns ?? '';
      const ipOf = (t: Topology, name: string): string => t.pods.get(name)?.ip ?? '';

      it(
        'Reject refuses a TCP connection at once (RST); Deny lets it time out',
        { skip: skipUnless(backend, ['reject', 'tiers']) },
        async (tc) => {
          const t = await enforce(tc, [
            onA('admin-network-policy', 'reject-b-deny-c', 'admin', [
              rule([podPeer('b')], [tcp(80)], { action: 'Reject' }),
              rule([podPeer('c')], [tcp(80)], { action: 'Deny' }),
            ]),
          ]);
          if (!t) return;
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
        },
      );

      it(
        'an admin (ANP) Deny beats a Kubernetes allow',
        { skip: skipUnless(backend, ['tiers']) },
        async (tc) => {
          const t = await enforce(tc, [
            onA('admin-network-policy', 'no-b-80', 'admin', [
              rule([podPeer('b')], [tcp(80)], { action: 'Deny' }),
            ]),
            allowBtoA,
          ]);
          if (!t) return;
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
        },
      );

      it(
        'Pass goes to the Kubernetes stage, skipping the Antrea tier in between',
        { skip: skipUnless(backend, ['tiers']) },
        async (tc) => {
          const t = await enforce(
            tc,
            [
              onA('admin-network-policy', 'pass-b', 'admin', [
                rule([podPeer('b')], 'any', { action: 'Pass', passTo: KUBERNETES_TIER }),
              ]),
              onA('antrea', 'deny-all', 'emergency', [rule('any', [tcp(80), tcp(81)], { action: 'Deny' })]),
              allowBtoA,
            ],
            [EMERGENCY],
          );
          if (!t) return;
          const got = await Promise.all([
            connectOutcome(from(t, 'b'), ipOf(t, 'a'), 80, 700),
            connectOutcome(from(t, 'c'), ipOf(t, 'a'), 80, 700),
          ]);
          assert.deepEqual(
            got.map((g) => g.outcome),
            ['open', 'timeout'],
            'b passes over the Antrea deny to the NetworkPolicy that allows it; c meets the Antrea deny',
          );
        },
      );

      it(
        'ICMP: echo allowed except from c (a negation), in an isolating tier',
        { skip: icmpUnavailable() ?? skipUnless(backend, ['tiers']) },
        async (tc) => {
          assert.ok(topo);
          const open = topo;
          if (!(await enforce(tc, []))) return;
          assert.equal(await pings(from(open, 'c'), ipOf(open, 'a')), true, 'echo works with no policy');
          const t = await enforce(
            tc,
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
          if (!t) return;
          const got = await Promise.all([
            pings(from(t, 'b'), ipOf(t, 'a')),
            pings(from(t, 'c'), ipOf(t, 'a')),
          ]);
          assert.deepEqual(got, [true, false]);
        },
      );
    },
  );
