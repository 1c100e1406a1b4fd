/**
 * Crash safety on real packets: the agent is killed with SIGKILL while new connections are probed every
 * 50ms and a long-lived stream runs. Enforcement lives in the kernel, so nothing may change while the agent
 * is gone, and the restarted agent must adopt the table as it finds it (no flush, no transaction): every
 * allowed probe connects, every denied one fails, and the stream never stops.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createTopology, netnsUnavailable } from '../datapath/support/netns.js';
import { cli, startAgent, waitFor } from './agent-support.js';
import type { RunningAgent } from './agent-support.js';
import { startProber, startStreamClient, startStreamServer } from './stream-support.js';
import type { ProbeResult, Prober } from './stream-support.js';
import { NAMESPACE, NODE, json, pod } from './support.js';

const A_IP = '10.77.0.10';
const B_IP = '10.77.0.11';
const C_IP = '10.77.0.12';

/** b accepts port 80 from a only, so c → b is denied by isolation. */
const ALLOW_A_TO_B = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'allow-a-to-b', namespace: 'pal' },
  spec: {
    podSelector: { matchLabels: { app: 'b' } },
    ingress: [{ from: [{ podSelector: { matchLabels: { app: 'a' } } }], ports: [{ port: 80 }] }],
  },
};

/** The table with rule handles: a flushed and rebuilt table would get new ones. */
function tableWithHandles(netns: string): string {
  const r = spawnSync('ip', ['netns', 'exec', netns, 'nft', '-a', 'list', 'table', 'inet', 'palisade']);
  return r.status === 0 ? r.stdout.toString() : '';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until `prober` has reported `n` probes started after `since`. */
function probesAfter(what: string, prober: Prober, since: number, n: number): Promise<true> {
  return waitFor(
    what,
    () => Promise.resolve(prober.results.filter((r) => r.t > since).length >= n || undefined),
    20_000,
  );
}

const describeProbe = (r: ProbeResult): string =>
  `${new Date(r.t).toISOString()} ${r.ok ? 'connected' : `failed (${r.why ?? '?'})`} in ${r.ms}ms`;

describe('agent crash', { skip: netnsUnavailable() }, () => {
  it('kill -9 under traffic: enforcement never lapses, the restart adopts the table without a change', async (t) => {
    const tmp = await mkdtemp(join(tmpdir(), 'pal-crash-'));
    const topo = await createTopology([
      { name: 'a', ip: A_IP },
      { name: 'b', ip: B_IP },
      { name: 'c', ip: C_IP },
    ]);
    const agents: RunningAgent[] = [];
    const probers: Prober[] = [];
    try {
      await mkdir(join(tmp, 'in'));
      const manifests = join(tmp, 'in', 'all.yaml');
      await writeFile(
        manifests,
        [NAMESPACE, pod('a', A_IP), pod('b', B_IP), pod('c', C_IP), ALLOW_A_TO_B].map(json).join('\n---\n'),
      );
      const ds = `dir:${join(tmp, 'store')}`;
      const applied = await cli(['apply', '-f', manifests, '--datastore', ds]);
      assert.equal(applied.code, 0, applied.stderr);
      const args = ['--datastore', ds, '--netns', topo.node];
      const run = join(tmp, 'run');
      const first = startAgent(NODE, run, args);
      agents.push(first);
      const before = await first.until(
        'the policy',
        (s) =>
          s.state === 'ready' && s.lastSync?.counts.endpoints === 3 && s.lastSync.counts.policiesOnNode === 1,
      );

      const server = await startStreamServer(topo, 'b', 80);
      const stream = await startStreamClient(topo, 'a', B_IP, 80);
      // Shorter than the 1s SYN retransmit: an allowed attempt whose SYN was dropped even once fails.
      const allowed = startProber(topo, 'a', B_IP, 80, 50, 900);
      // Long enough for a SYN-ACK on a busy machine: a denied attempt that gets through shows as connected.
      const denied = startProber(topo, 'c', B_IP, 80, 50, 500);
      probers.push(allowed, denied);
      const started = Date.now();
      await probesAfter('probes before the kill', allowed, started, 10);
      await probesAfter('probes before the kill', denied, started, 10);

      const table = tableWithHandles(topo.node);
      assert.match(table, /table inet palisade/);
      process.kill(before.pid, 'SIGKILL');
      await waitFor('the agent to die', () => Promise.resolve(!alive(before.pid) || undefined));
      const killedAt = Date.now();
      assert.equal(tableWithHandles(topo.node), table, 'the kernel keeps the table after SIGKILL');

      // Without any agent: new connections still decided by the kernel, the stream still moving.
      await probesAfter('probes while the agent is dead', allowed, killedAt, 10);
      await probesAfter('probes while the agent is dead', denied, killedAt, 10);
      const rxDead = stream.rx();
      const bRxDead = server.rxFrom(A_IP);
      await waitFor('the stream to move without an agent', () =>
        Promise.resolve((stream.rx() > rxDead && server.rxFrom(A_IP) > bRxDead) || undefined),
      );

      const restarted = startAgent(NODE, run, args);
      agents.push(restarted);
      const after = await restarted.until(
        'the restarted agent',
        (s) => s.pid !== before.pid && s.state === 'ready' && s.syncs >= 1,
        30_000,
      );
      const readyAt = Date.now();
      assert.equal(after.lastSync?.ok, true);
      assert.equal(after.lastSync?.changed, false, 'the first sync after the restart sent no transaction');
      assert.equal(after.lastChange, undefined);
      assert.equal(after.lastSync?.counts.policiesOnNode, 1);
      assert.equal(after.strict?.sweeps, 0, 'no change, so no strict sweep');
      assert.equal(tableWithHandles(topo.node), table, 'same rules, same handles: nothing was rebuilt');

      await probesAfter('probes after the restart', allowed, readyAt, 10);
      await probesAfter('probes after the restart', denied, readyAt, 10);
      const rxBack = stream.rx();
      await waitFor('the stream to move after the restart', () =>
        Promise.resolve(stream.rx() > rxBack || undefined),
      );
      await Promise.all(probers.map((p) => p.stop()));

      const allowedFailed = allowed.results.filter((r) => !r.ok);
      const deniedConnected = denied.results.filter((r) => r.ok);
      assert.deepEqual(allowedFailed.map(describeProbe), [], 'every a → b:80 attempt connected');
      assert.deepEqual(deniedConnected.map(describeProbe), [], 'every c → b:80 attempt failed');
      const during = (p: Prober): number => p.results.filter((r) => r.t > killedAt && r.t < readyAt).length;
      assert.ok(during(allowed) >= 10 && during(denied) >= 10, 'the probes covered the restart');
      assert.deepEqual(stream.trouble, [], 'the established stream never broke');
      t.diagnostic(
        `${allowed.results.length} allowed and ${denied.results.length} denied probes, ` +
          `${during(allowed)}/${during(denied)} while no agent was ready (${readyAt - killedAt}ms), 0 failures`,
      );
    } finally {
      await Promise.all(probers.map((p) => p.stop()));
      for (const a of agents) await a.stop();
      await topo.destroy();
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
