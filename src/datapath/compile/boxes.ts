/**
 * Disjoint union of boxes (one closed interval per dimension). A concatenated interval set in the kernel
 * (nft_set_pipapo) refuses an element that partly overlaps one already there, and a canonical element list
 * makes two compiles of the same policy diff to nothing; so every set's elements go through `disjointUnion`
 * first. Pure.
 */
export type Interval = readonly [bigint, bigint];
export type Box = readonly Interval[];

/**
 * Boxes covering exactly the union of the input, pairwise disjoint, sorted by their first dimension, and
 * with neighbours along the first dimension joined when the rest of the box is the same. Sweeps the first
 * dimension and recurses into the others for each elementary segment.
 */
export function disjointUnion(boxes: readonly Box[]): Box[] {
  const dims = boxes[0]?.length ?? 0;
  return sweep(boxes, 0, dims);
}

function sweep(boxes: readonly Box[], dim: number, dims: number): Box[] {
  if (boxes.length === 0) return [];
  if (dim === dims) return [[]];
  const lo = (b: Box): bigint => (b[dim] as Interval)[0];
  const hi = (b: Box): bigint => (b[dim] as Interval)[1];
  const byLo = [...boxes].sort((a, b) => (lo(a) < lo(b) ? -1 : lo(a) > lo(b) ? 1 : 0));
  const points = [...new Set(boxes.flatMap((b) => [lo(b), hi(b) + 1n]))].sort((a, b) =>
    a < b ? -1 : a > b ? 1 : 0,
  );

  const out: { lo: bigint; hi: bigint; key: string; rest: Box[] }[] = [];
  let active: Box[] = [];
  let next = 0;
  for (let i = 0; i + 1 < points.length; i++) {
    const start = points[i] as bigint;
    const end = (points[i + 1] as bigint) - 1n;
    while (next < byLo.length && lo(byLo[next] as Box) <= start) active.push(byLo[next++] as Box);
    active = active.filter((b) => hi(b) >= start);
    if (active.length === 0) continue;
    const rest = sweep(active, dim + 1, dims);
    const key = keyOf(rest);
    const prev = out[out.length - 1];
    if (prev && prev.hi + 1n === start && prev.key === key) prev.hi = end;
    else out.push({ lo: start, hi: end, key, rest });
  }
  return out.flatMap((seg) => seg.rest.map((r): Box => [[seg.lo, seg.hi], ...r]));
}

function keyOf(boxes: readonly Box[]): string {
  return boxes.map((b) => b.map(([l, h]) => `${l}-${h}`).join('.')).join(',');
}
