import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration, parseL7Rules, parsePlacements, parseRows } from '../../src/cli/bench-l7.js';
import { UsageError } from '../../src/cli/exit-codes.js';
import { parseSources } from '../../src/dialects/index.js';
import {
  L7_NAMESPACE,
  clusterManifest,
  l3l4Manifest,
  l7Manifest,
  requestPath,
  rowPolicy,
  rowsOf,
} from '../../src/lab/bench/l7-manifests.js';
import type { L7BenchResult, L7Run } from '../../src/lab/bench/l7-report.js';
import { formatL7Table, l7Goals, summarize } from '../../src/lab/bench/l7-report.js';
import {
  PAGE_BYTES,
  cpuMsBetween,
  cpuTicks,
  page,
  parseHeyCsv,
  parseWrk,
} from '../../src/lab/bench/l7-traffic.js';

const errorsOf = (text: string) =>
  parseSources([{ file: 'x.yaml', text }]).diagnostics.filter((d) => d.severity === 'error');

void describe('bench l7 manifests', () => {
  void it('the cluster and every row policy load without errors', () => {
    assert.deepEqual(errorsOf(clusterManifest()), []);
    for (const row of rowsOf(['none', 'l3l4', 'bare', 'l7'], [1, 100, 1000])) {
      const text = rowPolicy(row);
      if (text !== undefined) assert.deepEqual(errorsOf(text), [], row.id);
    }
    assert.deepEqual(errorsOf(l7Manifest(3, 1)), []);
  });

  void it('an L7 policy with N rules carries N HTTP rules, the requested path being the last', () => {
    const { value } = parseSources([{ file: 'p.yaml', text: l7Manifest(100) }]);
    const text = JSON.stringify(value);
    for (const i of [1, 50, 100]) assert.ok(text.includes(`/api/v1/items/${i}"`), `rule ${i}`);
    assert.ok(!text.includes('/api/v1/items/101"'));
    const lines = l7Manifest(100)
      .split('\n')
      .filter((l) => l.includes('method: GET'));
    assert.equal(lines.length, 100);
    assert.ok(lines.at(-1)?.includes(`path: ${requestPath(100)}}`));
  });

  void it('churn variants differ from each other and keep every rule of the row', () => {
    assert.notEqual(l7Manifest(5, 0), l7Manifest(5, 1));
    for (const v of [0, 1]) assert.ok(l7Manifest(5, v).includes(`path: ${requestPath(5)}}`));
  });

  void it('the L3/L4 policy selects the server in the bench namespace, port 80 only', () => {
    const t = l3l4Manifest();
    assert.ok(t.includes(`namespace: ${L7_NAMESPACE}`) && t.includes('port: 80'));
  });

  void it('rows come in a fixed order, one l7 row per rule count', () => {
    assert.deepEqual(
      rowsOf(['l7', 'none', 'bare'], [1000, 1]).map((r) => r.id),
      ['none', 'bare', 'l7-1000', 'l7-1'],
    );
  });

  void it('a rule count out of range is refused', () => {
    assert.throws(() => l7Manifest(0), RangeError);
  });
});

void describe('bench l7 traffic parsers', () => {
  void it('the page is 612 bytes, as the issue measured', () => {
    assert.equal(Buffer.byteLength(page()), PAGE_BYTES);
  });

  void it("wrk's summary line: req/s over its duration, failures by kind", () => {
    const s = parseWrk(
      'Running 2s test\n{"requests":20000,"duration_us":2000000,"connect":0,"read":2,"write":0,"status":3,"timeout":1}\n',
    );
    assert.deepEqual(s, {
      requests: 20000,
      perSecond: 10000,
      failed: 6,
      errors: { status: 3, read: 2, timeout: 1 },
    });
    assert.equal(parseWrk('no summary'), undefined);
  });

  void it("hey's CSV: response times in ms, non-2xx counted", () => {
    const csv =
      'response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset\n' +
      '0.0012,0.0000,0.0000,0.0000,0.0011,0.0000,200,0.0100\n' +
      '0.0030,0.0000,0.0000,0.0000,0.0011,0.0000,403,0.0200\n';
    const r = parseHeyCsv(csv);
    assert.equal(r.failed, 1);
    assert.deepEqual(
      r.times.map((t) => Math.round(t * 10) / 10),
      [1.2, 3],
    );
  });

  void it('/proc/<pid>/stat: utime + stime, even with spaces and parentheses in the name', () => {
    const stat = '1234 (hap (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 70 30 0 0 20 0 2 0 100 0 0';
    assert.equal(cpuTicks(stat), 100);
    assert.equal(
      cpuMsBetween(
        new Map([[1, 100]]),
        new Map([
          [1, 150],
          [2, 10],
        ]),
      ),
      600,
    );
  });
});

function runOf(row: string, round: number, rps: number, p99: number, cpu: number | null): L7Run {
  return {
    row,
    placement: 'same-node',
    round,
    rps,
    requests: rps * 10,
    failed: 0,
    rate: 100,
    rate_achieved: 100,
    p50_ms: p99 / 2,
    p99_ms: p99,
    rate_failed: 0,
    // At the low rate every row holds, latencies are a tenth of those at the fixed rate.
    low_rate: 50,
    low_p50_ms: p99 / 20,
    low_p99_ms: p99 / 10,
    low_rate_failed: 0,
    haproxy_cpu_ms_per_1k: cpu,
  };
}

void describe('bench l7 report', () => {
  const runs = [1, 2, 3].flatMap((round) => [
    runOf('none', round, 10_000 + round, 1, null),
    runOf('bare', round, 5000, 2, 40),
    runOf('l7-1', round, 4900, 2.5, 44),
    runOf('l7-1000', round, 4000 + round * 100, 3, 60),
  ]);
  const summary = summarize(runs, ['none', 'bare', 'l7-1', 'l7-1000'], ['same-node']);

  void it('ratios are taken within each round, then the median over rounds', () => {
    const l7 = summary.find((s) => s.row === 'l7-1');
    assert.equal(l7?.vs_bare?.rps?.median, 0.98);
    assert.equal(l7?.vs_bare?.haproxy_cpu_ms_per_1k?.median, 1.1);
    assert.equal(l7?.vs_none.haproxy_cpu_ms_per_1k, null);
    const big = summary.find((s) => s.row === 'l7-1000');
    assert.deepEqual(big?.rps, { median: 4200, min: 4100, max: 4300 });
  });

  void it('goals: L7 vs the bare hop, p99 over none, 1000 vs 1 rule, churn', () => {
    const goals = l7Goals(runs, summary, {
      row: 'l7-1',
      placement: 'same-node',
      updates: 100,
      updates_s: 30,
      requests: 1000,
      failed: 0,
      errors: {},
      proxy: null,
    });
    const by = new Map(goals.map((g) => [g.goal, g]));
    assert.equal(by.get('l7-1 req/s vs bare hop, same-node')?.met, true);
    assert.equal(by.get('l7-1000 req/s vs bare hop, same-node')?.met, false);
    assert.equal(
      by.get("l7-1 p99 at the fixed rate (half of none's req/s) minus none's (ms), same-node")?.value,
      1.5,
    );
    const low = by.get("l7-1 p99 at the low rate (half of bare's req/s) minus none's (ms), same-node");
    assert.equal(low?.value, 0.15);
    assert.equal(low?.met, true);
    assert.equal(by.get('l7-1000 req/s vs l7-1, same-node')?.met, false);
    assert.equal(by.get('failed requests during 100 policy updates (l7-1, same-node)')?.met, true);
  });

  void it('the table names the command and has one line per row and placement', () => {
    const result: L7BenchResult = {
      command: 'palisade bench l7 --repeat 3',
      runs,
      summary,
      churn: null,
      goals: [],
      meta: {
        rows: [],
        placements: ['same-node'],
        seconds: 10,
        repeat: 3,
        wrk: 'wrk',
        fixedRate: 'hey',
        elapsedS: 1,
      },
    };
    const text = formatL7Table(result);
    assert.ok(text.startsWith('# palisade bench l7 --repeat 3\n'));
    assert.match(text, /^l7-1000\s+same-node\s+4200 \[4100-4300\]\s+0\.42x\s+0\.84x/m);
  });
});

void describe('bench l7 flags', () => {
  void it('parse lists and refuse what they do not know', () => {
    assert.deepEqual(parseRows('none,l7,none'), ['none', 'l7']);
    assert.throws(() => parseRows('none,l4'), UsageError);
    assert.deepEqual(parseL7Rules('1,100'), [1, 100]);
    assert.throws(() => parseL7Rules('0'), UsageError);
    assert.deepEqual(parsePlacements('same,different'), ['same-node', 'different-node']);
    assert.throws(() => parsePlacements('far'), UsageError);
    assert.equal(parseDuration('10s'), 10);
    assert.equal(parseDuration('2'), 2);
    assert.throws(() => parseDuration('1.5s'), UsageError);
  });
});
