/**
 * The caching applier against a real kernel: diffing against its memory of the last apply leaves the
 * kernel exactly where a fresh read-back-and-diff would (two netns, one per route, compared after every
 * edit of a random sequence); a refused transaction invalidates the memory; a table changed behind its
 * back is repaired. Every netns is `pal-dp-…` and removed in `finally`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  applyNftables,
  compileNftables,
  createNftApplier,
  createNftCompiler,
  readNftTable,
  resolveNodeRules,
  teardownNftables,
} from '../../../src/datapath/index.js';
import type { NftTable } from '../../../src/datapath/index.js';
import { runChecked } from '../../../src/util/process.js';
import { buildModel } from '../../../src/engine/index.js';
import { cluster as engineCluster } from '../../engine/builders.js';
import { DECLARED, NODES, endpoints, policy } from '../../support/arbitrary-ir.js';
import { cluster, netpol, pod, podPeer, rule, tcp } from '../support/builders.js';
import { applyEdit, edit } from '../support/edits.js';
import type { State } from '../support/edits.js';
import { createTopology, netnsUnavailable } from '../support/netns.js';

const RUNS = Number(process.env['PAL_DP_APPLIER_RUNS'] ?? 12);

const eps = [pod('x', 'a', '10.77.0.11'), pod('x', 'b', '10.77.0.12')];
const small = (port: number): NftTable =>
  compileNftables(
    resolveNodeRules(
      buildModel(cluster(eps), [netpol('p', 'x', 'a', { ingress: [rule([podPeer('b')], [tcp(port)])] })]),
      'node-1',
    ),
  );

describe('caching nftables applier', { skip: netnsUnavailable() ?? false }, () => {
  it('leaves the kernel where a fresh read-back apply does, across random policy edits', async () => {
    const cached = await createTopology([]);
    const fresh = await createTopology([]);
    try {
      await fc.assert(
        fc.asyncProperty(
          endpoints,
          fc.array(policy, { maxLength: 3 }),
          fc.array(edit, { minLength: 1, maxLength: 5 }),
          async (eps0, policies, edits) => {
            await teardownNftables({ netns: cached.node });
            await teardownNftables({ netns: fresh.node });
            const applier = createNftApplier({ netns: cached.node });
            const compiler = createNftCompiler();
            let state: State = { endpoints: eps0, policies };
            for (const [i, e] of [undefined, ...edits].entries()) {
              if (e) state = applyEdit(state, e);
              const model = buildModel(engineCluster(state.endpoints, NODES), state.policies, DECLARED);
              const rules = resolveNodeRules(model, 'n1');
              const viaCache = await applier.apply(compiler.compile(rules));
              assert.equal(viaCache.source, i === 0 ? 'kernel' : 'cache');
              await applyNftables(compileNftables(rules), { netns: fresh.node });
              assert.deepEqual(
                await readNftTable({ netns: cached.node }),
                await readNftTable({ netns: fresh.node }),
              );
            }
          },
        ),
        { numRuns: RUNS },
      );
    } finally {
      await cached.destroy();
      await fresh.destroy();
    }
  });

  it('a refused transaction invalidates the memory: the next apply reads the kernel', async () => {
    const topo = await createTopology([]);
    const target = { netns: topo.node };
    try {
      const applier = createNftApplier(target);
      assert.equal((await applier.apply(small(80))).source, 'kernel');
      const good = await readNftTable(target);
      // An element nft cannot parse: the whole transaction is refused, the kernel keeps the old table.
      const bad = small(81);
      const broken: NftTable = {
        ...bad,
        sets: bad.sets.map((s, i) => (i === 0 ? { ...s, elements: ['not-an-address . 6 . 81'] } : s)),
      };
      await assert.rejects(applier.apply(broken));
      assert.deepEqual(await readNftTable(target), good);
      const next = await applier.apply(small(81));
      assert.equal(next.source, 'kernel');
      assert.equal((await applier.apply(small(81))).source, 'cache');
      assert.equal((await applier.apply(small(81), { verify: true })).source, 'kernel');
    } finally {
      await topo.destroy();
    }
  });

  it('repairs a table changed behind its back: on verify, and when a cached diff is refused', async () => {
    const topo = await createTopology([]);
    const target = { netns: topo.node };
    try {
      const applier = createNftApplier(target);
      await applier.apply(small(80));
      const want = await readNftTable(target);
      // A hand edit the memory does not know of: the cached diff sends nothing, verify repairs it.
      await runChecked(['nft', 'flush', 'chain', 'inet', 'palisade', 'forward'], target);
      assert.equal((await applier.apply(small(80))).changed, false);
      const repaired = await applier.apply(small(80), { verify: true });
      assert.equal(repaired.changed, true);
      assert.deepEqual(await readNftTable(target), want);
      // The table deleted: the cached diff (elements into a missing set) is refused, the retry reads back.
      await teardownNftables(target);
      const r = await applier.apply(small(81));
      assert.equal(r.source, 'kernel');
      assert.equal(r.changeset.createTable, true);
      assert.deepEqual(
        await readNftTable(target),
        await (async () => {
          await applier.apply(small(81), { verify: true });
          return readNftTable(target);
        })(),
      );
    } finally {
      await topo.destroy();
    }
  });
});
