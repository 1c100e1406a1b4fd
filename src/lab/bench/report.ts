/**
 * Results of the datapath benchmark: ratios against `none` of the same run, the goals, and the
 * table. Pure. `none` runs twice per rule count (before and after the filtering datapaths), and its
 * figure is the mean of the two, so a drift of the noisy box over the minutes of one rule count weighs on
 * both sides alike.
 */
import { BACKEND_NAMES } from '../../datapath/registry.js';
import type { BackendName } from '../../datapath/registry.js';
import type { DatapathKind } from '../enforce.js';
import { mean, spread } from './stats.js';

export type Placement = 'same-node' | 'cross-node';

export interface BenchRun {
  readonly n: number;
  readonly datapath: DatapathKind;
  /** `none` runs in rounds 1..repeat+1, the filtering datapaths in rounds 1..repeat (run.ts). */
  readonly round: number;
  readonly placement: Placement;
  readonly throughput_gbps: number;
  /** New connections (short HTTP requests) per second. */
  readonly conn_rate: number;
  readonly conn_failed: number;
  readonly latency_ms_p50: number;
  readonly latency_ms_p90: number;
  /** Wall time to program the N-entry rule set from empty; null for `none`. */
  readonly program_ms: number | null;
  /** Wall time to apply one edited small policy on top of the N entries; null for `none`. */
  readonly change_ms: number | null;
  /** The same two, by the slowest node's own clock (enforceLab's per-node time). */
  readonly program_applier_ms: number | null;
  readonly change_applier_ms: number | null;
}

export interface BenchRatio {
  readonly n: number;
  readonly datapath: BackendName;
  readonly placement: Placement;
  /**
   * Mean of the datapath's runs ÷ mean of the `none` runs of the same N and placement: above 1 is better
   * for throughput and rate, worse for latency.
   */
  readonly throughput: number;
  readonly conn_rate: number;
  readonly latency_p50: number;
  /**
   * How far the `none` runs of this N and placement lie apart, (max − min) ÷ mean: the run's own noise.
   * A ratio closer to 1 than this says nothing.
   */
  readonly none_spread_throughput: number;
  readonly none_spread_conn_rate: number;
}

export interface BenchGoal {
  readonly goal: string;
  readonly value: number;
  readonly target: string;
  readonly met: boolean;
}

export interface BenchResult {
  readonly runs: readonly BenchRun[];
  readonly ratios: readonly BenchRatio[];
  readonly goals: readonly BenchGoal[];
  readonly meta: {
    readonly rules: readonly number[];
    readonly seconds: number;
    readonly concurrency: number;
    readonly latencyCount: number;
    readonly repeat: number;
    readonly httpClient: string;
    readonly iptables: string;
    readonly order: string;
    readonly elapsedS: number;
  };
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Means over the rounds of one datapath at one N and placement. */
export interface Aggregate {
  readonly runs: number;
  readonly throughput: number;
  readonly connRate: number;
  readonly latency: number;
  readonly spreadThroughput: number;
  readonly spreadConnRate: number;
  readonly programMs: number | null;
  readonly changeMs: number | null;
  readonly programApplierMs: number | null;
  readonly changeApplierMs: number | null;
}

const meanOrNull = (xs: readonly (number | null)[]): number | null => {
  const known = xs.filter((x): x is number => x !== null);
  return known.length === 0 ? null : Math.round(mean(known) * 10) / 10;
};

export function aggregate(
  runs: readonly BenchRun[],
  n: number,
  datapath: DatapathKind,
  placement: Placement,
): Aggregate | undefined {
  const of = runs.filter((r) => r.n === n && r.placement === placement && r.datapath === datapath);
  if (of.length === 0) return undefined;
  return {
    runs: of.length,
    throughput: mean(of.map((r) => r.throughput_gbps)),
    connRate: mean(of.map((r) => r.conn_rate)),
    latency: mean(of.map((r) => r.latency_ms_p50)),
    spreadThroughput: spread(of.map((r) => r.throughput_gbps)),
    spreadConnRate: spread(of.map((r) => r.conn_rate)),
    programMs: meanOrNull(of.map((r) => r.program_ms)),
    changeMs: meanOrNull(of.map((r) => r.change_ms)),
    programApplierMs: meanOrNull(of.map((r) => r.program_applier_ms)),
    changeApplierMs: meanOrNull(of.map((r) => r.change_applier_ms)),
  };
}

function keys(runs: readonly BenchRun[]): { n: number; placement: Placement }[] {
  const seen = new Map<string, { n: number; placement: Placement }>();
  for (const r of runs) seen.set(`${r.n} ${r.placement}`, { n: r.n, placement: r.placement });
  return [...seen.values()];
}

export function ratios(runs: readonly BenchRun[]): BenchRatio[] {
  const out: BenchRatio[] = [];
  for (const { n, placement } of keys(runs)) {
    const base = aggregate(runs, n, 'none', placement);
    if (!base) continue;
    for (const datapath of BACKEND_NAMES) {
      const dp = aggregate(runs, n, datapath, placement);
      if (!dp) continue;
      out.push({
        n,
        datapath,
        placement,
        throughput: r3(dp.throughput / base.throughput),
        conn_rate: r3(dp.connRate / base.connRate),
        latency_p50: r3(dp.latency / base.latency),
        none_spread_throughput: r3(base.spreadThroughput),
        none_spread_conn_rate: r3(base.spreadConnRate),
      });
    }
  }
  return out;
}

/** The goals for nftables, for the rule counts that were run. */
export function goals(runs: readonly BenchRun[], rs: readonly BenchRatio[]): BenchGoal[] {
  const out: BenchGoal[] = [];
  const nft = rs.filter((r) => r.datapath === 'nftables');
  for (const [n, min] of [
    [10_000, 0.9],
    [100_000, 0.85],
  ] as const) {
    for (const r of nft.filter((x) => x.n === n)) {
      out.push({
        goal: `nftables conn rate vs none, ${n} rules, ${r.placement}`,
        value: r.conn_rate,
        target: `>= ${min}`,
        met: r.conn_rate >= min,
      });
    }
  }
  const worst = nft.reduce<BenchRatio | undefined>(
    (w, r) => (w === undefined || r.throughput < w.throughput ? r : w),
    undefined,
  );
  if (worst) {
    out.push({
      goal: `nftables throughput vs none, worst (${worst.n} rules, ${worst.placement})`,
      value: worst.throughput,
      target: '>= 0.95',
      met: worst.throughput >= 0.95,
    });
  }
  const at10k = aggregate(runs, 10_000, 'nftables', 'same-node');
  if (at10k?.programMs != null) {
    out.push({
      goal: 'nftables: program 10000 rules (ms, wall)',
      value: at10k.programMs,
      target: '<= 1000',
      met: at10k.programMs <= 1000,
    });
  }
  if (at10k?.changeMs != null) {
    out.push({
      goal: 'nftables: change one policy at 10000 rules (ms, wall)',
      value: at10k.changeMs,
      target: '<= 50',
      met: at10k.changeMs <= 50,
    });
  }
  return out;
}

function pad(cells: readonly string[][]): string {
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length))) ?? [];
  return cells
    .map((row) =>
      row
        .map((c, i) => (i < 3 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const fix = (x: number, digits: number): string => x.toFixed(digits);
const ratioText = (x: number | undefined): string => (x === undefined ? '' : ` (${x.toFixed(2)}x)`);
const spreadText = (x: number): string => ` ±${Math.round((x * 100) / 2)}%`;
const msText = (wall: number | null, applier: number | null): string =>
  wall === null ? '-' : `${Math.round(wall)}/${Math.round(applier ?? 0)}`;

/** One row per rule count × placement × datapath, each the mean of its rounds. */
export function formatTable(result: BenchResult): string {
  const rows: string[][] = [
    ['rules', 'placement', 'datapath', 'Gbit/s', 'conn/s', 'connect p50 ms', 'program ms', 'change ms'],
  ];
  for (const n of result.meta.rules) {
    for (const placement of ['same-node', 'cross-node'] as const) {
      const base = aggregate(result.runs, n, 'none', placement);
      if (base) {
        rows.push([
          String(n),
          placement,
          `none (${base.runs} runs)`,
          fix(base.throughput, 2) + spreadText(base.spreadThroughput),
          fix(base.connRate, 0) + spreadText(base.spreadConnRate),
          fix(base.latency, 3),
          '-',
          '-',
        ]);
      }
      for (const dp of BACKEND_NAMES) {
        const agg = aggregate(result.runs, n, dp, placement);
        if (!agg) continue;
        const ratio = result.ratios.find((r) => r.n === n && r.placement === placement && r.datapath === dp);
        rows.push([
          String(n),
          placement,
          dp,
          fix(agg.throughput, 2) + ratioText(ratio?.throughput),
          fix(agg.connRate, 0) + ratioText(ratio?.conn_rate),
          fix(agg.latency, 3) + ratioText(ratio?.latency_p50),
          msText(agg.programMs, agg.programApplierMs),
          msText(agg.changeMs, agg.changeApplierMs),
        ]);
      }
    }
  }
  const m = result.meta;
  const notes = [
    `ratios: mean of the datapath's runs vs mean of the none runs of the same rule count (order per ` +
      `rule count: ${m.order}); ±: half the spread of the none runs, the run's own noise.`,
    `program/change ms: wall / slowest node's own time. ${m.seconds} s per client run, ${m.concurrency} ` +
      `concurrent ${m.httpClient} clients, p50 of ${m.latencyCount} sequential connects; iptables = ` +
      `${m.iptables}; ${m.elapsedS} s in all.`,
  ];
  const goalLines = result.goals.map(
    (g) => `${g.met ? 'met    ' : 'MISSED '} ${g.goal}: ${g.value} (goal ${g.target})`,
  );
  return [pad(rows), '', ...notes, ...(goalLines.length > 0 ? ['', ...goalLines] : [])].join('\n') + '\n';
}
