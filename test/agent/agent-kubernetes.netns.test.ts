/**
 * The real `palisade agent --datastore kubernetes:KUBECONFIG`, as root, enforcing into a node netns of a
 * tiny topology, fed by test/agent/kube-replay.ts. The replay server is an in-memory stand-in for
 * kube-apiserver (list/watch protocol only), not a real API server: no kube-apiserver can run here.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { endpointId } from '../../src/datapath/index.js';
import { canConnect, createTopology, netnsUnavailable, startServers } from '../datapath/support/netns.js';
import { nftTable, startAgent } from './agent-support.js';
import { NAMESPACES, NETPOLS, NODES, P, PODS, allowFrom, denyAll, namespace, pod } from './kube-fixtures.js';
import { KubeReplay } from './kube-replay.js';
import { NODE } from './support.js';

const A_IP = '10.77.0.10';
const B_IP = '10.77.0.11';
const chainOfA = `ing_${endpointId('pal/a')}_`;

describe('agent with the Kubernetes API (replay server)', { skip: netnsUnavailable() }, () => {
  it('enforces what the API holds, follows watch events, and resyncs after an outage', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'pal-agent-kube-'));
    const topo = await createTopology([
      { name: 'a', ip: A_IP },
      { name: 'b', ip: B_IP },
    ]);
    const replay = await KubeReplay.start([PODS, NAMESPACES, NODES, NETPOLS]);
    let agent: ReturnType<typeof startAgent> | undefined;
    try {
      replay.put(P.namespaces, namespace('pal'));
      replay.put(P.pods, pod('a', 'pal', NODE, A_IP));
      replay.put(P.pods, pod('b', 'pal', NODE, B_IP));
      replay.put(P.netpols, denyAll('pal'));
      const kubeconfig = join(tmp, 'kubeconfig');
      await writeFile(kubeconfig, replay.kubeconfig());

      agent = startAgent(NODE, join(tmp, 'run'), [
        '--datastore',
        `kubernetes:${kubeconfig}`,
        '--netns',
        topo.node,
      ]);
      await agent.until('the default deny', (s) => s.state === 'ready' && s.lastSync?.counts.endpoints === 2);
      assert.match(nftTable(topo.node), new RegExp(chainOfA));
      await startServers(topo, [80]);
      const b = topo.pods.get('b')?.netns as string;
      assert.equal(await canConnect(b, A_IP, 80), false, 'default deny drops b → a');

      replay.put(P.netpols, allowFrom('allow-b-to-a', 'pal', 'b', 'a', 80));
      await agent.until('the allow', (s) => s.lastChange?.counts.policiesOnNode === 2);
      assert.equal(await canConnect(b, A_IP, 80), true, 'the watched allow lets b reach a');

      // Outage: degraded, the kernel keeps the last state.
      const table = nftTable(topo.node);
      await replay.down();
      const degraded = await agent.until('degraded', (s) => s.state === 'degraded');
      assert.equal(degraded.datastore.connected, false);
      assert.equal(nftTable(topo.node), table);
      assert.equal(await canConnect(b, A_IP, 80), true, 'still enforcing the last state');

      // The allow is deleted while the agent cannot see, and history is compacted: 410, relist.
      replay.remove(P.netpols, 'pal', 'allow-b-to-a');
      replay.compact();
      await replay.up();
      await agent.until('resynced', (s) => s.state === 'ready' && s.lastChange?.counts.policiesOnNode === 1);
      assert.equal(await canConnect(b, A_IP, 80), false, 'the deletion made during the outage is enforced');
    } finally {
      await agent?.stop();
      await replay.down().catch(() => undefined);
      await topo.destroy();
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
