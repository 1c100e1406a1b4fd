import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mean, percentile, spread } from '../../src/lab/bench/stats.js';

void describe('bench percentile (nearest rank, one convention for every benchmark)', () => {
  const cases: { name: string; xs: number[]; p: number; unknown?: number; want: number | undefined }[] = [
    { name: 'p50 of an even count is the lower middle', xs: [1, 2, 3, 4], p: 50, want: 2 },
    { name: 'p50 of an odd count is the middle', xs: [1, 2, 3, 4, 5], p: 50, want: 3 },
    { name: 'no samples: no percentile', xs: [], p: 50, want: undefined },
    { name: 'order of the samples does not matter', xs: [4, 1, 3, 2], p: 75, want: 3 },
    { name: 'p100 is the max', xs: [3, 9, 1], p: 100, want: 9 },
    { name: 'a tiny p is the min', xs: [3, 9, 1], p: 0.001, want: 1 },
    { name: 'an unknown sample above all sorts last', xs: [1, 2, 3], p: 99, unknown: 1, want: undefined },
    { name: 'an unknown sample leaves low ranks alone', xs: [1, 2, 3], p: 50, unknown: 1, want: 2 },
  ];
  for (const c of cases) {
    void it(c.name, () => assert.equal(percentile(c.xs, c.p, c.unknown), c.want));
  }
  void it('does not reorder its input', () => {
    const xs = [3, 1, 2];
    percentile(xs, 50);
    assert.deepEqual(xs, [3, 1, 2]);
  });
});

void describe('mean and spread', () => {
  void it('mean', () => assert.equal(mean([1, 2, 6]), 3));
  void it('spread is (max − min) ÷ mean', () => assert.equal(spread([2, 4, 6]), 1));
});
