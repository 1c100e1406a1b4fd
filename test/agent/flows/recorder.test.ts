import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
      // The kernel side as the recorder meets it: a helper printing pal-flowd's lines, then waiting for
      // stdin to close. The connection no local pod takes part in comes first, so that once the others
      // are counted every line has been handled.
      const deny = flow({ source: 'nflog', group: 101, prefix: 'pal isolated I kubernetes', dport: 22 });
      const events = [
        flow({ source: 'ct-new', src: '192.0.2.1', dst: '192.0.2.2' }), // not ours: skipped
        ...Array.from({ length: 500 }, (_, i) => ({ ...deny, sport: 1000 + i })),
        flow({ source: 'ct-new' }),
      ];
      await writeFile(
        join(dir, 'lines'),
        events.map(({ kind: _, ...line }) => JSON.stringify(line)).join('\n') + '\n',
      );
      const helper = join(dir, 'fake-flowd');
      await writeFile(helper, `#!/bin/sh\ncat '${join(dir, 'lines')}'\ncat > /dev/null\n`);
      await chmod(helper, 0o755);
      const rec = new FlowRecorder({
        node: 'n1',
        path,
        log: silentLogger,
        metrics: new FlowMetrics(registry),
        rateLimit: { perKeyRate: 1, perKeyBurst: 2, globalRate: 100, globalBurst: 100, maxKeys: 10 },
        binary: helper,
        now: () => now,
      });
      const r = reconcile(objects('all'), new Map(), { node: 'n1' });
      rec.applied(r);
      assert.equal(rec.start(), true);
      for (let i = 0; i < 250; i++) {
        const counted = await registry.metrics();
        if (/verdict="denied"\} 500/.test(counted) && /verdict="allowed"\} 1/.test(counted)) break;
        await new Promise((res) => setTimeout(res, 20));
      }
      now = 5000;
      await rec.stop(); // flushes what the limiter still holds
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
