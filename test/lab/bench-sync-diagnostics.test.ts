import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AgentStatus } from '../../src/agent/index.js';
import { STRICT_CUT_MARK } from '../../src/datapath/index.js';
import { agentsText, summarizeConntrack, summaryLine } from '../../src/lab/bench/sync-diagnostics.js';
import { firstSuccess, tallyText } from '../../src/lab/bench/sync-probe.js';
import type { ProbeOutcome } from '../../src/lab/probe-process.js';

const CLIENT = '10.244.0.3';
const TARGET = '10.244.1.5';

const tcp = (src: string, sport: number, dst: string, state: string, mark: number): string =>
  `ipv4     2 tcp      6 100 ${state} src=${src} dst=${dst} sport=${sport} dport=8080 ` +
  `src=${dst} dst=${src} sport=8080 dport=${sport} [ASSURED] mark=${mark} use=1`;

describe('bench sync incident: conntrack summary', () => {
  const table = [
    tcp(CLIENT, 40000, TARGET, 'ESTABLISHED', STRICT_CUT_MARK),
    tcp(CLIENT, 40002, TARGET, 'TIME_WAIT', 0),
    tcp(TARGET, 40004, CLIENT, 'ESTABLISHED', STRICT_CUT_MARK | 0x4000),
    tcp('10.244.0.4', 40006, TARGET, 'ESTABLISHED', 0x4000),
    'conntrack v1.4.7 (conntrack-tools): 4 flow entries have been shown.',
    '',
  ].join('\n');

  it("counts entries, strict mode's cuts and the probe's own entries (either direction)", () => {
    const s = summarizeConntrack(table, { from: CLIENT, to: TARGET });
    assert.equal(s.entries, 4);
    assert.equal(s.cut, 2, "other software's bits alone are not a cut");
    assert.equal(s.probe.length, 3);
    assert.match(s.probe[0] ?? '', /sport=40000/);
  });

  it('prints a line per node, at most a few of the probe entries', () => {
    const s = summarizeConntrack(table, { from: CLIENT, to: TARGET });
    const line = summaryLine('node-1', s, 2);
    assert.match(line, /^node-1: conntrack 4 entries, 2 cut by strict mode, 3 between the probe's pods\n/);
    assert.equal(line.split('\n').length, 4);
    assert.match(line, /… 1 more$/);
    assert.equal(
      summaryLine('node-0', summarizeConntrack('', { from: CLIENT, to: TARGET })),
      "node-0: conntrack 0 entries, 0 cut by strict mode, 0 between the probe's pods",
    );
  });
});

describe('bench sync incident: agents', () => {
  const status: AgentStatus = {
    node: 'node-1',
    pid: 42,
    startedAt: '2026-01-01T00:00:00.000Z',
    state: 'ready',
    datastore: { source: 'etcd:http://127.0.0.1:2379', connected: true, since: '2026-01-01T00:00:00.000Z' },
    objects: { total: 30, rejected: [] },
    syncs: 12,
    failures: 0,
    lastSync: {
      at: '2026-01-01T00:00:10.000Z',
      ms: 20.5,
      ok: true,
      changed: true,
      summary: {},
      touched: { chains: [], sets: [] },
      counts: { policies: 24 } as NonNullable<AgentStatus['lastSync']>['counts'],
    },
    appliedRevision: '57',
    events: [],
    strict: {
      enabled: true,
      cutTotal: 1,
      sweeps: 9,
      lastSweep: {
        at: '2026-01-01T00:00:10.100Z',
        ms: 80,
        generation: 12,
        listed: 300,
        evaluated: 3,
        unevaluated: 0,
        cut: 0,
        restored: 1,
        truncated: false,
      },
      error: 'conntrack -L -f ipv4 -o extended: killed after 30000 ms',
    },
  };

  it('says what each agent applied and what strict mode did', () => {
    assert.equal(
      agentsText([status, { node: 'node-0', error: 'connect ENOENT' }]),
      'node-1: ready, datastore up, 12 syncs, last at 2026-01-01T00:00:10.000Z ok=true 20.5 ms, 24 policies, ' +
        'applied revision 57, strict 9 sweeps 1 cut (last at 2026-01-01T00:00:10.100Z, generation 12, 80 ms, ' +
        '0 cut 1 restored), strict error: conntrack -L -f ipv4 -o extended: killed after 30000 ms; ' +
        'node-0: connect ENOENT',
    );
  });

  it('leaves strict mode out when it is off', () => {
    const off: AgentStatus = { ...status, strict: { enabled: false, cutTotal: 0, sweeps: 0 } };
    assert.doesNotMatch(agentsText([off]), /strict/);
  });
});

describe('bench sync incident: probe outcomes', () => {
  it('counts every probe of a loop by outcome', async () => {
    const answers: (ProbeOutcome | Error)[] = [
      { result: 'timeout' },
      { result: 'ok', reply: 'bench-targets/other' },
      { result: 'refused' },
      new Error('prober gone'),
      { result: 'timeout' },
      { result: 'ok', reply: 'bench-targets/target-1' },
    ];
    let i = 0;
    const prober = {
      probe: (): Promise<ProbeOutcome> => {
        const a = answers[i++] ?? { result: 'timeout' };
        return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
      },
    };
    const tally: Record<string, number> = {};
    const found = await firstSuccess(
      prober,
      { netns: 'pal-x', ip: TARGET, port: 8080, expect: 'bench-targets/target-1' },
      { intervalMs: 1, probeTimeoutMs: 1, deadline: performance.now() + 60_000, tally },
    );
    assert.notEqual(found, undefined);
    assert.deepEqual(tally, { timeout: 2, 'ok-other': 1, refused: 1, error: 1, ok: 1 });
    assert.equal(tallyText(tally), '2 timeout, 1 ok-other, 1 refused, 1 error, 1 ok');
    assert.equal(tallyText({}), 'no probe answered');
  });
});
