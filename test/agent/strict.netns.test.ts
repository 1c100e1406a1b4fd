/**
 * Strict mode on real packets: long-lived TCP streams through a node netns enforced by the real agent.
 * A policy change that stops allowing one stream must cut it (no byte in either direction afterwards)
 * while a stream it still allows keeps flowing; with --no-strict the same change leaves the established
 * stream alone and refuses only new connections.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { canConnect, createTopology, netnsUnavailable } from '../datapath/support/netns.js';
import type { Topology } from '../datapath/support/netns.js';
import { cli, sleep, startAgent, waitFor } from './agent-support.js';
import type { RunningAgent } from './agent-support.js';
import { startStreamClient, startStreamServer } from './stream-support.js';
import { NAMESPACE, NODE, json, pod } from './support.js';

const A_IP = '10.77.0.10';
const B_IP = '10.77.0.11';
const C_IP = '10.77.0.12';

/** b accepts port 80 from c only: a's stream to b is no longer allowed, c's still is. */
const ONLY_C_TO_B = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'only-c-to-b', namespace: 'pal' },
  spec: {
    podSelector: { matchLabels: { app: 'b' } },
    ingress: [{ from: [{ podSelector: { matchLabels: { app: 'c' } } }], ports: [{ port: 80 }] }],
  },
};

function conntrackAvailable(): string | undefined {
  return spawnSync('conntrack', ['--version']).status === 0
    ? undefined
    : 'conntrack is not installed (apt-get install conntrack)';
}

interface Setup {
  readonly topo: Topology;
  readonly tmp: string;
  readonly ds: string;
  readonly policy: string;
  agent?: RunningAgent;
}

/** Pods a, b, c on one node with no policy, the agent running with `flags`. */
async function setUp(flags: readonly string[]): Promise<Setup> {
  const tmp = await mkdtemp(join(tmpdir(), 'pal-strict-'));
  const topo = await createTopology([
    { name: 'a', ip: A_IP },
    { name: 'b', ip: B_IP },
    { name: 'c', ip: C_IP },
  ]);
  const s: Setup = { topo, tmp, ds: `dir:${join(tmp, 'store')}`, policy: join(tmp, 'in', 'policy.json') };
  try {
    await mkdir(join(tmp, 'in'));
    const base = join(tmp, 'in', 'base.yaml');
    await writeFile(
      base,
      [NAMESPACE, pod('a', A_IP), pod('b', B_IP), pod('c', C_IP)].map(json).join('\n---\n'),
    );
    await writeFile(s.policy, json(ONLY_C_TO_B));
    const r = await cli(['apply', '-f', base, '--datastore', s.ds]);
    assert.equal(r.code, 0, r.stderr);
    s.agent = startAgent(NODE, join(tmp, 'run'), [
      '--datastore',
      s.ds,
      '--netns',
      topo.node,
      '--metrics-addr',
      '127.0.0.1:0',
      ...flags,
    ]);
    await s.agent.until('the pods', (st) => st.state === 'ready' && st.lastSync?.counts.endpoints === 3);
    return s;
  } catch (e) {
    await tearDown(s);
    throw e;
  }
}

async function tearDown(s: Setup): Promise<void> {
  await s.agent?.stop();
  await s.topo.destroy();
  await rm(s.tmp, { recursive: true, force: true });
}

/** Applies ONLY_C_TO_B and waits for the agent to have enforced it. */
async function restrict(s: Setup): Promise<void> {
  const r = await cli(['apply', '-f', s.policy, '--datastore', s.ds]);
  assert.equal(r.code, 0, r.stderr);
  await s.agent?.until('the policy', (st) => st.lastChange?.counts.policiesOnNode === 1);
}

/** Waits until `read` grows past its current value: the stream is moving. */
async function grows(what: string, read: () => number): Promise<void> {
  const from = read();
  await waitFor(what, () => Promise.resolve(read() > from || undefined), 10_000);
}

/** Established a → b:80 entries the kernel still tracks in the node netns. */
function trackedAToB(node: string): string[] {
  const r = spawnSync('ip', [
    'netns',
    'exec',
    node,
    'conntrack',
    '-L',
    '-s',
    A_IP,
    '-d',
    B_IP,
    '-p',
    'tcp',
    '--dport',
    '80',
  ]);
  return r.stdout
    .toString()
    .split('\n')
    .filter((l) => l.includes('ESTABLISHED'));
}

const skip = netnsUnavailable() ?? conntrackAvailable();

describe('strict mode', { skip }, () => {
  it('cuts an established stream the new policy denies, keeps the allowed one', async () => {
    const s = await setUp([]);
    try {
      const server = await startStreamServer(s.topo, 'b', 80);
      const fromA = await startStreamClient(s.topo, 'a', B_IP, 80);
      const fromC = await startStreamClient(s.topo, 'c', B_IP, 80);
      await grows('b receiving from a', () => server.rxFrom(A_IP));
      assert.equal(trackedAToB(s.topo.node).length, 1, 'the stream is tracked before the change');

      await restrict(s);
      const st = await s.agent?.until('the cut', (x) => (x.strict?.cutTotal ?? 0) >= 1);
      assert.equal(st?.strict?.enabled, true);

      // Anything in flight at the cut has landed by now; from here on nothing may get through.
      await sleep(500);
      const aRx = fromA.rx();
      const bRxFromA = server.rxFrom(A_IP);
      await grows('c still receiving from b', () => fromC.rx());
      await grows('b still receiving from c', () => server.rxFrom(C_IP));
      await sleep(1500);
      assert.equal(fromA.rx(), aRx, 'a received nothing after the cut');
      assert.equal(server.rxFrom(A_IP), bRxFromA, 'b received nothing from a after the cut');
      assert.deepEqual(trackedAToB(s.topo.node), [], 'no established a → b entry came back');
      await grows('c keeps flowing', () => fromC.rx());
      assert.deepEqual(fromC.trouble, []);

      assert.equal(await canConnect(s.topo.pods.get('a')?.netns as string, B_IP, 80), false);
      assert.equal(await canConnect(s.topo.pods.get('c')?.netns as string, B_IP, 80), true);

      const log = s.agent?.log() ?? '';
      assert.match(log, /"msg":"strict: cut \d+ connections no longer allowed"/);
      assert.match(
        log,
        /"tuple":"tcp 10\.77\.0\.10:\d+ -> 10\.77\.0\.11:80","denied":"ingress of pal\/b: isolated by NetworkPolicy\/pal\/only-c-to-b"/,
      );
      const text = await (await fetch(`http://${st?.metrics ?? ''}/metrics`)).text();
      const cut = /palisade_strict_cut_connections_total\{node="n1"\} (\d+)/.exec(text);
      assert.ok(cut !== null && Number(cut[1]) >= 1, text);
      const shown = await cli(['status', '--state-dir', join(s.tmp, 'run'), '--node', NODE]);
      assert.match(shown.stdout, /strict: [1-9]\d* connections cut in [1-9]\d* sweeps/);
    } finally {
      await tearDown(s);
    }
  });

  it('with --no-strict the established stream outlives the change; new connections are refused', async () => {
    const s = await setUp(['--no-strict']);
    try {
      const server = await startStreamServer(s.topo, 'b', 80);
      const fromA = await startStreamClient(s.topo, 'a', B_IP, 80);
      await restrict(s);
      const st = await s.agent?.status();
      assert.deepEqual(st?.strict, { enabled: false, cutTotal: 0, sweeps: 0 });
      await sleep(500);
      await grows('a keeps receiving', () => fromA.rx());
      await grows('b keeps receiving from a', () => server.rxFrom(A_IP));
      assert.deepEqual(fromA.trouble, []);
      assert.equal(trackedAToB(s.topo.node).length, 1);
      assert.equal(await canConnect(s.topo.pods.get('a')?.netns as string, B_IP, 80), false);
      assert.doesNotMatch(s.agent?.log() ?? '', /strict: cut/);
    } finally {
      await tearDown(s);
    }
  });
});
