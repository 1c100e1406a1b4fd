/**
 * `palisade bench sync`: how long Palisade's agents take to enforce a change, measured as Kubernetes'
 * clusterloader2 measures network-policy enforcement latency (kubernetes/perf-tests: the
 * NetworkPolicyEnforcement measurement, clusterloader2/pkg/measurement/common/network-policy/
 * network-policy-enforcement-latency.go, and its test clients, network/tools/network-policy-enforcement-
 * latency). It defines two measurements:
 *
 * - policy creation: target pods are denied by a policy that already exists; a client probes a target
 *   continuously; an allow policy is created *while 1000 load policies are created at 10/s* (its
 *   defaults), and the latency is the time from the allow's creation to the client's first successful
 *   response (`policy_enforcement_latency_policy_creation_seconds`);
 * - pod creation: with an allow policy in place, a target pod is created, and the latency is from its IP
 *   being assigned to the first successful connection (`pod_creation_reachability_latency_seconds`); the
 *   time from creation to IP assignment is its own metric (`pod_ip_address_assigned_latency_seconds`).
 *
 * Here, per datastore (`dir:`, `etcd:`): the pods and a default deny are written there as the API would
 * hold them (sync-objects.ts); a lab is built whose pods are attached by Palisade's CNI plugin through
 * the node agents (src/lab/node-agents.ts, one `palisade agent` per node netns on that datastore, each
 * hosting its node's CNI server, so an ADD returns once the pod is enforced on its node). For `etcd:`,
 * the agents reach the bench's loopback etcd through loopback-bridge.ts. Then the load generator writes
 * `loadPolicies` at `loadRate`/s, and meanwhile, every few seconds, one measured step:
 * 1. policy creation: write an allow for one client → one target (the clock starts before the write, so
 *    the datastore's own write time is included, as the API server's is in a creation timestamp), probe
 *    every `probeIntervalMs` until the first success, then delete it and wait until it is refused again;
 * 2. pod creation: write a Pod object without IP (creation), create its netns and attach it with CNI ADD
 *    (through the node's agent), start its server, write its IP (= "IP assigned": agents of other nodes
 *    learn pod IPs from the datastore), and probe from a client whose egress admits only new pods, so
 *    that the success needs the client node's agent to have learnt the IP; `pod-creation` is timed from
 *    the creation, `pod-reachability` from the IP write (clusterloader2's definition).
 * Every wait is bounded by `timeoutMs`; a sample that does not succeed in time is kept as a timeout with
 * the agents' own account of themselves (an incident). The lab, the agents, etcd, the relays and the temp
 * dirs are removed in `finally`, and by exit hooks and labDown when the process dies first.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AgentStatus, DatastoreSpec } from '../../agent/index.js';
import { describeDatastore, writeObjects } from '../../agent/index.js';
import type { ClusterNode, Endpoint } from '../../ir/endpoint.js';
import { cidrLast, formatIp, parseCidr } from '../../ir/cidr.js';
import type { CniHost } from '../cni-host.js';
import type { Lab } from '../lab.js';
import { labUp } from '../lab.js';
import type { NodeAgents } from '../node-agents.js';
import { startNodeAgents } from '../node-agents.js';
import type { PlannedPod } from '../topology.js';
import { planLab } from '../topology.js';
import { startEtcd } from './etcd-server.js';
import type { EtcdServer } from './etcd-server.js';
import { attachPod, detachPod } from './new-pod.js';
import { bridgeLoopback } from './loopback-bridge.js';
import type { LoopbackBridge } from './loopback-bridge.js';
import { agentsText, captureIncident, etcdRevisionText, keepLogs } from './sync-diagnostics.js';
import { firstSuccess, tallyText, untilBlocked } from './sync-probe.js';
import type { ProbeLoopOptions, ProbeTarget } from './sync-probe.js';
import type { DatastoreRun, Measurement, SyncBenchResult } from './sync-report.js';
import { summarizeRuns } from './sync-report.js';
import type { BenchLayout, BenchPod } from './sync-objects.js';
import {
  TARGET_NS,
  TARGET_PORT,
  allowPolicy,
  basePolicies,
  benchLayout,
  loadPolicy,
  namespaceObjects,
  podObject,
} from './sync-objects.js';

export const DATASTORE_KINDS = ['dir', 'etcd'] as const;
export type DatastoreKind = (typeof DATASTORE_KINDS)[number];

export interface SyncBenchOptions {
  readonly datastores: readonly DatastoreKind[];
  /** Measured steps per datastore (each one policy-creation and one pod-creation sample). */
  readonly samples: number;
  readonly loadPolicies: number;
  /** Load policies written per second. */
  readonly loadRate: number;
  readonly nodes: number;
  /** Target pods. */
  readonly pods: number;
  /** Bound of every wait: one sample, agents getting ready, the load reaching the agents. */
  readonly timeoutMs: number;
  /** Default 10 ms. */
  readonly probeIntervalMs?: number;
  /** The agents' strict mode (cutting connections a change stops allowing); default on, as shipped. */
  readonly strict?: boolean;
  /**
   * Where each incident's node state (nft table, conntrack with marks, agent logs, statuses) is written,
   * one subdirectory per incident; without it only a summary goes to the progress lines.
   */
  readonly diagnosticsDir?: string;
  readonly onProgress?: (line: string) => void;
  /** Checked between steps and inside probe loops: an aborted run stops and still cleans up. */
  readonly signal?: AbortSignal;
}

const PROBE_TIMEOUT_MS = 100;
/** New pods' addresses are taken from the top of each node's pod CIDR, at most this many per node. */
const NEW_POD_SLOTS = 40;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

function labInput(layout: BenchLayout) {
  const nodes: ClusterNode[] = layout.nodes.map((name) => ({ name, labels: {}, ips: [], podCIDRs: [] }));
  const endpoints: Endpoint[] = layout.pods.map((p) => ({
    namespace: p.namespace,
    name: p.name,
    labels: p.labels,
    namespaceLabels: {},
    node: p.node,
    ips: [],
    ports: p.serves ? [{ port: TARGET_PORT, protocol: 'TCP' }] : [],
    hostNetwork: false,
  }));
  return { nodes, endpoints, routing: 'native' as const };
}

function planned(lab: Lab, pod: BenchPod): PlannedPod {
  const p = lab.pods.find((x) => x.key === `${pod.namespace}/${pod.name}`);
  if (!p) throw new Error(`bench sync: the lab has no pod ${pod.namespace}/${pod.name}`);
  return p;
}

/** Free addresses at the top of each node's pod CIDR, handed out and returned in FIFO order. */
function addressPools(lab: Lab): Map<string, string[]> {
  const used = new Set(lab.pods.map((p) => p.ip));
  const pools = new Map<string, string[]>();
  for (const node of lab.plan.nodes) {
    const cidr = parseCidr(node.podCidr);
    if (!cidr) continue;
    const free: string[] = [];
    for (let v = cidrLast(cidr) - 1n; v > cidr.base && free.length < NEW_POD_SLOTS; v--) {
      const ip = formatIp({ family: 4, value: v });
      if (!used.has(ip)) free.push(ip);
    }
    pools.set(node.name, free);
  }
  return pools;
}

async function agentStatuses(agents: NodeAgents): Promise<(AgentStatus | undefined)[]> {
  const all = await agents.statuses();
  return all.map((s) => ('error' in s ? undefined : s));
}

/** Waits until every agent's last sync holds `policies` policies; returns what each last reported. */
async function agentsHolding(
  agents: NodeAgents,
  policies: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<{ node: string; policies: number }[]> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const st = await agentStatuses(agents);
    const seen = agents.agents.map((a, i) => ({
      node: a.node,
      policies: st[i]?.lastSync?.ok === true ? st[i].lastSync.counts.policies : -1,
    }));
    if (seen.every((s) => s.policies === policies) || performance.now() > end) return seen;
    await sleep(200);
  }
}

interface Step {
  readonly index: number;
  readonly target: BenchPod;
  readonly client: BenchPod;
  readonly newNode: string;
  readonly podClient: BenchPod;
}

/** Sample `s`: clients and targets rotate so that same-node and cross-node pairs alternate. */
function stepOf(layout: BenchLayout, s: number): Step {
  const by = (role: string) => layout.pods.filter((p) => p.labels['role'] === role);
  const targets = by('target');
  const clients = by('client');
  const podClients = by('pod-client');
  const n = layout.nodes.length;
  const pick = <T>(xs: readonly T[], i: number): T => {
    const x = xs[i % xs.length];
    if (x === undefined) throw new Error('bench sync: empty pod list');
    return x;
  };
  return {
    index: s,
    target: pick(targets, s + Math.floor(s / n)),
    client: pick(clients, s),
    newNode: pick(layout.nodes, s),
    podClient: pick(podClients, s + Math.floor(s / n)),
  };
}

class SyncBenchError extends Error {
  override readonly name = 'SyncBenchError';
}

async function runDatastore(kind: DatastoreKind, opts: SyncBenchOptions): Promise<DatastoreRun> {
  const say = (line: string): void => opts.onProgress?.(`${kind}: ${line}`);
  const hex = randomBytes(3).toString('hex');
  const tag = `pal-bsync-${hex}`;
  const tmp = await mkdtemp(join(tmpdir(), `${tag}-`));
  const layout = benchLayout(opts.nodes, opts.pods);
  const interval = opts.probeIntervalMs ?? 10;
  const labId = `bsync-${hex}-${kind}`;
  let etcd: EtcdServer | undefined;
  let bridge: LoopbackBridge | undefined;
  let lab: Lab | undefined;
  let agents: Promise<NodeAgents> | undefined;
  const attached: PlannedPod[] = [];
  try {
    let ds: DatastoreSpec;
    if (kind === 'etcd') {
      etcd = await startEtcd(tag);
      ds = { kind: 'etcd', hosts: [etcd.url] };
    } else {
      ds = { kind: 'dir', path: join(tmp, 'manifests') };
    }
    const input = labInput(layout);
    // labUp plans the same way: the addresses are known before the lab exists, so the pods are in the
    // datastore before their CNI ADD, as in Kubernetes (an agent refuses an ADD for a pod it cannot find).
    const plan = planLab(input, labId);
    const plannedIp = (p: BenchPod): string => {
      const x = plan.pods.find((q) => q.key === `${p.namespace}/${p.name}`);
      if (!x) throw new SyncBenchError(`the plan has no pod ${p.namespace}/${p.name}`);
      return x.ip;
    };
    await writeObjects(
      ds,
      [...namespaceObjects(), ...layout.pods.map((p) => podObject(p, plannedIp(p))), ...basePolicies()],
      'apply',
    );
    const basePolicyCount = basePolicies().length;

    // The agents are the nodes' CNI hosts, started when the lab attaches its first pod (the node netns
    // exist by then); pods are attached by Palisade's plugin through them, and each ADD returns only once
    // the pod's node enforces its policy.
    const startAgents = async (): Promise<NodeAgents> => {
      const netns = plan.nodes.map((n) => n.netns);
      if (etcd !== undefined) {
        const port = Number(new URL(etcd.url).port);
        bridge = await bridgeLoopback(labId, tmp, port, netns);
      }
      const started = await startNodeAgents({
        labId,
        nodes: plan.nodes.map((n) => ({ name: n.name, netns: n.netns })),
        datastore: describeDatastore(ds),
        stateDir: join(tmp, 'agents'),
        cni: true,
        // Read back at start: an empty dir of our own, not the machine's default.
        extraArgs: [
          '--cni-state-dir',
          join(tmp, 'cni-records'),
          // An ADD waits this long for its Pod object to reach the agent: as long as a sample may take.
          ...(opts.strict === false ? ['--no-strict'] : []),
          '--registration-wait',
          String(Math.min(600, opts.timeoutMs / 1000)),
        ],
      });
      try {
        // Their CNI sockets listen once they are ready.
        await started.waitReady(opts.timeoutMs);
      } catch (e) {
        await started.stop();
        throw e;
      }
      return started;
    };
    const cniHost: CniHost = async (node) => {
      agents ??= startAgents();
      const agent = (await agents).agents.find((a) => a.node === node.name);
      if (agent?.cniSocket === undefined || agent.agentSocket === undefined)
        throw new SyncBenchError(`no agent with a CNI socket for node ${node.name}`);
      // Stopped by the bench after the lab is down (the lab's DELs still need them).
      return {
        socket: agent.cniSocket,
        pluginConfig: { agentSocket: agent.agentSocket },
        close: async () => {},
      };
    };
    say(`lab of ${opts.nodes} nodes, ${layout.pods.length} pods; datastore ${describeDatastore(ds)}`);
    lab = await labUp(input, { id: labId, cniHost });
    const running = lab;
    const ipOf = (p: BenchPod): string => planned(running, p).ip;
    for (const p of layout.pods)
      if (ipOf(p) !== plannedIp(p)) throw new SyncBenchError(`${p.name}: the lab moved its address`);
    agents ??= startAgents();
    const nodeAgents = await agents;
    await nodeAgents.waitReady(opts.timeoutMs);
    const ready = await agentsHolding(nodeAgents, basePolicyCount, opts.timeoutMs, opts.signal);
    if (ready.some((r) => r.policies !== basePolicyCount))
      throw new SyncBenchError(`agents did not load the base policies: ${JSON.stringify(ready)}`);
    say('agents ready');

    const loop = (deadline: number, tally?: Record<string, number>): ProbeLoopOptions => ({
      intervalMs: interval,
      probeTimeoutMs: PROBE_TIMEOUT_MS,
      deadline,
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      ...(tally === undefined ? {} : { tally }),
    });
    const toward = (from: BenchPod, to: BenchPod): ProbeTarget => ({
      netns: planned(running, from).netns,
      ip: ipOf(to),
      port: TARGET_PORT,
      expect: `${to.namespace}/${to.name}`,
    });

    // Without this, a datapath that enforced nothing would pass every sample at once.
    const first = stepOf(layout, 0);
    for (const [from, to] of [
      [first.client, first.target],
      [first.podClient, first.target],
    ] as const) {
      if (!(await untilBlocked(running.prober, toward(from, to), loop(performance.now() + 2000))))
        throw new SyncBenchError(`${from.name} reaches ${to.name} before any allow: nothing is enforced`);
    }

    const samples: Record<Measurement, { ms: number[]; timeouts: number }> = {
      'policy-creation': { ms: [], timeouts: 0 },
      'pod-creation': { ms: [], timeouts: 0 },
      'pod-reachability': { ms: [], timeouts: 0 },
    };
    const loadMs = (opts.loadPolicies / opts.loadRate) * 1000;
    let loadWritten = 0;
    let loadEnd: number | undefined;
    const loadStart = performance.now();
    const load = (async () => {
      for (let k = 0; k < opts.loadPolicies; k++) {
        if (opts.signal?.aborted) return;
        await sleep(loadStart + (k * 1000) / opts.loadRate - performance.now());
        await writeObjects(ds, [loadPolicy(k, layout.loadGroups)], 'apply');
        loadWritten = k + 1;
        if (loadWritten % Math.max(1, Math.round(opts.loadRate * 10)) === 0)
          say(`load ${loadWritten}/${opts.loadPolicies}`);
      }
      loadEnd = performance.now();
    })();
    // A failed load write must not go unobserved while the samples run; it is rethrown below.
    let loadError: Error | undefined;
    load.catch((e: unknown) => (loadError = e instanceof Error ? e : new Error(String(e))));

    const pools = addressPools(running);
    const gap = Math.max(500, loadMs / opts.samples);
    let underLoad = 0;
    const incidents: string[] = [];
    const incident = (text: string): void => {
      incidents.push(text);
      say(`incident: ${text}`);
    };
    /** The agents' own account, for an incident: are they connected, syncing, failing, cutting? */
    const agentsNow = async (): Promise<string> =>
      (ds.kind === 'etcd' ? await etcdRevisionText(ds.hosts) : '') + agentsText(await nodeAgents.statuses());
    /** Every node's state at a timed-out sample, before anything changes it. */
    const diagnose = async (what: string, from: BenchPod, to: string): Promise<void> => {
      const lines = await captureIncident({
        nodes: nodeAgents.agents.map((a) => ({
          name: a.node,
          netns: running.plan.nodes.find((n) => n.name === a.node)?.netns ?? '',
          log: a.log,
        })),
        probe: { from: ipOf(from), to },
        statuses: () => nodeAgents.statuses(),
        ...(opts.diagnosticsDir === undefined
          ? {}
          : { dir: join(opts.diagnosticsDir, `${labId}-${incidents.length}-${what}`) }),
      });
      for (const line of lines) say(`  ${line}`);
    };
    const record = (m: Measurement, ms: number | undefined): string => {
      if (ms === undefined) samples[m].timeouts++;
      else samples[m].ms.push(ms);
      return ms === undefined ? 'timeout' : `${ms.toFixed(1)} ms`;
    };

    /** Write an allow, time the first success, delete it, wait until it is refused again. */
    /**
     * Write an allow, time the first success, delete it, wait until it is refused again. `skipped` when
     * the target still answers before its allow is written (an earlier allow's deletion not enforced
     * yet): a success then would time nothing.
     */
    const policySample = async (step: Step): Promise<number | undefined | 'skipped'> => {
      const allow = allowPolicy(step.index, step.target, step.client);
      const toTarget = toward(step.client, step.target);
      const blocked = (): Promise<boolean> =>
        untilBlocked(running.prober, toTarget, loop(performance.now() + opts.timeoutMs));
      if (!(await blocked())) {
        incident(
          `${allow.name} skipped: ${step.target.name} still reachable before it; ${await agentsNow()}`,
        );
        return 'skipped';
      }
      const t0 = performance.now();
      await writeObjects(ds, [allow], 'apply');
      const tally: Record<string, number> = {};
      const ok = await firstSuccess(running.prober, toTarget, loop(t0 + opts.timeoutMs, tally));
      if (ok === undefined) {
        incident(`${allow.name} not enforced in time (${tallyText(tally)}); ${await agentsNow()}`);
        await diagnose(allow.name, step.client, toTarget.ip);
      }
      await writeObjects(ds, [allow], 'delete');
      if (!(await blocked())) {
        incident(`${allow.name} still lets ${step.client.name} in ${opts.timeoutMs} ms after its deletion`);
        await diagnose(`${allow.name}-deleted`, step.client, toTarget.ip);
      }
      return ok === undefined ? undefined : ok - t0;
    };

    /**
     * As in Kubernetes: the Pod object is created, the runtime attaches it (CNI ADD, which the node's
     * agent answers once the pod is enforced there) and starts its container, then the kubelet reports
     * its IP, which is when the other nodes can learn it. Returns [from creation, from IP] in ms.
     */
    const podSample = async (step: Step): Promise<[number, number] | undefined> => {
      const pool = pools.get(step.newNode) ?? [];
      const ip = pool.shift();
      if (ip === undefined) throw new SyncBenchError(`no free address for a new pod on ${step.newNode}`);
      const fresh: BenchPod = {
        namespace: TARGET_NS,
        name: `new-${step.index}`,
        node: step.newNode,
        labels: { role: 'new', app: `new-${step.index}` },
        serves: true,
      };
      const key = `${fresh.namespace}/${fresh.name}`;
      const c0 = performance.now();
      await writeObjects(ds, [podObject(fresh)], 'apply');
      let pod: PlannedPod | undefined;
      try {
        try {
          pod = await attachPod(running, { ...fresh, ip, ports: [{ port: TARGET_PORT, protocol: 'TCP' }] });
        } catch (e) {
          // A refused ADD is a pod that never became reachable: a timed-out sample, with its reason.
          incident(`${key}: ${e instanceof Error ? e.message : String(e)}; ${await agentsNow()}`);
          await diagnose(fresh.name, step.podClient, ip);
          return undefined;
        }
        attached.push(pod);
        await running.prober.serve({ netns: pod.netns, ip, port: TARGET_PORT, protocol: 'TCP', reply: key });
        const ip0 = performance.now();
        await writeObjects(ds, [podObject(fresh, ip)], 'apply');
        const tally: Record<string, number> = {};
        const reached = await firstSuccess(
          running.prober,
          { netns: planned(running, step.podClient).netns, ip, port: TARGET_PORT, expect: key },
          loop(ip0 + opts.timeoutMs, tally),
        );
        if (reached === undefined) {
          incident(`${key} not reachable in time (${tallyText(tally)}); ${await agentsNow()}`);
          await diagnose(fresh.name, step.podClient, ip);
        }
        return reached === undefined ? undefined : [reached - c0, reached - ip0];
      } finally {
        await writeObjects(ds, [podObject(fresh)], 'delete');
        if (pod !== undefined) {
          await detachPod(running, pod);
          attached.splice(attached.indexOf(pod), 1);
        }
        pool.push(ip);
      }
    };

    try {
      for (let s = 0; s < opts.samples; s++) {
        opts.signal?.throwIfAborted();
        if (loadError !== undefined) throw loadError;
        await sleep(loadStart + s * gap - performance.now());
        const step = stepOf(layout, s);
        if (loadEnd === undefined) underLoad++;
        const measured = await policySample(step);
        const policy = measured === 'skipped' ? 'skipped' : record('policy-creation', measured);
        const pod = await podSample(step);
        record('pod-creation', pod?.[0]);
        const reach = record('pod-reachability', pod?.[1]);
        say(
          `sample ${s + 1}/${opts.samples}: policy-creation ${policy}, pod-reachability ${reach} ` +
            `(load ${loadWritten}/${opts.loadPolicies})`,
        );
      }
    } finally {
      await load.catch(() => undefined);
    }
    if (loadError !== undefined) throw loadError;
    const loadSeconds = Math.round((((loadEnd ?? performance.now()) - loadStart) / 1000) * 10) / 10;
    say(`load of ${loadWritten} written in ${loadSeconds} s; waiting for the agents to hold all of it`);
    const agentPolicies = await agentsHolding(
      nodeAgents,
      basePolicyCount + opts.loadPolicies,
      opts.timeoutMs * 3,
      opts.signal,
    );
    return {
      datastore: describeDatastore(ds).startsWith('etcd:') ? 'etcd' : 'dir',
      loadWritten,
      loadSeconds,
      samplesUnderLoad: underLoad,
      agentPolicies,
      incidents,
      samples,
    };
  } finally {
    const labNow = lab;
    if (labNow) for (const pod of attached) await detachPod(labNow, pod).catch(() => undefined);
    // The lab's DELs go through the agents, so the lab goes down first; whatever is left is killed there.
    await lab?.down().catch((e: unknown) => say(`lab down: ${e instanceof Error ? e.message : String(e)}`));
    const stopped = await agents?.catch(() => undefined);
    await stopped?.stop();
    // With a diagnostics dir, every run's agent logs are kept: a stall may show only in a run that passed.
    if (opts.diagnosticsDir !== undefined && stopped !== undefined)
      await keepLogs(stopped.agents, join(opts.diagnosticsDir, `${labId}-logs`)).catch((e: unknown) =>
        say(`keeping the agent logs: ${e instanceof Error ? e.message : String(e)}`),
      );
    await bridge?.stop();
    await etcd?.stop();
    await rm(tmp, { recursive: true, force: true });
  }
}

export async function benchSync(opts: SyncBenchOptions): Promise<SyncBenchResult> {
  const started = performance.now();
  const runs: DatastoreRun[] = [];
  for (const kind of opts.datastores) {
    opts.signal?.throwIfAborted();
    runs.push(await runDatastore(kind, opts));
  }
  return {
    summaries: summarizeRuns(runs),
    runs,
    meta: {
      nodes: opts.nodes,
      targetPods: opts.pods,
      loadPolicies: opts.loadPolicies,
      loadRate: opts.loadRate,
      timeoutMs: opts.timeoutMs,
      probeIntervalMs: opts.probeIntervalMs ?? 10,
      strict: opts.strict ?? true,
      elapsedS: Math.round((performance.now() - started) / 1000),
    },
  };
}
