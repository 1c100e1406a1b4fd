import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asAnalyzed, sourceGroups } from '../../src/cli/lab-probe-http.js';

void describe('lab probe --http helpers', () => {
  void it('sourceGroups: consecutive groups of about perGroup cells, at least one source each', () => {
    assert.deepEqual(sourceGroups([1, 2, 3, 4, 5], 2, 4), [[1, 2], [3, 4], [5]]);
    assert.deepEqual(sourceGroups([1, 2, 3], 100, 4), [[1], [2], [3]]);
    assert.deepEqual(sourceGroups([1, 2, 3], 0, 4), [[1, 2, 3]]);
    assert.deepEqual(sourceGroups([], 3, 4), []);
  });
  void it('asAnalyzed prints the fields of analyze matrix --http only, in its order', () => {
    const m = asAnalyzed({
      pods: ['x/a'],
      results: [
        {
          response: 'error',
          error: 'why',
          allowed: false,
          protocol: 'TCP',
          port: 80,
          to: 'x/a',
          from: 'x/a',
        },
      ],
    });
    assert.equal(
      JSON.stringify(m),
      '{"pods":["x/a"],"results":[{"from":"x/a","to":"x/a","port":80,"protocol":"TCP","allowed":false,"response":"error"}]}',
    );
  });
});
