/**
 * A running lab: the planned network applied to the kernel, plus one probe process serving every declared
 * containerPort of every pod. Labs with different ids coexist; `labUp` refuses an id whose owner is still
 * alive, and clears what a dead owner of the same id left behind.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { Cluster } from '../ir/endpoint.js';
import { labCluster } from './cluster.js';
import { applyPlan, labDown } from './fabric.js';
import { DEFAULT_LAB_ID } from './lab-id.js';
import { mapLimit } from './netns.js';
import { ProbeProcess } from './probe-process.js';
import type { SctpMode } from './probe-process.js';
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
}

export interface Lab {
  readonly id: string;
  readonly plan: LabPlan;
  readonly pods: readonly PlannedPod[];
  /** The input cluster with the lab's final addresses: what the engine must be given (see cluster.ts). */
  readonly cluster: Cluster;
  readonly prober: ProbeProcess;
  readonly sctpMode: SctpMode;
  /** Stops the probe process and removes every object of this lab. Idempotent. */
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
 * The probe process dies with us (PR_SET_PDEATHSIG), so only the netns and the state dir remain.
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
  try {
    await applyPlan(plan, opts.concurrency === undefined ? {} : { concurrency: opts.concurrency });
    prober = await ProbeProcess.start({
      labId: id,
      ...(opts.probeBinary === undefined ? {} : { binary: opts.probeBinary }),
      ...(opts.forceRawSctp === undefined ? {} : { forceRawSctp: opts.forceRawSctp }),
    });
    await serveDeclaredPorts(prober, plan.pods);
  } catch (err) {
    await prober?.close();
    await labDown({ id });
    process.removeListener('exit', onExit);
    throw err;
  }
  const running = prober;
  let downed: Promise<void> | undefined;
  return {
    id,
    plan,
    pods: plan.pods,
    cluster: labCluster(input, plan),
    prober: running,
    sctpMode: running.sctpMode,
    down() {
      downed ??= (async () => {
        await running.close();
        await labDown({ id });
        process.removeListener('exit', onExit);
      })();
      return downed;
    },
  };
}

/** Every declared containerPort of every pod answers with the pod's `ns/name`. */
async function serveDeclaredPorts(prober: ProbeProcess, pods: readonly PlannedPod[]): Promise<void> {
  const services = pods.flatMap((pod) => {
    const distinct = new Map(pod.ports.map((p) => [`${p.protocol}/${p.port}`, p]));
    return [...distinct.values()].map((p) => ({
      netns: pod.netns,
      ip: pod.ip,
      port: p.port,
      protocol: p.protocol,
      reply: pod.key,
    }));
  });
  await mapLimit(services, 64, (s) => prober.serve(s));
}
