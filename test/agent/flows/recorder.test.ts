import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { FlowMetrics, FlowRecorder, reconcile, silentLogger } from '../../../src/agent/index.js';
import type { FlowRecord } from '../../../src/agent/index.js';
import { flow, objects } from './support.js';

describe('FlowRecorder', () => {
  it('limits, attributes, writes and counts; skips connections no local pod takes part in', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pal-flowrec-'));
    try {
      let now = 0;
      const registry = new Registry();
      const path = join(dir, 'flows', 'n1.jsonl');
      const rec = new FlowRecorder({
        node: 'n1',
        path,
        log: silentLogger,
        metrics: new FlowMetrics(registry),
        rateLimit: { perKeyRate: 1, perKeyBurst: 2, globalRate: 100, globalBurst: 100, maxKeys: 10 },
        now: () => now,
      });
      const r = reconcile(objects('all'), new Map(), { node: 'n1' });
      rec.applied(r);
      const deny = flow({ source: 'nflog', group: 101, prefix: 'pal isolated I kubernetes', dport: 22 });
      for (let i = 0; i < 500; i++) rec.handle({ ...deny, sport: 1000 + i });
      rec.handle(flow({ source: 'ct-new' }));
      rec.handle(flow({ source: 'ct-new', src: '192.0.2.1', dst: '192.0.2.2' })); // not ours: skipped
      now = 5000;
      rec.flush();
      await rec.stop();
      const lines = (await readFile(path, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as FlowRecord);
      const denied = lines.filter((l) => l.verdict === 'denied');
      assert.equal(denied.length, 3, 'burst of 2, then one summary line');
      assert.equal(denied[2]?.suppressed, 497);
      assert.equal(denied[2]?.source.port, 1499, 'the summary is the last event');
      assert.equal(lines.filter((l) => l.verdict === 'allowed').length, 1);
      const text = await registry.metrics();
      assert.match(text, /palisade_flows_total\{verdict="denied"\} 500/);
      assert.match(text, /palisade_flows_total\{verdict="allowed"\} 1/);
      assert.match(
        text,
        /palisade_policy_drops_total\{tier="kubernetes",kind="NetworkPolicy",namespace="pal",name="allow-b-to-a"\} 500/,
      );
      assert.match(text, /palisade_flow_records_suppressed_total 497/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
