/**
 * The benchmarks' statistics, one convention for all of them (`bench datapath`, `bench sync`,
 * `bench cni`). Percentiles are by nearest rank: the smallest sample with at least p% of the samples at or
 * under it. Not linear interpolation, because a nearest-rank figure is always a latency that was really
 * measured, and because it stays defined when some samples are only known to lie above all the others
 * (`bench sync` counts a timed-out wait that way): a percentile that lands on one of them is unknown.
 */

/**
 * Percentile `p` (0 < p ≤ 100) of `samples` (any order) plus `unknownAbove` samples larger than every one
 * of them; undefined when there is no sample or the rank falls on an unknown one.
 */
export function percentile(samples: readonly number[], p: number, unknownAbove = 0): number | undefined {
  const n = samples.length + unknownAbove;
  if (n === 0) return undefined;
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  if (rank > samples.length) return undefined;
  return [...samples].sort((a, b) => a - b)[rank - 1];
}

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** How far the samples lie apart relative to their size: (max − min) ÷ mean. */
export function spread(xs: readonly number[]): number {
  return (Math.max(...xs) - Math.min(...xs)) / mean(xs);
}
