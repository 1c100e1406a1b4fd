/**
 * Measurement, not a unit test: 10k ipBlock /32 peers in one NetworkPolicy, compiled and applied into a
 * fresh netns, then single-policy changes. Opt-in (PAL_DP_SCALE=1) because it takes seconds; prints its
 * numbers as test diagnostics.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import {
  applyIptables,
  applyNftables,
  changesetSummary,
  compileIptables,
  compileNftables,
  createNftApplier,
  createNftCompiler,
  resolveNodeRules,
  teardownIptables,
} from '../../../src/datapath/index.js';
import type { NftTable } from '../../../src/datapath/index.js';
import { runChecked } from '../../../src/util/process.js';
import { buildModel } from '../../../src/engine/index.js';
import { formatIp } from '../../../src/ir/index.js';
import type { Policy } from '../../../src/ir/index.js';
import { cidrPeer, cluster, netpol, pod, podPeer, rule, tcp } from '../support/builders.js';
import { createTopology, netnsUnavailable } from '../support/netns.js';

const N = Number(process.env['PAL_DP_SCALE_N'] ?? 10_000);
const skip =
  netnsUnavailable() ?? (process.env['PAL_DP_SCALE'] === '1' ? false : 'set PAL_DP_SCALE=1 to measure');

/** N distinct, non-adjacent /32s (every other address of 172.16.0.0/12), so no two merge into a range. */
function peers(n: number, offset = 0): ReturnType<typeof cidrPeer>[] {
  return Array.from({ length: n }, (_, i) =>
    cidrPeer(`${formatIp({ family: 4, value: 0xac100000n + BigInt(2 * (i + offset)) })}/32`),
  );
}

const eps = [pod('x', 'a', '10.77.0.11'), pod('x', 'b', '10.77.0.12'), pod('x', 'c', '10.77.0.13')];
const big = netpol('big', 'x', 'a', { ingress: [rule(peers(N), [tcp(80)])] });

async function timed<T>(f: () => T | Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await f();
  return [v, Math.round(performance.now() - t0)];
}

describe(`datapath at scale: ${N} ipBlock peers`, { skip }, () => {
  it('nftables: compile, first apply, no-op re-apply, one-policy changes', async (t) => {
    const topo = await createTopology([]);
    const target = { netns: topo.node };
    try {
      const compile = (ps: Policy[]): NftTable =>
        compileNftables(resolveNodeRules(buildModel(cluster(eps), ps), 'node-1'));
      const [table, compileMs] = await timed(() => compile([big]));
      const [first, applyMs] = await timed(() => applyNftables(table, target));
      t.diagnostic(
        `compile ${compileMs} ms; first apply ${applyMs} ms (script ${first.script.length} bytes)`,
      );
      const [again, noopMs] = await timed(() => applyNftables(table, target));
      assert.equal(again.changed, false);
      t.diagnostic(`re-apply (read + diff, nothing sent) ${noopMs} ms`);

      const changes: [string, Policy[]][] = [
        [
          'new small policy on another pod',
          [big, netpol('small', 'x', 'b', { ingress: [rule([podPeer('a')], [tcp(81)])] })],
        ],
        [
          'one peer of the big policy replaced',
          [
            netpol('big', 'x', 'a', { ingress: [rule([...peers(N - 1), ...peers(1, N + 5)], [tcp(80)])] }),
            netpol('small', 'x', 'b', { ingress: [rule([podPeer('a')], [tcp(81)])] }),
          ],
        ],
        [
          "second policy selecting the big policy's pod (its merged set is renamed: full rewrite)",
          [
            netpol('big', 'x', 'a', { ingress: [rule([...peers(N - 1), ...peers(1, N + 5)], [tcp(80)])] }),
            netpol('small', 'x', 'b', { ingress: [rule([podPeer('a')], [tcp(81)])] }),
            netpol('extra', 'x', 'a', { ingress: [rule([podPeer('c')], [tcp(82)])] }),
          ],
        ],
      ];
      for (const [name, ps] of changes) {
        const [desired, cMs] = await timed(() => compile(ps));
        const [r, aMs] = await timed(() => applyNftables(desired, target));
        t.diagnostic(
          `${name}: compile ${cMs} ms, apply ${aMs} ms, ${JSON.stringify(changesetSummary(r.changeset))}`,
        );
      }

      // The same changes through the memoized route: incremental compile, diff against the last apply.
      const compiler = createNftCompiler();
      const applier = createNftApplier(target);
      const cachedRun = async (ps: Policy[]): Promise<string> => {
        const [model, mMs] = await timed(() => buildModel(cluster(eps), ps));
        const [rules, rMs] = await timed(() => resolveNodeRules(model, 'node-1'));
        const [desired, cMs] = await timed(() => compiler.compile(rules));
        const [r, aMs] = await timed(() => applier.apply(desired));
        assert.deepEqual(desired, compileNftables(rules));
        return `model ${mMs} + resolve ${rMs} + compile ${cMs} + apply ${aMs} (${r.source}) = ${mMs + rMs + cMs + aMs} ms`;
      };
      t.diagnostic(`cached route, first: ${await cachedRun([big])}`);
      for (const [name, ps] of [['back to the big policy alone', [big]] as [string, Policy[]], ...changes]) {
        t.diagnostic(`cached route, ${name}: ${await cachedRun(ps)}`);
      }
      const edited = (port: number): Policy[] => [
        big,
        netpol('small', 'x', 'b', { ingress: [rule([podPeer('a')], [tcp(port)])] }),
      ];
      await cachedRun(edited(90));
      for (const port of [91, 92, 93])
        t.diagnostic(`cached route, small policy's port edited: ${await cachedRun(edited(port))}`);
    } finally {
      await topo.destroy();
    }
  });

  it('iptables baseline: compile and restore, every peer in the kernel, none after teardown', async (t) => {
    const topo = await createTopology([]);
    // What the kernel holds, as `iptables-save` prints it: the measured restore really loaded the rules.
    const saved = async (): Promise<string> =>
      (await runChecked(['iptables-save', '-t', 'filter'], { netns: topo.node })).stdout;
    try {
      const [scripts, compileMs] = await timed(() =>
        compileIptables(resolveNodeRules(buildModel(cluster(eps), [big]), 'node-1')),
      );
      assert.deepEqual(scripts.unsupported, []);
      const [, applyMs] = await timed(() => applyIptables(scripts, { netns: topo.node }));
      t.diagnostic(
        `compile ${compileMs} ms; iptables-restore ${applyMs} ms (${scripts.v4.split('\n').length} lines)`,
      );
      // One rule per ipBlock peer (the baseline's point: a list walked rule by rule), each on port 80.
      const wanted = new Set(peers(N).flatMap((p) => (p.kind === 'cidr' ? [p.cidr] : [])));
      const loaded = (await saved())
        .split('\n')
        .map((line) => / -s (\S+) .*--dport 80 /.exec(line)?.[1])
        .filter((cidr) => cidr !== undefined && wanted.has(cidr));
      assert.equal(new Set(loaded).size, N, 'every peer has its rule in the kernel');
      await teardownIptables({ netns: topo.node });
      assert.doesNotMatch(await saved(), /PAL-/, 'teardown leaves no Palisade chain');
    } finally {
      await topo.destroy();
    }
  });
});
