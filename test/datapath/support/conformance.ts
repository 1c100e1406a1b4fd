/**
 * The datapath conformance suite (STYLE.md 12): the same policy steps, checked with real TCP connections,
 * for every registered backend (conformance.netns.test.ts runs it once per entry of the registry). Pods a,
 * b, c sit on one node netns, so each connection crosses the source's egress and the destination's
 * ingress in the same forward pass. A step names the capabilities it needs; a backend lacking one skips
 * it by that name (test/support/backends.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { resolveNodeRules } from '../../../src/datapath/index.js';
import type { ApplyResult, Capability, DatapathBackend, NodeDatapath } from '../../../src/datapath/index.js';
import { buildModel } from '../../../src/engine/index.js';
import type { Policy } from '../../../src/ir/index.js';
import { backendUnavailable, compileAndApply, skipUnless } from '../../support/backends.js';
import { cluster, netpol, node, pod, podPeer, rule, tcp } from './builders.js';
import { NODE_IP, canConnect, createTopology, netnsUnavailable, startServers } from './netns.js';
import type { Topology } from './netns.js';

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
  /** What the step's verdicts rely on (replies crossing an isolated side need connection tracking). */
  readonly needs?: readonly Capability[];
  /** Re-applying the previous step's state: a backend with incrementalApply must write nothing. */
  readonly noop?: boolean;
}

const STEPS: readonly Step[] = [
  { name: 'no policy: everything open', policies: [], open: ['a>b:80', 'c>b:81', 'b>a:80'], closed: [] },
  {
    name: 'deny-all ingress for b drops it, other directions and the node stay open',
    policies: [denyB],
    needs: ['statefulReplies'],
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
    needs: ['statefulReplies'],
    open: ['a>c:81', 'c>a:80'],
    closed: ['a>c:80', 'a>b:80', 'a>b:81'],
  },
  { name: 'removing the policies re-opens', policies: [], open: ['a>b:80', 'a>c:80', 'c>b:81'], closed: [] },
];

export function conformance(backend: DatapathBackend): void {
  const skip = netnsUnavailable() ?? backendUnavailable(backend);
  describe(`datapath conformance: ${backend.name} (real TCP in pal-dp-* netns)`, { skip }, () => {
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

    const probe = async (t: Topology, spec: string): Promise<boolean> => {
      const [from = '', rest = ''] = spec.split('>');
      const [to = '', port = ''] = rest.split(':');
      const src = from === 'node' ? t.node : t.pods.get(from)?.netns;
      const dst = t.pods.get(to)?.ip;
      assert.ok(src && dst, spec);
      return canConnect(src, dst, Number(port));
    };

    for (const step of STEPS) {
      let result: ApplyResult | undefined;
      it(step.name, { skip: skipUnless(backend, step.needs ?? []) }, async (tc) => {
        assert.ok(topo && dp);
        const t = topo;
        const rules = resolveNodeRules(buildModel(CLUSTER, step.policies), 'node-1');
        result = await compileAndApply(tc, dp, rules);
        if (result === undefined) return;
        const specs = [...step.open, ...step.closed];
        const got = await Promise.all(specs.map((s) => probe(t, s)));
        const wrong = specs.filter((s, i) => got[i] !== step.open.includes(s));
        assert.deepEqual(
          wrong.map((s) => `${s} should be ${step.open.includes(s) ? 'open' : 'closed'}`),
          [],
        );
      });
      if (step.noop) {
        it(
          `${step.name}: nothing written to the kernel`,
          { skip: skipUnless(backend, ['incrementalApply']) },
          () => {
            assert.ok(result, 'the step applied');
            assert.equal(result.changed, false, 'nothing sent');
          },
        );
      }
    }

    it('reads back what it applied, and nothing once torn down', async () => {
      assert.ok(topo && dp);
      const rules = resolveNodeRules(buildModel(CLUSTER, [denyB, allowAtoB80, egressA81]), 'node-1');
      const compiled = dp.compile(rules);
      await dp.apply(compiled.desired);
      const kernel = await dp.readBack();
      assert.ok(kernel, 'the kernel holds the datapath');
      assert.deepEqual(kernel.size, compiled.size, 'what the kernel holds is what was compiled');
      assert.deepEqual(kernel.unreadable, []);
      assert.equal(await dp.teardown(), true);
      assert.equal(await dp.readBack(), undefined, 'nothing left after teardown');
      // Torn down under the datapath's feet is no surprise to it: the next apply restores everything.
      await dp.apply(dp.compile(rules).desired);
      assert.deepEqual((await dp.readBack())?.size, compiled.size);
    });
  });
}
