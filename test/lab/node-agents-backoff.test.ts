// The node agents' restart schedule (src/lab/node-agents.ts agentRestartBackoff, on util/backoff.ts):
// fast first, doubling in a crash loop up to the cap, starting over after an agent that ran a while.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RESTART_BACKOFF_CAP_MS, agentRestartBackoff } from '../../src/lab/node-agents.js';

void describe('agent restart back-off', () => {
  void it('restarts the first exit well within a second', () => {
    assert.ok(agentRestartBackoff().next(0) <= 500);
  });

  void it('doubles in a crash loop up to the cap, and stays there', () => {
    const b = agentRestartBackoff();
    const waits = Array.from({ length: 10 }, () => b.next(100)); // each agent dies 100 ms after its start
    assert.deepEqual(waits, [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000, 10_000]);
    assert.equal(Math.max(...waits), RESTART_BACKOFF_CAP_MS);
  });

  void it('starts over after an agent that ran more than twice the cap', () => {
    const b = agentRestartBackoff(1000);
    assert.deepEqual([b.next(0), b.next(100), b.next(200)], [200, 400, 800]);
    assert.equal(b.next(2000), 1000, 'exactly twice the cap: still in the loop');
    assert.equal(b.next(2001), 200);
  });
});
