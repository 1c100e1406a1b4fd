/**
 * Results of `palisade bench sync`: per datastore and measurement, the samples' nearest-rank percentiles
 * and the issue's goal (p99 <= 1 s), as a table or as JSON. Pure.
 *
 * A sample that never succeeded within the timeout is kept as a timeout rather than dropped: it sorts
 * above every measured latency, so a percentile that lands on it is reported as `null` (JSON) or
 * `>timeout` (table), and the goal counts as missed. Dropping it would make a stuck agent look fast.
 */
import * as stats from './stats.js';

export const MEASUREMENTS = ['policy-creation', 'pod-creation', 'pod-reachability'] as const;
export type Measurement = (typeof MEASUREMENTS)[number];

/** The goal: every measurement's p99 at or under this. */
export const GOAL_P99_MS = 1000;

export interface SampleSet {
  /** Latencies of the samples that succeeded, ms, in the order taken. */
  readonly ms: readonly number[];
  /** Samples that had not succeeded when their timeout ran out. */
  readonly timeouts: number;
}

export interface Summary {
  readonly datastore: string;
  readonly measurement: Measurement;
  readonly samples: number;
  readonly timeouts: number;
  /** null: the percentile falls on a timed-out sample (more than the timeout), or there are no samples. */
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly max: number | null;
  readonly goalMet: boolean;
}

export interface SyncBenchMeta {
  readonly nodes: number;
  readonly targetPods: number;
  readonly loadPolicies: number;
  readonly loadRate: number;
  readonly timeoutMs: number;
  readonly probeIntervalMs: number;
  /** Whether the agents ran in strict mode. */
  readonly strict: boolean;
  readonly elapsedS: number;
}

/** What one datastore's run observed besides the latencies: evidence that the load really landed. */
export interface DatastoreRun {
  readonly datastore: string;
  /** Load policies written, and the seconds the writes took (the rate actually achieved). */
  readonly loadWritten: number;
  readonly loadSeconds: number;
  /** Policy-creation samples taken while load policies were still being written. */
  readonly samplesUnderLoad: number;
  /** Per agent: policies in its last sync once the load was written (should be all of them). */
  readonly agentPolicies: readonly { readonly node: string; readonly policies: number }[];
  /** What went wrong in samples counted as timeouts (e.g. a refused CNI ADD), in order. */
  readonly incidents: readonly string[];
  readonly samples: Readonly<Record<Measurement, SampleSet>>;
}

export interface SyncBenchResult {
  readonly summaries: readonly Summary[];
  readonly runs: readonly DatastoreRun[];
  readonly meta: SyncBenchMeta;
}

/**
 * Percentile (stats.ts: nearest rank) over the successes plus `timeouts` samples of unknown size above
 * all of them; null when it lands on one of those, or when there are no samples at all.
 */
export function percentile(set: SampleSet, p: number): number | null {
  return stats.percentile(set.ms, p, set.timeouts) ?? null;
}

const r1 = (x: number | null): number | null => (x === null ? null : Math.round(x * 10) / 10);

export function summarize(datastore: string, measurement: Measurement, set: SampleSet): Summary {
  const p99 = percentile(set, 99);
  return {
    datastore,
    measurement,
    samples: set.ms.length + set.timeouts,
    timeouts: set.timeouts,
    p50: r1(percentile(set, 50)),
    p90: r1(percentile(set, 90)),
    p99: r1(p99),
    max: r1(percentile(set, 100)),
    goalMet: p99 !== null && p99 <= GOAL_P99_MS,
  };
}

export function summarizeRuns(runs: readonly DatastoreRun[]): Summary[] {
  return runs.flatMap((r) => MEASUREMENTS.map((m) => summarize(r.datastore, m, r.samples[m])));
}

/** What each measurement times, for the table's footnotes. */
export const DEFINITIONS: Readonly<Record<Measurement, string>> = {
  'policy-creation': 'allow policy written to the datastore -> first successful connection',
  'pod-creation': 'Pod object written (no IP yet) -> netns, CNI ADD, server -> first successful connection',
  'pod-reachability': "pod's IP written to the datastore -> first successful connection (clusterloader2's)",
};

export function formatSyncTable(result: SyncBenchResult): string {
  const timeout = result.meta.timeoutMs;
  const cell = (x: number | null, samples: number): string =>
    samples === 0 ? '-' : x === null ? `>${timeout}` : x.toFixed(1);
  const head = [
    'datastore',
    'measurement',
    'samples',
    'timeouts',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'max ms',
    'goal',
  ];
  const rows = result.summaries.map((s) => [
    s.datastore,
    s.measurement,
    String(s.samples),
    String(s.timeouts),
    cell(s.p50, s.samples),
    cell(s.p90, s.samples),
    cell(s.p99, s.samples),
    cell(s.max, s.samples),
    `${s.goalMet ? 'met' : 'MISSED'} p99 <= ${GOAL_P99_MS} ms`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const m = result.meta;
  const notes = [
    '',
    `${m.nodes} nodes, ${m.targetPods} target pods; load: ${m.loadPolicies} policies at ${m.loadRate}/s; ` +
      `probes every ${m.probeIntervalMs} ms; timeout ${timeout} ms; agents ${m.strict ? 'strict' : '--no-strict'}; ${m.elapsedS} s`,
    ...result.runs.map(
      (r) =>
        `${r.datastore}: ${r.loadWritten} load policies in ${r.loadSeconds} s, ` +
        `${r.samplesUnderLoad} policy samples under load; agents saw ` +
        r.agentPolicies.map((a) => `${a.node}=${a.policies}`).join(' ') +
        ' policies' +
        (r.incidents.length === 0 ? '' : `; ${r.incidents.length} incidents, first: ${r.incidents[0]}`),
    ),
    ...MEASUREMENTS.map((k) => `${k}: ${DEFINITIONS[k]}`),
  ];
  return [line(head), ...rows.map(line), ...notes].join('\n') + '\n';
}
