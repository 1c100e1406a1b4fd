import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DatastoreRun, SampleSet } from '../../src/lab/bench/sync-report.js';
import {
  MEASUREMENTS,
  formatSyncTable,
  percentile,
  summarize,
  summarizeRuns,
} from '../../src/lab/bench/sync-report.js';

const set = (ms: number[], timeouts = 0): SampleSet => ({ ms, timeouts });

describe('bench sync percentile (nearest rank)', () => {
  const cases: { name: string; s: SampleSet; p: number; want: number | null }[] = [
    { name: 'no samples', s: set([]), p: 50, want: null },
    { name: 'one sample is every percentile', s: set([7]), p: 99, want: 7 },
    { name: 'p50 of 1..10 is the 5th', s: set([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]), p: 50, want: 5 },
    { name: 'p90 of 1..10 is the 9th', s: set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), p: 90, want: 9 },
    { name: 'p99 of 1..10 is the max', s: set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), p: 99, want: 10 },
    {
      name: 'p99 of 1..100 is the 99th',
      s: set(Array.from({ length: 100 }, (_, i) => i + 1)),
      p: 99,
      want: 99,
    },
    { name: 'a timeout sorts above every latency', s: set([1, 2, 3], 1), p: 99, want: null },
    { name: 'a timeout leaves low percentiles alone', s: set([1, 2, 3], 1), p: 50, want: 2 },
    { name: 'only timeouts', s: set([], 3), p: 50, want: null },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(percentile(c.s, c.p), c.want));
  }
});

describe('bench sync summary and goal', () => {
  it('meets the goal at p99 <= 1000 ms and rounds to 0.1 ms', () => {
    const s = summarize('dir', 'policy-creation', set([120.04, 1000, 300.26]));
    assert.deepEqual(s, {
      datastore: 'dir',
      measurement: 'policy-creation',
      samples: 3,
      timeouts: 0,
      p50: 300.3,
      p90: 1000,
      p99: 1000,
      max: 1000,
      goalMet: true,
    });
  });
  it('misses the goal above 1000 ms, with a timeout, or without samples', () => {
    assert.equal(summarize('etcd', 'pod-creation', set([1000.1])).goalMet, false);
    assert.equal(summarize('etcd', 'pod-creation', set(Array(98).fill(5) as number[], 2)).goalMet, false);
    assert.equal(summarize('etcd', 'pod-creation', set([])).goalMet, false);
  });
  it('lets one timeout in a hundred pass p99, as nearest rank says', () => {
    const s = summarize('dir', 'pod-reachability', set(Array(99).fill(5) as number[], 1));
    assert.equal(s.p99, 5);
    assert.equal(s.max, null);
    assert.equal(s.goalMet, true);
  });
  it('has one row per datastore and measurement, in order', () => {
    const run = (datastore: string): DatastoreRun => ({
      datastore,
      loadWritten: 10,
      loadSeconds: 1,
      samplesUnderLoad: 2,
      agentPolicies: [{ node: 'node-0', policies: 13 }],
      incidents: [],
      samples: {
        'policy-creation': set([5, 6]),
        'pod-creation': set([7]),
        'pod-reachability': set([], 1),
      },
    });
    const rows = summarizeRuns([run('dir'), run('etcd')]);
    assert.deepEqual(
      rows.map((r) => `${r.datastore} ${r.measurement}`),
      ['dir', 'etcd'].flatMap((d) => MEASUREMENTS.map((m) => `${d} ${m}`)),
    );
    const table = formatSyncTable({
      summaries: rows,
      runs: [run('dir')],
      meta: {
        nodes: 2,
        targetPods: 20,
        loadPolicies: 10,
        loadRate: 10,
        timeoutMs: 5000,
        probeIntervalMs: 10,
        strict: true,
        elapsedS: 3,
      },
    });
    const lines = table.split('\n');
    assert.match(
      lines[1] ?? '',
      /^dir\s+policy-creation\s+2\s+0\s+5\.0\s+6\.0\s+6\.0\s+6\.0\s+met p99 <= 1000 ms$/,
    );
    assert.match(lines[3] ?? '', /^dir\s+pod-reachability\s+1\s+1\s+>5000\s+>5000\s+>5000\s+>5000\s+MISSED/);
    assert.match(table, /agents saw node-0=13 policies/);
  });
});
