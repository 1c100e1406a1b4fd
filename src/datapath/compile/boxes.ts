/**
 * Disjoint unions and differences of boxes (one closed interval per dimension). A concatenated interval set
 * in the kernel (nft_set_pipapo) refuses an element that partly overlaps one already there, and a canonical
 * element list makes two compiles of the same policy diff to nothing; so every set's elements go through
 * `difference` / `disjointUnion` first. The difference is also what keeps the datapath exact without runtime
 * negation: a rule's `notPeers`/`notPorts`, and the earlier rules of a policy that already decided, are
 * subtracted at compile time (see tier-plan.ts). Pure.
 */
export type Interval = readonly [bigint, bigint];
export type Box = readonly Interval[];

/**
 * Boxes covering exactly the union of the input, pairwise disjoint, sorted by their first dimension, and
 * with neighbours along the first dimension joined when the rest of the box is the same.
 */
export function disjointUnion(boxes: readonly Box[]): Box[] {
  return difference(boxes, []);
}

/**
 * Every point of some box of `pos` that lies in no box of `neg`, in the canonical form of `disjointUnion`.
 * Sweeps the first dimension over the elementary segments of both lists and recurses into the others for
 * each segment that some positive box covers, so the cost follows the boxes that overlap, not |pos|×|neg|.
 */
export function difference(pos: readonly Box[], neg: readonly Box[]): Box[] {
  const dims = pos[0]?.length ?? 0;
  return sweep(pos, neg, 0, dims);
}

const byLo =
  (dim: number) =>
  (a: Box, b: Box): number => {
    const x = (a[dim] as Interval)[0];
    const y = (b[dim] as Interval)[0];
    return x < y ? -1 : x > y ? 1 : 0;
  };

function sweep(pos: readonly Box[], neg: readonly Box[], dim: number, dims: number): Box[] {
  if (pos.length === 0) return [];
  if (dim === dims) return neg.length === 0 ? [[]] : [];
  const lo = (b: Box): bigint => (b[dim] as Interval)[0];
  const hi = (b: Box): bigint => (b[dim] as Interval)[1];
  const posSorted = [...pos].sort(byLo(dim));
  // Negative boxes only matter where a positive one is: the rest would only add segments.
  const minLo = lo(posSorted[0] as Box);
  const maxHi = pos.reduce((m, b) => (hi(b) > m ? hi(b) : m), hi(pos[0] as Box));
  const negSorted = neg.filter((b) => hi(b) >= minLo && lo(b) <= maxHi).sort(byLo(dim));
  const points = [...new Set([...pos, ...negSorted].flatMap((b) => [lo(b), hi(b) + 1n]))].sort((a, b) =>
    a < b ? -1 : a > b ? 1 : 0,
  );

  const out: { lo: bigint; hi: bigint; key: string; rest: Box[] }[] = [];
  let activePos: Box[] = [];
  let activeNeg: Box[] = [];
  let nextPos = 0;
  let nextNeg = 0;
  for (let i = 0; i + 1 < points.length; i++) {
    const start = points[i] as bigint;
    const end = (points[i + 1] as bigint) - 1n;
    while (nextPos < posSorted.length && lo(posSorted[nextPos] as Box) <= start)
      activePos.push(posSorted[nextPos++] as Box);
    while (nextNeg < negSorted.length && lo(negSorted[nextNeg] as Box) <= start)
      activeNeg.push(negSorted[nextNeg++] as Box);
    activePos = activePos.filter((b) => hi(b) >= start);
    if (activePos.length === 0) continue;
    activeNeg = activeNeg.filter((b) => hi(b) >= start);
    const rest = sweep(activePos, activeNeg, dim + 1, dims);
    if (rest.length === 0) continue;
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
