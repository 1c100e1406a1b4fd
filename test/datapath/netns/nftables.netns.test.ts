import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyNftables,
  compileNftables,
  planNftables,
  readNftTable,
  resolveNodeRules,
  teardownNftables,
} from '../../../src/datapath/index.js';
import { buildModel } from '../../../src/engine/index.js';
import { cluster, netpol, pod, podPeer, rule, tcp } from '../support/builders.js';
import { createTopology, netnsUnavailable } from '../support/netns.js';

describe('nftables applier against a real kernel', { skip: netnsUnavailable() ?? false }, () => {
  it('creates the table, reads it back as unchanged, touches only what a policy change affects, tears down', async () => {
    const topo = await createTopology([]);
    const target = { netns: topo.node };
    try {
      const eps = [pod('x', 'a', '10.77.0.11'), pod('x', 'b', '10.77.0.12')];
      const compile = (ps: Parameters<typeof buildModel>[1]) =>
        compileNftables(resolveNodeRules(buildModel(cluster(eps), ps), 'node-1'));
      const one = compile([netpol('p', 'x', 'a', { ingress: [rule([podPeer('b')], [tcp(80)])] })]);
      assert.equal(await readNftTable(target), undefined);
      assert.equal((await applyNftables(one, target)).changeset.createTable, true);
      assert.equal((await planNftables(one, target)).changed, false);

      const two = compile([
        netpol('p', 'x', 'a', { ingress: [rule([podPeer('b')], [tcp(80)])] }),
        netpol('q', 'x', 'b', { ingress: [rule([podPeer('a')], [tcp(81)])] }),
      ]);
      const { changeset } = await applyNftables(two, target);
      assert.deepEqual(
        [
          changeset.addChains.length,
          changeset.replaceChains.length,
          changeset.addSets.length,
          changeset.setElements.length,
        ],
        [1, 0, 1, 0],
      );
      assert.equal((await planNftables(two, target)).changed, false);
      assert.equal(await teardownNftables(target), true);
      assert.equal(await teardownNftables(target), false);
    } finally {
      await topo.destroy();
    }
  });
});
