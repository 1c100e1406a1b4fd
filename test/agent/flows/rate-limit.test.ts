import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FlowRateLimiter } from '../../../src/agent/index.js';

const OPTS = { perKeyRate: 2, perKeyBurst: 5, globalRate: 1000, globalBurst: 1000, maxKeys: 100 };

describe('FlowRateLimiter', () => {
  it('a flood of one key writes a bounded number of lines and accounts for every event', () => {
    const l = new FlowRateLimiter<number>(OPTS, 0);
    const written: { value: number; suppressed: number }[] = [];
    // 10,000 events in 2 seconds on one key.
    for (let i = 0; i < 10_000; i++) {
      const a = l.admit('k', i, i / 5);
      if (a) written.push(a);
    }
    for (const a of l.flush(3000)) written.push(a);
    // Burst 5 + 2/s over 2s, plus the flushed summary line.
    assert.ok(written.length <= 5 + 4 + 1, `${written.length} lines`);
    assert.ok(written.some((w) => w.suppressed > 1000));
    const accounted = written.length + written.reduce((n, w) => n + w.suppressed, 0);
    assert.equal(accounted, 10_000);
    assert.equal(written[written.length - 1]?.value, 9999, 'the summary line is the last event');
  });

  it('keys do not share buckets', () => {
    const l = new FlowRateLimiter<string>(OPTS, 0);
    for (let i = 0; i < 20; i++) l.admit('a', 'a', 0);
    assert.ok(l.admit('b', 'b', 0), 'a flood of a leaves b alone');
  });

  it('reports the held-back count on the next line of the key', () => {
    const l = new FlowRateLimiter<number>(OPTS, 0);
    for (let i = 0; i < 8; i++) l.admit('k', i, 0); // 5 written, 3 held
    const next = l.admit('k', 8, 1000); // 2 tokens back
    assert.deepEqual(next, { value: 8, suppressed: 3 });
    assert.deepEqual(l.flush(1000), [], 'nothing left to report');
  });

  it('many keys: memory stays bounded, least recently seen forgotten first', () => {
    const l = new FlowRateLimiter<number>({ ...OPTS, maxKeys: 50 }, 0);
    for (let i = 0; i < 5000; i++) l.admit(`k${i}`, i, i);
    assert.equal(l.size, 50);
    // A recently used key survives a stream of new ones.
    const m = new FlowRateLimiter<number>({ ...OPTS, maxKeys: 3 }, 0);
    m.admit('hot', 0, 0);
    m.admit('x', 0, 0);
    m.admit('hot', 0, 1);
    m.admit('y', 0, 2);
    m.admit('z', 0, 3); // evicts x, not hot
    for (let i = 0; i < 10; i++) m.admit('hot', i, 4);
    assert.ok(m.flush(10_000).length === 1, 'hot kept its held-back count');
  });

  it('the global bucket caps lines over all keys', () => {
    const l = new FlowRateLimiter<number>({ ...OPTS, globalRate: 10, globalBurst: 10 }, 0);
    let written = 0;
    for (let i = 0; i < 1000; i++) if (l.admit(`k${i}`, i, 0)) written += 1;
    assert.equal(written, 10);
  });
});
