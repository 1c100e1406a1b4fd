// The agents' restart back-off (src/lab/restart-backoff.ts): fast first, doubling in a crash loop up to
// the cap, starting over after a long quiet spell.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RESTART_BACKOFF_CAP_MS, RestartBackoff } from '../../src/lab/restart-backoff.js';

describe('restart back-off', () => {
  it('restarts the first exit well within a second', () => {
    assert.ok(new RestartBackoff().next(0) <= 500);
  });

  it('doubles in a crash loop up to the cap, and stays there', () => {
    const b = new RestartBackoff();
    let now = 0;
    const waits: number[] = [];
    for (let i = 0; i < 10; i++) {
      const wait = b.next(now);
      waits.push(wait);
      now += wait + 100; // the process dies 100 ms after each restart
    }
    assert.deepEqual(waits, [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000, 10_000]);
    assert.equal(Math.max(...waits), RESTART_BACKOFF_CAP_MS);
  });

  it('starts over when the previous exit is more than twice the cap ago', () => {
    const b = new RestartBackoff(1000);
    assert.deepEqual([b.next(0), b.next(100), b.next(200)], [200, 400, 800]);
    assert.equal(b.next(200 + 2000), 1000, 'exactly twice the cap: still in the loop');
    assert.equal(b.next(200 + 2000 + 2001), 200);
  });
});
