/**
 * Strict mode on real packets: long-lived TCP streams through a node netns enforced by the real agent.
 * A policy change that stops allowing one stream must cut it (no byte in either direction afterwards)
 * while a stream it still allows keeps flowing; with --no-strict the same change leaves the established
 * stream alone and refuses only new connections. Cutting marks the conntrack entry and changes no
 * sysctl, so connections conntrack never saw open (opened before the agent, or whose entry was lost) and
 * the node's own loopback connections keep flowing. A cut flow that policy allows again flows again on the
 * same 5-tuple: its marked entry would otherwise outlive it for as long as its packets keep refreshing it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { STRICT_CUT_MARK } from '../../src/datapath/index.js';
import { canConnect, createTopology, netnsUnavailable } from '../datapath/support/netns.js';
import type { Topology } from '../datapath/support/netns.js';
import { cli, sleep, startAgent, waitFor } from './agent-support.js';
import type { RunningAgent } from './agent-support.js';
import { startStreamClient, startStreamServer, startUdpEcho, startUdpFlow } from './stream-support.js';
import type { StreamClient, StreamServer } from './stream-support.js';
import { NAMESPACE, NODE, json, pod } from './support.js';

const A_IP = '10.77.0.10';
const B_IP = '10.77.0.11';
const C_IP = '10.77.0.12';
/** A loopback service in the node netns, standing for the agent's own etcd. */
const LOOPBACK_PORT = 2379;
/** A UDP flow a → b from one fixed source port: one 5-tuple for its whole life. */
const UDP_PORT = 5353;
const UDP_SPORT = 40123;

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

/**
 * Pods a, b, c on one node with no policy, the agent running with `flags`; `beforeAgent` runs once the
 * pods exist and before the agent starts.
 */
async function setUp(
  flags: readonly string[],
  beforeAgent?: (topo: Topology) => Promise<void>,
): Promise<Setup> {
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
    await beforeAgent?.(topo);
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

/** Established src → b:80 entries the kernel tracks in the node netns. */
function trackedToB(node: string, src = A_IP): string[] {
  const r = spawnSync('ip', [
    'netns',
    'exec',
    node,
    'conntrack',
    '-L',
    '-s',
    src,
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

/** The conntrack entries of the fixed-port UDP flow a → b in the node netns. */
function udpFlowEntries(node: string): string[] {
  const r = spawnSync('ip', [
    'netns',
    'exec',
    node,
    'conntrack',
    '-L',
    '-p',
    'udp',
    '-s',
    A_IP,
    '--sport',
    String(UDP_SPORT),
  ]);
  return r.stdout
    .toString()
    .split('\n')
    .filter((l) => l.includes(`dport=${UDP_PORT}`));
}

/** Whether a `conntrack -L` line carries strict mode's cut bit (conntrack prints the mark in decimal). */
function cutMarked(line: string): boolean {
  const m = /\bmark=(\d+)/.exec(line);
  return m !== null && (Number(m[1]) & STRICT_CUT_MARK) !== 0;
}

const LOOSE = 'net.netfilter.nf_conntrack_tcp_loose';

function tcpLoose(netns: string): string {
  const r = spawnSync('ip', ['netns', 'exec', netns, 'sysctl', '-n', LOOSE]);
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout.toString().trim();
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
      const before = trackedToB(s.topo.node);
      assert.equal(before.length, 1, 'the stream is tracked before the change');
      assert.equal(cutMarked(before[0] ?? ''), false);

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
      // The entry stays, marked, so the kernel cannot pick the stream up again as a new connection.
      const after = trackedToB(s.topo.node);
      assert.equal(after.length, 1, after.join('\n'));
      assert.ok(cutMarked(after[0] ?? ''), after[0]);
      assert.equal(tcpLoose(s.topo.node), '1', 'strict mode changed no sysctl');
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

  it('a cut flow that policy allows again flows again on the same 5-tuple (UDP, TCP)', async () => {
    const s = await setUp([]);
    try {
      await startStreamServer(s.topo, 'b', 80);
      await startUdpEcho(s.topo, 'b', UDP_PORT);
      const tcp = await startStreamClient(s.topo, 'a', B_IP, 80);
      const udp = await startUdpFlow(s.topo, 'a', B_IP, UDP_PORT, UDP_SPORT);

      await restrict(s);
      await s.agent?.until('both cut', (x) => (x.strict?.cutTotal ?? 0) >= 2);
      await sleep(500);
      const [tcpRx, udpRx] = [tcp.rx(), udp.rx()];
      await sleep(1500);
      assert.equal(tcp.rx(), tcpRx, 'the TCP stream is cut');
      assert.equal(udp.rx(), udpRx, 'the UDP flow is cut');
      // Each datagram refreshes the marked entry before the table drops it: it would never expire.
      const cut = udpFlowEntries(s.topo.node);
      assert.equal(cut.length, 1, cut.join('\n'));
      assert.ok(cutMarked(cut[0] ?? ''), cut[0]);

      const r = await cli(['delete', '-f', s.policy, '--datastore', s.ds]);
      assert.equal(r.code, 0, r.stderr);
      await s.agent?.until('the policy gone', (st) => st.lastChange?.counts.policiesOnNode === 0);
      await grows('the UDP flow echoed again', () => udp.rx());
      // TCP comes back with its next retransmission, which backs off: up to a few seconds after the cut.
      await waitFor(
        'the TCP stream flowing again',
        () => Promise.resolve(tcp.rx() > tcpRx || undefined),
        30_000,
      );
      const after = udpFlowEntries(s.topo.node);
      assert.equal(after.length, 1, after.join('\n'));
      assert.equal(cutMarked(after[0] ?? ''), false, after[0]);
      assert.deepEqual(trackedToB(s.topo.node).filter(cutMarked), []);
      assert.match(
        s.agent?.log() ?? '',
        /"msg":"strict: [1-9]\d* cut connections allowed again; their cut mark is cleared"/,
      );
      assert.deepEqual(udp.trouble, []);
      assert.deepEqual(tcp.trouble, []);
    } finally {
      await tearDown(s);
    }
  });

  it('connections opened before the agent, and one whose entry is lost, keep flowing', async () => {
    // Streams open before the agent installs its table (so before conntrack tracks anything in the node
    // netns): c → b, which the policy still allows, and a loopback stream inside the node netns itself,
    // as the agent's own etcd watch is.
    let fromC: StreamClient | undefined;
    let server: StreamServer | undefined;
    let loopback: StreamClient | undefined;
    let loopbackServer: StreamServer | undefined;
    const s = await setUp([], async (topo) => {
      assert.equal(tcpLoose(topo.node), '1', 'the kernel default');
      server = await startStreamServer(topo, 'b', 80);
      fromC = await startStreamClient(topo, 'c', B_IP, 80);
      loopbackServer = await startStreamServer(topo, topo.node, LOOPBACK_PORT);
      loopback = await startStreamClient(topo, topo.node, '127.0.0.1', LOOPBACK_PORT);
    });
    try {
      assert.ok(fromC && server && loopback && loopbackServer);
      const c = fromC;
      const b = server;
      const lo = loopback;
      const loServer = loopbackServer;
      const flowing = async (when: string): Promise<void> => {
        await grows(`c receiving from b ${when}`, () => c.rx());
        await grows(`b receiving from c ${when}`, () => b.rxFrom(C_IP));
        await grows(`loopback client receiving ${when}`, () => lo.rx());
        await grows(`loopback server receiving ${when}`, () => loServer.rxFrom('127.0.0.1'));
      };
      await flowing('with the agent enforcing');

      const sweeps = (await s.agent?.status())?.strict?.sweeps ?? 0;
      await restrict(s);
      await s.agent?.until('the strict sweep', (x) => (x.strict?.sweeps ?? 0) > sweeps);
      await flowing('after the strict sweep');

      // An entry lost for any reason: the kernel picks the stream up again, which the policy allows.
      // Picked up mid-stream, its original direction is whichever side spoke first: delete either.
      const lost = [
        [C_IP, B_IP],
        [B_IP, C_IP],
      ].map(([from, to]) => {
        const r = spawnSync('ip', [
          'netns',
          'exec',
          s.topo.node,
          'conntrack',
          '-D',
          '-s',
          from ?? '',
          '-d',
          to ?? '',
        ]);
        return Number(/(\d+) flow entries have been deleted/.exec(r.stderr.toString())?.[1] ?? 0);
      });
      // Packets of both directions can meet the kernel at once while it picks the stream up: ≥ 1 entry.
      assert.ok(lost.reduce((a, b) => a + b, 0) >= 1, 'the c ↔ b entry was there to lose');
      await flowing('after its conntrack entry was lost');

      assert.equal(tcpLoose(s.topo.node), '1', 'strict mode changed no sysctl');
      assert.deepEqual(c.trouble, []);
      assert.deepEqual(lo.trouble, []);
      assert.equal((await s.agent?.status())?.strict?.error, undefined);
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
      assert.equal(trackedToB(s.topo.node).length, 1);
      assert.equal(await canConnect(s.topo.pods.get('a')?.netns as string, B_IP, 80), false);
      assert.doesNotMatch(s.agent?.log() ?? '', /strict: cut/);
    } finally {
      await tearDown(s);
    }
  });
});
