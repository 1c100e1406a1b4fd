/**
 * A running lab: the planned network applied to the kernel, plus one probe process serving every declared
 * containerPort of every pod. One lab per machine: names such as `pal-fabric` are fixed, and `labUp`
 * first clears leftovers of earlier runs.
 */
import { execFileSync } from 'node:child_process';
import { applyPlan, labDown } from './fabric.js';
import { mapLimit } from './netns.js';
import { ProbeProcess } from './probe-process.js';
import type { SctpMode } from './probe-process.js';
import type { LabInput, LabPlan, PlannedPod } from './topology.js';
import { planLab } from './topology.js';

export interface LabOptions {
  /** Parallel `ip` batches while applying; default 16. */
  readonly concurrency?: number;
  readonly probeBinary?: string;
  readonly forceRawSctp?: boolean;
}

export interface Lab {
  readonly plan: LabPlan;
  readonly pods: readonly PlannedPod[];
  readonly prober: ProbeProcess;
  readonly sctpMode: SctpMode;
  /** Stops the probe process and removes every lab object. Idempotent. */
  down(): Promise<void>;
}

/**
 * Last resort when the process exits without `down()`: synchronous, because 'exit' handlers cannot wait.
 * The probe process dies with us (PR_SET_PDEATHSIG), so only the netns remain to delete.
 */
function emergencyCleanup(plan: LabPlan): () => void {
  return () => {
    try {
      execFileSync('ip', ['-force', '-batch', '-'], {
        input: plan.netns.map((n) => `netns del ${n}`).join('\n') + '\n',
        stdio: ['pipe', 'ignore', 'ignore'],
      });
    } catch {
      // best effort; labDown() finds whatever is left
    }
  };
}

export async function labUp(input: LabInput, opts: LabOptions = {}): Promise<Lab> {
  const plan = planLab(input);
  await labDown();
  const onExit = emergencyCleanup(plan);
  process.once('exit', onExit);
  let prober: ProbeProcess | undefined;
  try {
    await applyPlan(plan, opts.concurrency === undefined ? {} : { concurrency: opts.concurrency });
    prober = await ProbeProcess.start({
      ...(opts.probeBinary === undefined ? {} : { binary: opts.probeBinary }),
      ...(opts.forceRawSctp === undefined ? {} : { forceRawSctp: opts.forceRawSctp }),
    });
    await serveDeclaredPorts(prober, plan.pods);
  } catch (err) {
    await prober?.close();
    await labDown();
    process.removeListener('exit', onExit);
    throw err;
  }
  const running = prober;
  let downed: Promise<void> | undefined;
  return {
    plan,
    pods: plan.pods,
    prober: running,
    sctpMode: running.sctpMode,
    down() {
      downed ??= (async () => {
        await running.close();
        await labDown();
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
