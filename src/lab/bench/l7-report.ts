/**
 * `bench l7`'s results (pure): one run per row × placement × round, ratios to `none` and to `bare` taken
 * within each round (the rows of one round are measured back to back, so a drift of the noisy box weighs
 * on both sides of a ratio alike), the median over rounds with min–max, the issue's goals, and the table.
 */
import { percentile } from './stats.js';
import type { Placement } from './l7-manifests.js';

export interface L7Run {
  readonly row: string;
  readonly placement: Placement;
  readonly round: number;
  /** wrk at saturation. */
  readonly rps: number;
  readonly requests: number;
  readonly failed: number;
  /** hey at the fixed rate (half of this round's `none` saturation). */
  readonly rate: number;
  readonly rate_achieved: number;
  readonly p50_ms: number | null;
  readonly p99_ms: number | null;
  readonly rate_failed: number;
  /**
   * hey at the low rate: half of this round's `bare` saturation, which every row can hold (the proxy hop
   * itself saturates below half of `none` on a 2-core box, so `rate` measures a queue there); null without
   * a bare row.
   */
  readonly low_rate: number | null;
  readonly low_p50_ms: number | null;
  readonly low_p99_ms: number | null;
  readonly low_rate_failed: number;
  /** CPU ms of the server node's haproxy processes per 1000 requests during the wrk run; null: none ran. */
  readonly haproxy_cpu_ms_per_1k: number | null;
}

export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export interface L7Summary {
  readonly row: string;
  readonly placement: Placement;
  readonly rounds: number;
  readonly rps: Spread;
  readonly p50_ms: Spread | null;
  readonly p99_ms: Spread | null;
  readonly low_p50_ms: Spread | null;
  readonly low_p99_ms: Spread | null;
  readonly haproxy_cpu_ms_per_1k: Spread | null;
  readonly rate_achieved: Spread;
  readonly failed: number;
  /** Medians over rounds of this row's figure ÷ that of `none` / `bare` in the same round. */
  readonly vs_none: Ratios;
  readonly vs_bare: Ratios | null;
}

export type Ratios = Readonly<Record<Figure, Spread | null>>;

export interface ChurnResult {
  readonly row: string;
  readonly placement: Placement;
  readonly updates: number;
  readonly updates_s: number;
  readonly requests: number;
  readonly failed: number;
  /** `failed` by kind (wrk's: status = non-2xx/3xx answers; connect, read, write, timeout). */
  readonly errors: Readonly<Record<string, number>>;
  /** The server node's HAProxy counters gained meanwhile (l7-proxy-counters.ts); null if it did not answer. */
  readonly proxy: Readonly<Record<string, number>> | null;
}

export interface L7Goal {
  readonly goal: string;
  readonly value: number;
  readonly target: string;
  readonly met: boolean;
}

export interface L7BenchResult {
  readonly command: string;
  readonly runs: readonly L7Run[];
  readonly summary: readonly L7Summary[];
  readonly churn: ChurnResult | null;
  readonly goals: readonly L7Goal[];
  readonly meta: {
    readonly rows: readonly string[];
    readonly placements: readonly Placement[];
    readonly seconds: number;
    readonly repeat: number;
    readonly wrk: string;
    readonly fixedRate: string;
    readonly elapsedS: number;
  };
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;

export function spreadOf(xs: readonly number[]): Spread | null {
  if (xs.length === 0) return null;
  return { median: r3(percentile(xs, 50) ?? NaN), min: r3(Math.min(...xs)), max: r3(Math.max(...xs)) };
}

const FIGURES = ['rps', 'p50_ms', 'p99_ms', 'low_p50_ms', 'low_p99_ms', 'haproxy_cpu_ms_per_1k'] as const;
type Figure = (typeof FIGURES)[number];
const NO_RATIOS: Ratios = Object.fromEntries(FIGURES.map((f) => [f, null])) as Ratios;

function ratiosTo(runs: readonly L7Run[], of: readonly L7Run[], base: string): Ratios | null {
  const out: Partial<Record<Figure, Spread | null>> = {};
  let any = false;
  for (const f of FIGURES) {
    const xs: number[] = [];
    for (const r of of) {
      const b = runs.find((x) => x.row === base && x.placement === r.placement && x.round === r.round);
      const num = r[f];
      const den = b?.[f];
      if (b !== undefined) any = true;
      if (num !== null && den !== null && den !== undefined && den > 0) xs.push(num / den);
    }
    out[f] = spreadOf(xs);
  }
  if (!any) return null;
  return { ...NO_RATIOS, ...out };
}

const known = (xs: readonly (number | null)[]): number[] => xs.filter((x): x is number => x !== null);

export function summarize(runs: readonly L7Run[], rows: readonly string[], placements: readonly Placement[]) {
  const out: L7Summary[] = [];
  for (const row of rows) {
    for (const placement of placements) {
      const of = runs.filter((r) => r.row === row && r.placement === placement);
      const rps = spreadOf(of.map((r) => r.rps));
      const achieved = spreadOf(of.map((r) => r.rate_achieved));
      if (rps === null || achieved === null) continue;
      out.push({
        row,
        placement,
        rounds: of.length,
        rps,
        p50_ms: spreadOf(known(of.map((r) => r.p50_ms))),
        p99_ms: spreadOf(known(of.map((r) => r.p99_ms))),
        low_p50_ms: spreadOf(known(of.map((r) => r.low_p50_ms))),
        low_p99_ms: spreadOf(known(of.map((r) => r.low_p99_ms))),
        haproxy_cpu_ms_per_1k: spreadOf(known(of.map((r) => r.haproxy_cpu_ms_per_1k))),
        rate_achieved: achieved,
        failed: of.reduce((a, r) => a + r.failed + r.rate_failed + r.low_rate_failed, 0),
        vs_none: ratiosTo(runs, of, 'none') ?? NO_RATIOS,
        vs_bare: ratiosTo(runs, of, 'bare'),
      });
    }
  }
  return out;
}

/** The issue's goals, for what was run. */
export function l7Goals(
  runs: readonly L7Run[],
  summary: readonly L7Summary[],
  churn: ChurnResult | null,
): L7Goal[] {
  const out: L7Goal[] = [];
  for (const s of summary.filter((x) => x.row.startsWith('l7-'))) {
    const vs = s.vs_bare?.rps?.median;
    if (vs !== undefined)
      out.push({
        goal: `${s.row} req/s vs bare hop, ${s.placement}`,
        value: vs,
        target: '>= 0.95',
        met: vs >= 0.95,
      });
    for (const [figure, at] of [
      ['p99_ms', "the fixed rate (half of none's req/s)"],
      ['low_p99_ms', "the low rate (half of bare's req/s)"],
    ] as const) {
      // Per round: the row's p99 minus none's p99 of the same round; the median over rounds.
      const deltas = runs
        .filter((r) => r.row === s.row && r.placement === s.placement)
        .flatMap((r) => {
          const b = runs.find((x) => x.row === 'none' && x.placement === r.placement && x.round === r.round);
          const mine = r[figure];
          const base = b?.[figure];
          return mine === null || base == null ? [] : [mine - base];
        });
      const d = spreadOf(deltas)?.median;
      if (d !== undefined)
        out.push({
          goal: `${s.row} p99 at ${at} minus none's (ms), ${s.placement}`,
          value: Math.round(d * 100) / 100,
          target: '<= 1',
          met: d <= 1,
        });
    }
  }
  for (const placement of new Set(summary.map((s) => s.placement))) {
    const one = runs.filter((r) => r.row === 'l7-1' && r.placement === placement);
    const xs = runs
      .filter((r) => r.row === 'l7-1000' && r.placement === placement)
      .flatMap((r) => {
        const b = one.find((x) => x.round === r.round);
        return b === undefined || b.rps === 0 ? [] : [r.rps / b.rps];
      });
    const m = spreadOf(xs)?.median;
    if (m !== undefined)
      out.push({ goal: `l7-1000 req/s vs l7-1, ${placement}`, value: m, target: '>= 0.9', met: m >= 0.9 });
  }
  if (churn !== null)
    out.push({
      goal: `failed requests during ${churn.updates} policy updates (${churn.row}, ${churn.placement})`,
      value: churn.failed,
      target: '= 0',
      met: churn.failed === 0,
    });
  return out;
}

function pad(cells: readonly string[][], leftColumns: number): string {
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length))) ?? [];
  return cells
    .map((row) =>
      row
        .map((c, i) => (i < leftColumns ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const num = (x: number, digits: number): string => x.toFixed(digits);
function withRange(s: Spread | null, digits: number, rounds: number): string {
  if (s === null) return '-';
  return rounds > 1
    ? `${num(s.median, digits)} [${num(s.min, digits)}-${num(s.max, digits)}]`
    : num(s.median, digits);
}
const ratio = (s: Spread | null | undefined): string => (s == null ? '-' : `${s.median.toFixed(2)}x`);

export function formatL7Table(result: L7BenchResult): string {
  const rows: string[][] = [
    [
      'row',
      'placement',
      'req/s',
      'vs none',
      'vs bare',
      'p50 ms',
      'p99 ms',
      'p99 vs none',
      'p99 vs bare',
      'held req/s',
      'low: p50 ms',
      'p99 ms',
      'p99 vs none',
      'haproxy ms/1k req',
      'vs bare',
      'failed',
    ],
  ];
  for (const s of result.summary) {
    rows.push([
      s.row,
      s.placement,
      withRange(s.rps, 0, s.rounds),
      ratio(s.vs_none.rps),
      ratio(s.vs_bare?.rps),
      withRange(s.p50_ms, 2, s.rounds),
      withRange(s.p99_ms, 2, s.rounds),
      ratio(s.vs_none.p99_ms),
      ratio(s.vs_bare?.p99_ms),
      num(s.rate_achieved.median, 0),
      withRange(s.low_p50_ms, 2, s.rounds),
      withRange(s.low_p99_ms, 2, s.rounds),
      ratio(s.vs_none.low_p99_ms),
      withRange(s.haproxy_cpu_ms_per_1k, 1, s.rounds),
      ratio(s.vs_bare?.haproxy_cpu_ms_per_1k),
      String(s.failed),
    ]);
  }
  const m = result.meta;
  const lines = [
    `# ${result.command}`,
    pad(rows, 2),
    '',
    `req/s: ${m.wrk}, ${m.seconds} s per run, median [min-max] of ${m.repeat} round(s); ratios: median over ` +
      `rounds of the row vs none / bare of the same round.`,
    `p50/p99: ${m.fixedRate}; "held": the rate hey really sent; "low": the same at half of the round's ` +
      `bare req/s, a rate every row holds.`,
    `haproxy: CPU (utime+stime) of the server ` +
      `node's haproxy processes during the wrk run. failed: non-2xx/3xx + socket errors, both clients.`,
    `L7 rows: N rules GET /api/v1/items/<i>, the client asks for the last one (worst case of a first-match ` +
      `list; literal paths are exact-key lookups since src/l7/exact-table.ts). ${m.elapsedS} s in all.`,
  ];
  if (result.churn !== null) {
    const c = result.churn;
    lines.push(
      '',
      `churn: ${c.updates} policy updates (lab apply, alternating versions that both allow the GET) in ` +
        `${c.updates_s} s under wrk on ${c.row} ${c.placement}: ${c.requests} requests, ${c.failed} failed` +
        (c.failed === 0
          ? '.'
          : ` (${Object.entries(c.errors)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')}).`),
    );
    if (c.proxy !== null)
      lines.push(
        `  server node's HAProxy meanwhile: ${Object.entries(c.proxy)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      );
  }
  if (result.goals.length > 0)
    lines.push(
      '',
      ...result.goals.map((g) => `${g.met ? 'met    ' : 'MISSED '} ${g.goal}: ${g.value} (goal ${g.target})`),
    );
  return lines.join('\n') + '\n';
}
