/**
 * `palisade bench datapath`: one 2-node lab, a server pod and an idle pod on node A, a client on node A
 * (same node) and one on node B (cross node). For each rule count N, the datapaths run interleaved —
 * none, iptables, nftables, none again — so that a drift of a noisy box over those minutes weighs on the
 * baseline as on the others (report.ts takes the mean of the two `none` runs). Each filtering datapath is
 * programmed from empty (timed), then one small policy is edited (timed), then traffic is measured from
 * both clients: throughput, new-connection rate, connect latency. Every client run is bounded; the lab,
 * the servers and their temp dir are removed in `finally`.
 */
import { performance } from 'node:perf_hooks';
import type { ClusterNode, Endpoint } from '../../ir/endpoint.js';
import { BACKEND_NAMES, iptablesVariant } from '../../datapath/index.js';
import type { BackendName } from '../../datapath/index.js';
import { labUp } from '../lab.js';
import type { Lab } from '../lab.js';
import type { DatapathKind } from '../enforce.js';
import type { PlannedPod } from '../topology.js';
import { measureConnRate } from './conn-rate.js';
import { connectDropped, measureLatency } from './latency.js';
import { run, runChecked } from '../../util/process.js';
import { enforceTimed } from './program.js';
import type { Programmed } from './program.js';
import type { BenchResult, BenchRun, Placement } from './report.js';
import { goals, ratios } from './report.js';
import {
  BENCH_NAMESPACE,
  IDLE_LABELS,
  SERVER_LABELS,
  ruleManifests,
  smallPolicyManifest,
  toPolicies,
} from './rules.js';
import { startServers } from './servers.js';
import { measureThroughput } from './throughput.js';
import type { BenchTools } from './tools.js';

export const DEFAULT_RULES: readonly number[] = [0, 100, 1000, 10_000];

export interface BenchProgress {
  readonly done: number;
  readonly total: number;
  readonly label: string;
}

export interface BenchOptions {
  readonly rules: readonly number[];
  readonly tools: BenchTools;
  /** Lab id (netns `pal-<id>.…`). */
  readonly labId: string;
  /** Length of each iperf3 and HTTP client run. */
  readonly seconds: number;
  /** Concurrent HTTP clients. */
  readonly concurrency: number;
  /** Sequential connects per latency measurement. */
  readonly latencyCount: number;
  /** Runs of each filtering datapath per rule count (each followed by one more `none`); default 1. */
  readonly repeat?: number;
  readonly onProgress?: (p: BenchProgress) => void;
  /** Checked between steps: an aborted run stops at the next one and still cleans up. */
  readonly signal?: AbortSignal;
}

const NODES = ['node-a', 'node-b'] as const;
const POD = { server: 'server', same: 'client-same', cross: 'client-cross', idle: 'idle' } as const;

interface Slot {
  readonly datapath: DatapathKind;
  readonly round: number;
}

/**
 * none → every backend of the registry, in its order (iptables → nftables) → none, and with repeats on
 * from there: every filtering run sits between two `none` runs, so each baseline brackets what it is
 * compared with.
 */
export function schedule(repeat: number, backends: readonly BackendName[] = BACKEND_NAMES): Slot[] {
  const out: Slot[] = [{ datapath: 'none', round: 1 }];
  for (let r = 1; r <= repeat; r++) {
    out.push(...backends.map((datapath) => ({ datapath, round: r })), { datapath: 'none', round: r + 1 });
  }
  return out;
}
const MEASUREMENTS_PER_PLACEMENT = 3;
const STEPS_PER_ENTRY = 1 + 2 * MEASUREMENTS_PER_PLACEMENT;

function labInput() {
  const nsLabels = { 'kubernetes.io/metadata.name': BENCH_NAMESPACE };
  const nodes: ClusterNode[] = NODES.map((name) => ({ name, labels: {}, ips: [], podCIDRs: [] }));
  const pod = (name: string, node: string, labels: Record<string, string>): Endpoint => ({
    namespace: BENCH_NAMESPACE,
    name,
    labels,
    namespaceLabels: nsLabels,
    node,
    ips: [],
    // No declared ports: the lab's probe server would take them; our own servers listen instead.
    ports: [],
    hostNetwork: false,
  });
  return {
    nodes,
    endpoints: [
      pod(POD.server, 'node-a', SERVER_LABELS),
      pod(POD.idle, 'node-a', IDLE_LABELS),
      pod(POD.same, 'node-a', { app: 'pal-bench-client' }),
      pod(POD.cross, 'node-b', { app: 'pal-bench-client' }),
    ],
    namespaces: [{ name: BENCH_NAMESPACE, labels: nsLabels }],
    routing: 'native' as const,
  };
}

function podOf(lab: Lab, name: string): PlannedPod {
  const p = lab.pods.find((x) => x.key === `${BENCH_NAMESPACE}/${name}`);
  if (!p) throw new Error(`bench lab has no pod ${name}`);
  return p;
}

/**
 * Many short connections from one client: the whole ephemeral port range, and reuse of ports in
 * TIME_WAIT, so that a fast run never stalls on ports (these sysctls are per netns: only the lab's pods
 * change).
 */
async function tuneClient(netns: string): Promise<void> {
  await runChecked(
    ['sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=1024 65535', 'net.ipv4.tcp_tw_reuse=1'],
    { netns, timeoutMs: 10_000 },
  );
}

/**
 * Tearing iptables down (an empty restore) leaves iptables-nft's base chains behind in the node netns:
 * empty, but hooked, so every later run would pay for them and the first `none` would not. The nodes'
 * filter tables are Palisade's (enforce.ts assumes so), so removing them leaves each datapath the same
 * empty kernel. Legacy iptables cannot unregister its hooks; there, every run after the first pays alike.
 */
async function dropEmptyFilterTables(lab: Lab, variant: string): Promise<void> {
  if (variant !== 'nf_tables') return;
  await Promise.all(
    lab.plan.nodes.flatMap((node) =>
      ['ip', 'ip6'].map((family) =>
        run(['nft', 'delete', 'table', family, 'filter'], { netns: node.netns, timeoutMs: 10_000 }),
      ),
    ),
  );
}

export class NotEnforcedError extends Error {
  constructor(what: string) {
    super(`${what}: a pod that no entry allows still reached the server; the figures would mean nothing`);
    this.name = 'NotEnforcedError';
  }
}

/** The idle pod matches no entry of the server's rule set, so its SYN must be dropped. */
async function expectEnforced(from: PlannedPod, server: PlannedPod, what: string): Promise<void> {
  if (!(await connectDropped({ clientNetns: from.netns, serverIp: server.ip, waitMs: 300 }))) {
    throw new NotEnforcedError(what);
  }
}

export async function benchDatapath(opts: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const rules = [...opts.rules];
  const slots = schedule(opts.repeat ?? 1);
  const total = rules.length * slots.length * STEPS_PER_ENTRY;
  let done = 0;
  const step = (label: string) => {
    opts.signal?.throwIfAborted();
    opts.onProgress?.({ done, total, label });
    done++;
  };
  const iptables = await iptablesVariant().catch(() => 'unknown');
  const lab = await labUp(labInput(), { id: opts.labId });
  let servers: Awaited<ReturnType<typeof startServers>> | undefined;
  try {
    const server = podOf(lab, POD.server);
    const clients: Record<Placement, PlannedPod> = {
      'same-node': podOf(lab, POD.same),
      'cross-node': podOf(lab, POD.cross),
    };
    await Promise.all(Object.values(clients).map((c) => tuneClient(c.netns)));
    servers = await startServers({
      labId: opts.labId,
      netns: server.netns,
      ip: server.ip,
      iperf3: opts.tools.iperf3,
      nginx: opts.tools.nginx,
    });
    const idle = podOf(lab, POD.idle);
    const clientIps = Object.values(clients).map((c) => c.ip);
    const runs: BenchRun[] = [];
    let revision = 0;
    for (const n of rules) {
      // Converted once per N, outside the timings (see program.ts); an edit only swaps the small policy.
      const fixed = toPolicies(ruleManifests({ n, clients: clientIps }));
      const at = (rev: number) => [...fixed, ...toPolicies([smallPolicyManifest(rev)])];
      for (const { datapath, round } of slots) {
        const where = `${n} rules, ${datapath} #${round}`;
        step(`${where}: programming`);
        let program: Programmed | undefined;
        let change: Programmed | undefined;
        // Every datapath starts from an empty kernel, so `program` is a first apply.
        await enforceTimed(lab, lab.cluster, [], 'none');
        await dropEmptyFilterTables(lab, iptables);
        if (datapath !== 'none') {
          const first = at(revision);
          const edited = at(revision + 1);
          program = await enforceTimed(lab, lab.cluster, first, datapath);
          change = await enforceTimed(lab, lab.cluster, edited, datapath);
          revision += 2;
          if (n > 0) await expectEnforced(idle, server, `${n} rules on ${datapath}`);
        }
        for (const placement of ['same-node', 'cross-node'] as const) {
          const client = clients[placement];
          const common = { clientNetns: client.netns, serverIp: server.ip };
          step(`${where}, ${placement}: throughput`);
          const gbps = await measureThroughput({
            ...common,
            iperf3: opts.tools.iperf3,
            seconds: opts.seconds,
          });
          step(`${where}, ${placement}: connection rate`);
          const rate = await measureConnRate({
            ...common,
            client: opts.tools.httpClient,
            seconds: opts.seconds,
            concurrency: opts.concurrency,
          });
          step(`${where}, ${placement}: connect latency`);
          const latency = await measureLatency({
            ...common,
            count: opts.latencyCount,
            capMs: Math.max(2000, opts.seconds * 1000),
          });
          runs.push({
            n,
            datapath,
            round,
            placement,
            throughput_gbps: Math.round(gbps * 1000) / 1000,
            conn_rate: Math.round(rate.perSecond),
            conn_failed: rate.failed,
            latency_ms_p50: latency.p50Ms,
            latency_ms_p90: latency.p90Ms,
            program_ms: program?.wallMs ?? null,
            change_ms: change?.wallMs ?? null,
            program_applier_ms: program?.applierMs ?? null,
            change_applier_ms: change?.applierMs ?? null,
          });
        }
      }
    }
    opts.onProgress?.({ done: total, total, label: 'done' });
    const rs = ratios(runs);
    return {
      runs,
      ratios: rs,
      goals: goals(runs, rs),
      meta: {
        rules,
        seconds: opts.seconds,
        concurrency: opts.concurrency,
        latencyCount: opts.latencyCount,
        httpClient: opts.tools.httpClient.kind,
        iptables: `iptables-restore (${iptables})`,
        repeat: opts.repeat ?? 1,
        order: slots.map((s) => s.datapath).join(' → '),
        elapsedS: Math.round((performance.now() - started) / 1000),
      },
    };
  } finally {
    await servers?.stop();
    await lab.down();
  }
}
