import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RestartBackoff, backoffMs } from '../../src/util/backoff.js';

void describe('backoffMs', () => {
  void it('doubles from 200 ms and stops at 5 s by default', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 20].map((a) => backoffMs(a)),
      [200, 400, 800, 1600, 3200, 5000, 5000],
    );
  });
  void it('takes another base and cap', () => {
    assert.deepEqual(
      [0, 1, 5, 6, 7].map((a) => backoffMs(a, { baseMs: 500, maxMs: 30_000 })),
      [500, 1000, 16_000, 30_000, 30_000],
    );
  });
});

void describe('RestartBackoff', () => {
  void it('doubles on quick deaths up to the cap', () => {
    const b = new RestartBackoff({ baseMs: 500, maxMs: 30_000, healthyMs: 60_000 });
    assert.deepEqual(
      Array.from({ length: 8 }, () => b.next(10)),
      [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000],
    );
    assert.equal(b.restarts, 8);
  });
  void it('starts again from the first delay after a process that ran longer than healthyMs', () => {
    const b = new RestartBackoff({ baseMs: 500, maxMs: 30_000, healthyMs: 60_000 });
    b.next(10);
    b.next(10);
    assert.equal(b.next(60_000), 4000, 'exactly healthyMs is not yet healthy');
    assert.equal(b.next(60_001), 1000);
    assert.equal(b.restarts, 1);
  });
});
