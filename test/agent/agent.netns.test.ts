/**
 * The agent end to end, as root: the real `palisade agent` enforcing into a node netns of a tiny topology
 * (test/datapath/support/netns.ts), fed through `palisade apply|delete --datastore` from etcd or a
 * manifests directory, read back through `palisade status`'s socket and the metrics port.
 */
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { endpointId } from '../../src/datapath/index.js';
import { etcdClient } from '../../src/agent/index.js';
import { canConnect, createTopology, netnsUnavailable, startServers } from '../datapath/support/netns.js';
import { etcdMissing, startEtcd } from '../../src/lab/bench/etcd-server.js';
import type { EtcdServer } from '../../src/lab/bench/etcd-server.js';
import { cli, nftTable, startAgent } from './agent-support.js';
import { DENY_ALL, MALFORMED, NAMESPACE, NODE, allowBToA, json, pod } from './support.js';

const A_IP = '10.77.0.10';
const B_IP = '10.77.0.11';
const chainOfA = `ing_${endpointId('pal/a')}_`;

async function manifests(dir: string): Promise<Record<string, string>> {
  await mkdir(dir, { recursive: true });
  const files: Record<string, string> = {
    base: join(dir, 'base.yaml'),
    allow80: join(dir, 'allow80.json'),
    allow81: join(dir, 'allow81.json'),
  };
  await writeFile(
    files['base'] as string,
    [NAMESPACE, pod('a', A_IP), pod('b', B_IP), DENY_ALL].map(json).join('\n---\n'),
  );
  await writeFile(files['allow80'] as string, json(allowBToA(80)));
  await writeFile(files['allow81'] as string, json(allowBToA(81)));
  return files;
}

const skip = netnsUnavailable();

describe('agent with etcd', { skip: skip ?? etcdMissing() }, () => {
  it('enforces, changes incrementally, survives an outage, resyncs, skips bad objects', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'pal-agent-'));
    const topo = await createTopology([
      { name: 'a', ip: A_IP },
      { name: 'b', ip: B_IP },
    ]);
    let etcd: EtcdServer | undefined;
    let agent: ReturnType<typeof startAgent> | undefined;
    try {
      etcd = await startEtcd('pal-agent');
      const ds = `etcd:${etcd.url}`;
      const f = await manifests(join(tmp, 'in'));
      const applied = await cli(['apply', '-f', f['base'] as string, '--datastore', ds]);
      assert.equal(applied.code, 0, applied.stderr);
      assert.match(
        applied.stdout,
        /stored \/palisade\/NetworkPolicy\.networking\.k8s\.io\/pal\/default-deny/,
      );

      agent = startAgent(NODE, join(tmp, 'run'), [
        '--datastore',
        ds,
        '--netns',
        topo.node,
        '--metrics-addr',
        '127.0.0.1:0',
      ]);
      await agent.until('the default deny', (s) => s.state === 'ready' && s.lastSync?.counts.endpoints === 2);
      assert.match(nftTable(topo.node), new RegExp(chainOfA));
      await startServers(topo, [80]);
      const b = topo.pods.get('b')?.netns as string;
      assert.equal(await canConnect(b, A_IP, 80), false, 'default deny drops b → a');

      assert.equal((await cli(['apply', '-f', f['allow80'] as string, '--datastore', ds])).code, 0);
      const s80 = await agent.until('the allow', (s) => s.lastChange?.counts.policiesOnNode === 2);
      assert.equal(await canConnect(b, A_IP, 80), true, 'the allow lets b reach a');

      // One policy edit: one element out, one in, in a set only a's chain uses; no chain rewritten.
      assert.equal((await cli(['apply', '-f', f['allow81'] as string, '--datastore', ds])).code, 0);
      const s81 = await agent.until(
        'the port change',
        (s) => s.lastChange !== undefined && s.lastChange.at !== s80.lastChange?.at,
      );
      const change = s81.lastChange;
      assert.ok(change);
      assert.deepEqual(change.touched.chains, []);
      assert.equal(change.touched.sets.length, 1);
      assert.deepEqual(Object.fromEntries(Object.entries(change.summary).filter(([, n]) => n > 0)), {
        addElements: 1,
        delElements: 1,
      });
      const table = nftTable(topo.node);
      const set = change.touched.sets[0] as string;
      for (const line of table.split('\n').filter((l) => l.includes(`@${set}`))) assert.ok(line.length > 0);
      const users = table
        .split(/\n\s*chain /)
        .filter((c) => c.includes(`@${set}`))
        .map((c) => c.split(' ')[0]);
      assert.ok(users.length > 0 && users.every((n) => n?.startsWith(chainOfA)), users.join(','));

      // Outage: degraded, rules stay exactly as they were.
      await etcd.kill();
      const degraded = await agent.until('degraded', (s) => s.state === 'degraded');
      assert.equal(degraded.datastore.connected, false);
      assert.equal(nftTable(topo.node), table);
      const st = await cli(['status', '--state-dir', join(tmp, 'run'), '--node', NODE]);
      assert.match(st.stdout, /: degraded/);

      // Back: resync, and changes flow again.
      await etcd.restart();
      await agent.until('reconnected', (s) => s.state === 'ready');
      assert.equal((await cli(['delete', '-f', f['allow81'] as string, '--datastore', ds])).code, 0);
      await agent.until('the delete', (s) => s.lastChange?.counts.policiesOnNode === 1);
      assert.equal(await canConnect(b, A_IP, 81), false);

      // A malformed object written behind the CLI's back: reported, skipped, the rest enforced.
      const c = etcdClient([etcd.url]);
      const badKey = '/palisade/NetworkPolicy.networking.k8s.io/pal/broken';
      try {
        await c.put(badKey).value(json(MALFORMED));
      } finally {
        c.close();
      }
      const bad = await agent.until('the rejection', (s) => s.objects.rejected.some((r) => r.id === badKey));
      const rejected = bad.objects.rejected.find((r) => r.id === badKey);
      assert.equal(rejected?.kept, 'nothing');
      assert.ok(rejected?.diagnostics.some((d) => d.file === badKey && d.path === 'spec.podSelector'));
      assert.ok(bad.events.some((e) => e.type === 'object-rejected' && e.id === badKey));
      assert.equal(bad.state, 'ready');
      assert.match(nftTable(topo.node), new RegExp(chainOfA));

      // Metrics over loopback HTTP.
      const text = await (await fetch(`http://${bad.metrics ?? ''}/metrics`)).text();
      assert.match(text, /palisade_endpoints\{node="n1"\} 2/);
      assert.match(text, /palisade_policies\{node="n1"\} 1/);
      assert.match(text, /palisade_datastore_up\{node="n1"\} 1/);
      assert.match(text, /palisade_objects_rejected_total\{node="n1"\} 1/);
      assert.match(text, /palisade_sync_duration_seconds_count\{[^}]*result="ok"[^}]*\} [1-9]/);
    } finally {
      await agent?.stop();
      await etcd?.stop();
      await topo.destroy();
      await rm(tmp, { recursive: true, force: true });
    }
  });
});

describe('agent with a manifests directory', { skip }, () => {
  it('enforces, follows edits, skips a bad file, survives the directory going away', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'pal-agent-'));
    const topo = await createTopology([
      { name: 'a', ip: A_IP },
      { name: 'b', ip: B_IP },
    ]);
    const store = join(tmp, 'store');
    let agent: ReturnType<typeof startAgent> | undefined;
    try {
      const f = await manifests(join(tmp, 'in'));
      const ds = `dir:${store}`;
      assert.equal((await cli(['apply', '-f', f['base'] as string, '--datastore', ds])).code, 0);
      agent = startAgent(NODE, join(tmp, 'run'), ['--datastore', ds, '--netns', topo.node]);
      await agent.until('the default deny', (s) => s.state === 'ready' && s.lastSync?.counts.endpoints === 2);
      assert.match(nftTable(topo.node), new RegExp(chainOfA));

      assert.equal((await cli(['apply', '-f', f['allow80'] as string, '--datastore', ds])).code, 0);
      await agent.until('the allow', (s) => s.lastChange?.counts.policiesOnNode === 2);

      const badFile = join(store, 'broken.json');
      await writeFile(badFile, json(MALFORMED));
      const bad = await agent.until('the rejection', (s) => s.objects.rejected.some((r) => r.id === badFile));
      assert.ok(bad.objects.rejected[0]?.diagnostics.some((d) => d.path === 'spec.podSelector'));
      assert.equal(bad.lastSync?.counts.policiesOnNode, 2);

      // A bad edit of a good file keeps its last good version.
      const allowFile = join(store, 'NetworkPolicy.networking.k8s.io_pal_allow-b-to-a.json');
      await writeFile(allowFile, json({ ...allowBToA(82), spec: { podSelector: [] } }));
      const kept = await agent.until('last good kept', (s) =>
        s.objects.rejected.some((r) => r.id === allowFile),
      );
      assert.equal(kept.objects.rejected.find((r) => r.id === allowFile)?.kept, 'last-good');
      assert.equal(kept.lastSync?.counts.policiesOnNode, 2);

      const table = nftTable(topo.node);
      await rm(store, { recursive: true, force: true });
      await agent.until('degraded', (s) => s.state === 'degraded', 20_000);
      assert.equal(nftTable(topo.node), table);
      assert.equal((await cli(['apply', '-f', f['base'] as string, '--datastore', ds])).code, 0);
      const back = await agent.until(
        'back',
        (s) => s.state === 'ready' && s.lastChange?.counts.policiesOnNode === 1,
        20_000,
      );
      assert.equal(back.lastSync?.counts.endpoints, 2);
    } finally {
      await agent?.stop();
      await topo.destroy();
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
