import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAb, parseHey } from '../../src/lab/bench/conn-rate.js';
import type { BenchRun } from '../../src/lab/bench/report.js';
import { goals, ratios } from '../../src/lab/bench/report.js';
import { benchPolicies, ruleEntries, ruleManifests } from '../../src/lab/bench/rules.js';
import { schedule } from '../../src/lab/bench/run.js';

const CLIENTS = ['10.244.0.3', '10.244.1.2'];

void describe('bench rule sets', () => {
  const cases = [
    { name: 'no rules: no entry at all', n: 0, entries: 0, policies: 0 },
    { name: 'fewer than the matching entries: only those', n: 2, entries: 4, policies: 1 },
    { name: '10 rules: 6 fillers, then the 4 matching', n: 10, entries: 10, policies: 1 },
    { name: '2500 rules span 3 policies', n: 2500, entries: 2500, policies: 3 },
  ];
  for (const c of cases) {
    void it(c.name, () => {
      const entries = ruleEntries({ n: c.n, clients: CLIENTS });
      assert.equal(entries.length, c.entries);
      assert.equal(ruleManifests({ n: c.n, clients: CLIENTS }).length, c.policies);
      if (c.n > 0) {
        // Only the last entries match a client; no filler does.
        const matching = entries.flatMap((e, i) => (CLIENTS.some((ip) => e.cidr === `${ip}/32`) ? [i] : []));
        assert.deepEqual(
          matching,
          [0, 1, 2, 3].map((k) => entries.length - 4 + k),
        );
      }
    });
  }

  void it('load through the Kubernetes dialect, plus the small policy; a revision edits only it', () => {
    const a = benchPolicies({ n: 10, clients: CLIENTS }, 0);
    const b = benchPolicies({ n: 10, clients: CLIENTS }, 1);
    assert.equal(a.length, 2);
    assert.equal(a[0]?.ingress.length, 10);
    assert.deepEqual(a[0], b[0]);
    assert.notDeepEqual(a[1], b[1]);
  });

  void it('refuses counts beyond the filler range', () => {
    assert.throws(() => ruleEntries({ n: 1 << 20, clients: CLIENTS }), RangeError);
  });
});

void describe('client output parsers', () => {
  void it('ab', () => {
    const text =
      'Complete requests:      30123\nFailed requests:        2\nRequests per second:    10041.00 [#/sec] (mean)\n';
    assert.deepEqual(parseAb(text), { perSecond: 10041, completed: 30123, failed: 2 });
    assert.equal(parseAb('apr_socket_connect(): Connection refused'), undefined);
  });
  void it('hey', () => {
    const text = 'Summary:\n  Requests/sec:\t8000.5\n\nStatus code distribution:\n  [200]\t24000 responses\n';
    assert.deepEqual(parseHey(text), { perSecond: 8000.5, completed: 24000, failed: 0 });
  });
});

void describe('ratios and goals', () => {
  const run = (over: Partial<BenchRun>): BenchRun => ({
    n: 10_000,
    datapath: 'none',
    round: 1,
    placement: 'same-node',
    throughput_gbps: 10,
    conn_rate: 1000,
    conn_failed: 0,
    latency_ms_p50: 0.2,
    latency_ms_p90: 0.3,
    program_ms: null,
    change_ms: null,
    program_applier_ms: null,
    change_applier_ms: null,
    ...over,
  });
  const runs = [
    run({ round: 1, conn_rate: 1000 }),
    run({ round: 2, conn_rate: 1200 }),
    run({ datapath: 'iptables', conn_rate: 550, program_ms: 400, change_ms: 400 }),
    run({ datapath: 'nftables', conn_rate: 1045, throughput_gbps: 9, program_ms: 350, change_ms: 60 }),
  ];

  void it('divide by the mean of the none runs, and state their spread', () => {
    const rs = ratios(runs);
    assert.deepEqual(
      rs.map((r) => [r.datapath, r.conn_rate, r.throughput, r.none_spread_conn_rate]),
      [
        ['iptables', 0.5, 1, 0.182],
        ['nftables', 0.95, 0.9, 0.182],
      ],
    );
  });

  void it('average repeated rounds of a datapath', () => {
    const more = [...runs, run({ datapath: 'iptables', round: 2, conn_rate: 660, program_ms: 500 })];
    const ipt = ratios(more).find((r) => r.datapath === 'iptables');
    assert.equal(ipt?.conn_rate, 0.55);
  });

  void it('schedule: every filtering run sits between two none runs', () => {
    assert.deepEqual(
      schedule(2).map((s) => `${s.datapath}#${s.round}`),
      ['none#1', 'iptables#1', 'nftables#1', 'none#2', 'iptables#2', 'nftables#2', 'none#3'],
    );
  });

  void it('state each goal and whether it was met', () => {
    const g = goals(runs, ratios(runs));
    assert.deepEqual(
      g.map((x) => [x.value, x.met]),
      [
        [0.95, true],
        [0.9, false],
        [350, true],
        [60, false],
      ],
    );
  });
});
