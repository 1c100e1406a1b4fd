/**
 * The measured reachability matrix: every ordered pair of pods, probed with real packets, in the same
 * shape and order as the analyzer's computed matrix so the two can be compared line by line.
 */
import type { Protocol } from '../ir/endpoint.js';
import { mapLimit } from './netns.js';
import type { ProbeOutcome, ProbeRequest } from './probe-process.js';
import type { PlannedPod } from './topology.js';

export interface MatrixTarget {
  readonly port: number;
  readonly protocol: Protocol;
}

/** `misrouted`: something answered, but not the destination pod. */
export type MeasuredResult = 'ok' | 'refused' | 'timeout' | 'misrouted';

export interface MeasuredEntry {
  readonly from: string;
  readonly to: string;
  readonly port: number;
  readonly protocol: Protocol;
  readonly allowed: boolean;
  readonly result: MeasuredResult;
  readonly self?: true;
}

export interface MeasuredMatrix {
  readonly pods: string[];
  readonly results: MeasuredEntry[];
}

export interface Prober {
  probe(req: ProbeRequest): Promise<ProbeOutcome>;
}

/** What probeMatrix needs of a lab; a running Lab is one. */
export interface ProbeableLab {
  readonly pods: readonly Pick<PlannedPod, 'key' | 'namespace' | 'name' | 'netns' | 'ip'>[];
  readonly prober: Prober;
}

export interface ProbeMatrixOptions {
  readonly timeoutMs: number;
  /** Probes in flight at once. */
  readonly concurrency: number;
  /** Pod keys (`ns/name`) to probe from; default all. */
  readonly from?: readonly string[];
  /** Pod keys to probe; default all. */
  readonly to?: readonly string[];
  /** Upper bound on the number of probes, so a mistaken call cannot run for hours; default 1,000,000. */
  readonly maxProbes?: number;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Ordered by target, then source, then destination; pods sorted by namespace, then name. */
export async function probeMatrix(
  lab: ProbeableLab,
  targets: readonly MatrixTarget[],
  opts: ProbeMatrixOptions,
): Promise<MeasuredMatrix> {
  const sorted = [...lab.pods].sort(
    (a, b) => compareText(a.namespace, b.namespace) || compareText(a.name, b.name),
  );
  const known = new Set(sorted.map((p) => p.key));
  for (const key of [...(opts.from ?? []), ...(opts.to ?? [])]) {
    if (!known.has(key)) throw new Error(`probeMatrix: no pod ${key} in the lab`);
  }
  const pick = (keys: readonly string[] | undefined) =>
    keys === undefined ? sorted : sorted.filter((p) => keys.includes(p.key));
  const sources = pick(opts.from);
  const dests = pick(opts.to);
  const listed = new Set([...sources, ...dests].map((p) => p.key));

  const jobs = targets.flatMap((t) => sources.flatMap((from) => dests.map((to) => ({ t, from, to }))));
  const max = opts.maxProbes ?? 1_000_000;
  if (jobs.length > max) throw new Error(`probeMatrix: ${jobs.length} probes exceed maxProbes ${max}`);

  const results = await mapLimit(jobs, opts.concurrency, async ({ t, from, to }): Promise<MeasuredEntry> => {
    const out = await lab.prober.probe({
      netns: from.netns,
      ip: to.ip,
      port: t.port,
      protocol: t.protocol,
      timeoutMs: opts.timeoutMs,
    });
    const result: MeasuredResult = out.result === 'ok' && out.reply !== to.key ? 'misrouted' : out.result;
    const entry = {
      from: from.key,
      to: to.key,
      port: t.port,
      protocol: t.protocol,
      allowed: result === 'ok',
      result,
    };
    return from.key === to.key ? { ...entry, self: true } : entry;
  });
  return { pods: sorted.map((p) => p.key).filter((k) => listed.has(k)), results };
}
