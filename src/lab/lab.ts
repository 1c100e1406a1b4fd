/**
 * A running lab: the planned fabric applied to the kernel, every pod attached through Palisade's CNI
 * plugin as a runtime attaches it (cni-attach.ts), plus one HTTP echo process serving every declared TCP
 * containerPort of every pod (echo-process.ts) and one probe process serving the UDP and SCTP ones and
 * sending every probe (probe-process.ts). Labs with different ids coexist; `labUp` refuses an id whose owner is still
 * alive, and clears what a dead owner of the same id left behind.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { Cluster } from '../ir/endpoint.js';
import { LabCni } from './cni-attach.js';
import type { CniHost } from './cni-host.js';
import { labCluster } from './cluster.js';
import { applyPlan, labDown } from './fabric.js';
import { DEFAULT_LAB_ID } from './lab-id.js';
import { mapLimit } from './netns.js';
import { EchoProcess } from './echo-process.js';
import type { EchoListener } from './echo-process.js';
import { ProbeProcess } from './probe-process.js';
import type { ServeRequest, SctpMode } from './probe-process.js';
import { labStateDir, ownerAlive, readOwner, recordOwner } from './state.js';
import type { LabInput, LabPlan, PlannedPod } from './topology.js';
import { planLab } from './topology.js';

export interface LabOptions {
  /** Names the lab's netns, processes and state (`pal-<id>.…`); default `default`. */
  readonly id?: string;
  /** Parallel `ip` batches while applying; default 16. */
  readonly concurrency?: number;
  readonly probeBinary?: string;
  readonly forceRawSctp?: boolean;
  /**
   * Starts the CNI server of a node (inside its netns) for the plugin to reach; default: a bare
   * `pal-cni-server` process (cni-host.ts). The lab calls `close()` once the node's pods are deleted.
   */
  readonly cniHost?: CniHost;
}

export interface Lab {
  readonly id: string;
  readonly plan: LabPlan;
  readonly pods: readonly PlannedPod[];
  /** The input cluster with the lab's final addresses: what the engine must be given (see cluster.ts). */
  readonly cluster: Cluster;
  readonly prober: ProbeProcess;
  /** The HTTP echo server of every declared TCP port; absent when no pod declares one. */
  readonly echo?: EchoProcess;
  readonly sctpMode: SctpMode;
  /** The runtime's view of the pods' CNI attachments: network lists, ADD results, CHECK. */
  readonly cni: LabCni;
  /**
   * Stops the probe process, deletes every pod through the plugin (CNI DEL), stops the CNI hosts and
   * removes every object of this lab. Idempotent. Rejects (after cleaning up) when a DEL failed.
   */
  down(): Promise<void>;
}

export class LabBusyError extends Error {
  readonly id: string;
  readonly ownerPid: number;
  constructor(id: string, ownerPid: number) {
    super(`lab "${id}" is in use by process ${ownerPid}; pick another id or take that lab down first`);
    this.name = 'LabBusyError';
    this.id = id;
    this.ownerPid = ownerPid;
  }
}

/**
 * Last resort when the process exits without `down()`: synchronous, because 'exit' handlers cannot wait.
 * The probe and echo processes die with us (PR_SET_PDEATHSIG) and the CNI servers when their stdin
 * closes, so only the netns and the state dir remain; removing them needs no DEL (records and IPAM live
 * in the state dir).
 */
function emergencyCleanup(plan: LabPlan): () => void {
  return () => {
    try {
      execFileSync('ip', ['-force', '-batch', '-'], {
        input: plan.netns.map((n) => `netns del ${n}`).join('\n') + '\n',
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      rmSync(labStateDir(plan.id), { recursive: true, force: true });
    } catch {
      // best effort; labDown({ id }) or labDown({ stale: true }) finds whatever is left
    }
  };
}

/** Takes ownership of `id`: refuses a live foreign owner, removes a dead owner's leftovers. */
async function claim(id: string): Promise<void> {
  const owner = await readOwner(id);
  if (owner && owner.pid !== process.pid && ownerAlive(owner)) throw new LabBusyError(id, owner.pid);
  await labDown({ id });
  await recordOwner(id);
}

export async function labUp(input: LabInput, opts: LabOptions = {}): Promise<Lab> {
  const id = opts.id ?? DEFAULT_LAB_ID;
  const plan = planLab(input, id);
  await claim(id);
  const onExit = emergencyCleanup(plan);
  process.once('exit', onExit);
  let prober: ProbeProcess | undefined;
  let echo: EchoProcess | undefined;
  let cni: LabCni | undefined;
  try {
    const attacher = await LabCni.create(plan, {
      ...(opts.cniHost === undefined ? {} : { cniHost: opts.cniHost }),
      ...(opts.concurrency === undefined ? {} : { concurrency: opts.concurrency }),
    });
    cni = attacher;
    await buildNetwork(plan, attacher, opts.concurrency);
    prober = await ProbeProcess.start({
      labId: id,
      ...(opts.probeBinary === undefined ? {} : { binary: opts.probeBinary }),
      ...(opts.forceRawSctp === undefined ? {} : { forceRawSctp: opts.forceRawSctp }),
    });
    const ports = declaredPorts(plan.pods);
    if (ports.tcp.length > 0) echo = await EchoProcess.start({ labId: id, listeners: ports.tcp });
    const running = prober;
    await mapLimit(ports.other, 64, (s) => running.serve(s));
  } catch (err) {
    await echo?.close();
    await prober?.close();
    // Pods that were attached are deleted as a runtime would; labDown removes whatever that leaves.
    await cni?.detach().catch(() => undefined);
    await cni?.close().catch(() => undefined);
    await labDown({ id });
    process.removeListener('exit', onExit);
    throw err;
  }
  const running = prober;
  const echoing = echo;
  const attached = cni;
  let downed: Promise<void> | undefined;
  return {
    id,
    plan,
    pods: plan.pods,
    cluster: labCluster(input, plan),
    prober: running,
    ...(echoing === undefined ? {} : { echo: echoing }),
    sctpMode: running.sctpMode,
    cni: attached,
    down() {
      downed ??= (async () => {
        try {
          await echoing?.close();
          await running.close();
          await attached.detach();
        } finally {
          await attached.close().catch(() => undefined);
          await labDown({ id });
          process.removeListener('exit', onExit);
        }
      })();
      return downed;
    },
  };
}

/**
 * The fabric and the pods' attachments, overlapped: ADDs start as soon as the netns exist, while the
 * fabric's links and routes are still being made. Every ADD has finished before an error is thrown, so
 * the caller's cleanup (DEL, then labDown) sees every attachment there will be.
 */
async function buildNetwork(plan: LabPlan, cni: LabCni, concurrency: number | undefined): Promise<void> {
  let attaching: Promise<unknown> | undefined;
  const fabric = await applyPlan(plan, {
    ...(concurrency === undefined ? {} : { concurrency }),
    onNetnsCreated: () => {
      attaching = cni.attach(plan.pods).then(
        () => undefined,
        (err: unknown) => ({ err }),
      );
    },
  }).then(
    () => undefined,
    (err: unknown) => ({ err }),
  );
  const attached = (await attaching) as { err: unknown } | undefined;
  // The fabric's error first: a half-built fabric makes the ADDs fail too.
  if (fabric) throw fabric.err;
  if (attached) throw attached.err;
  if (attaching === undefined) throw new Error('the lab fabric never reported its netns created');
}

/**
 * Every declared containerPort of every pod answers with the pod's `ns/name`: TCP ports through the HTTP
 * echo server (its probe path), UDP and SCTP ports through the probe process.
 */
function declaredPorts(pods: readonly PlannedPod[]): { tcp: EchoListener[]; other: ServeRequest[] } {
  const tcp: EchoListener[] = [];
  const other: ServeRequest[] = [];
  for (const pod of pods) {
    const distinct = new Map(pod.ports.map((p) => [`${p.protocol}/${p.port}`, p]));
    for (const p of distinct.values()) {
      if (p.protocol === 'TCP') tcp.push({ netns: pod.netns, ip: pod.ip, port: p.port, pod: pod.key });
      else other.push({ netns: pod.netns, ip: pod.ip, port: p.port, protocol: p.protocol, reply: pod.key });
    }
  }
  return { tcp, other };
}
