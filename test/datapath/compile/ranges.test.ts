import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Box } from '../../../src/datapath/compile/boxes.js';
import { disjointUnion } from '../../../src/datapath/compile/boxes.js';
import {
  cidrRange,
  formatRange,
  normalizeRanges,
  rangeToCidrs,
  subtractRanges,
} from '../../../src/datapath/compile/ranges.js';
import type { AddrRange } from '../../../src/datapath/compile/ranges.js';

const r = (text: string): AddrRange => {
  const x = cidrRange(text);
  assert.ok(x, text);
  return x;
};

describe('address ranges', () => {
  const cases: { name: string; got: () => string[]; want: string[] }[] = [
    {
      name: 'except holes split a block',
      got: () => subtractRanges([r('10.0.0.0/24')], [r('10.0.0.128/25'), r('10.0.0.16/28')]).map(formatRange),
      want: ['10.0.0.0/28', '10.0.0.32-10.0.0.127'],
    },
    {
      name: 'a hole outside the block changes nothing',
      got: () => subtractRanges([r('10.0.0.0/24')], [r('10.1.0.0/16')]).map(formatRange),
      want: ['10.0.0.0/24'],
    },
    {
      name: 'touching and overlapping ranges join',
      got: () => normalizeRanges([r('10.0.0.2/31'), r('10.0.0.0/31'), r('10.0.0.3/32')]).map(formatRange),
      want: ['10.0.0.0/30'],
    },
    {
      name: 'families never join',
      got: () => normalizeRanges([r('::/0'), r('0.0.0.0/0')]).map(formatRange),
      want: ['0.0.0.0/0', '::/0'],
    },
    {
      name: 'a range becomes the fewest CIDRs',
      got: () => rangeToCidrs({ family: 4, lo: r('10.0.0.1/32').lo, hi: r('10.0.0.6/32').lo }),
      want: ['10.0.0.1/32', '10.0.0.2/31', '10.0.0.4/31', '10.0.0.6/32'],
    },
    { name: 'the whole space is one CIDR', got: () => rangeToCidrs(r('::/0')), want: ['::/0'] },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(c.got(), c.want));
});

describe('disjointUnion', () => {
  const box = (...iv: [number, number][]): Box => iv.map(([a, b]) => [BigInt(a), BigInt(b)] as const);
  const cases: { name: string; input: Box[]; want: Box[] }[] = [
    { name: 'nothing', input: [], want: [] },
    {
      name: 'a box inside another disappears',
      input: [box([0, 10], [6, 6]), box([2, 3], [6, 6])],
      want: [box([0, 10], [6, 6])],
    },
    {
      name: 'partial overlap on the second dimension splits the first',
      input: [box([0, 9], [80, 80]), box([5, 14], [81, 81])],
      want: [box([0, 4], [80, 80]), box([5, 9], [80, 81]), box([10, 14], [81, 81])],
    },
    {
      name: 'neighbours with the same ports join',
      input: [box([1, 1], [80, 80]), box([2, 2], [80, 80]), box([4, 4], [80, 80])],
      want: [box([1, 2], [80, 80]), box([4, 4], [80, 80])],
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(disjointUnion(c.input), c.want));

  it('covers exactly the input points, without overlaps (property)', () => {
    const iv = fc
      .tuple(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 4 }))
      .map(([a, l]) => [a, a + l] as [number, number]);
    fc.assert(
      fc.property(fc.array(fc.tuple(iv, iv, iv), { maxLength: 6 }), (raw) => {
        const input = raw.map((b) => box(...b));
        const out = disjointUnion(input);
        const inBox = (b: Box, p: bigint[]): boolean =>
          b.every(([lo, hi], i) => lo <= (p[i] as bigint) && (p[i] as bigint) <= hi);
        for (let x = 0n; x <= 16n; x++)
          for (let y = 0n; y <= 16n; y++)
            for (let z = 0n; z <= 16n; z += 3n) {
              const p = [x, y, z];
              const want = input.some((b) => inBox(b, p));
              const hits = out.filter((b) => inBox(b, p)).length;
              if (hits !== (want ? 1 : 0)) return false;
            }
        return true;
      }),
      { numRuns: 200 },
    );
  });
});
