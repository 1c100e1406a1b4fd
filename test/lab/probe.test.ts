import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProbeOutcome, ProbeRequest } from '../../src/lab/probe-process.js';
import type { ProbeableLab } from '../../src/lab/probe.js';
import { probeMatrix } from '../../src/lab/probe.js';

const pods = [
  { key: 'b/z', namespace: 'b', name: 'z', netns: 'pal-pz', ip: '10.0.0.3' },
  { key: 'a/y', namespace: 'a', name: 'y', netns: 'pal-py', ip: '10.0.0.2' },
  { key: 'a/x', namespace: 'a', name: 'x', netns: 'pal-px', ip: '10.0.0.1' },
];
const byIp = new Map(pods.map((p) => [p.ip, p.key]));
const byNetns = new Map(pods.map((p) => [p.netns, p.key]));

/** A fake network: `answer` decides per (from, to) what the probe sees. */
function fakeLab(answer: (from: string, to: string, req: ProbeRequest) => ProbeOutcome): ProbeableLab {
  return {
    pods,
    prober: {
      probe: async (req) => {
        await new Promise((r) => setTimeout(r, Math.random() * 3));
        return answer(byNetns.get(req.netns) ?? '?', byIp.get(req.ip) ?? '?', req);
      },
    },
  };
}

const honest = fakeLab((_from, to) => ({ result: 'ok', reply: to }));

void describe('probeMatrix', () => {
  void it('lists pods sorted by namespace then name and orders results by target, from, to', async () => {
    const targets = [
      { port: 81, protocol: 'UDP' as const },
      { port: 80, protocol: 'TCP' as const },
    ];
    const m = await probeMatrix(honest, targets, { timeoutMs: 100, concurrency: 4 });
    assert.deepEqual(m.pods, ['a/x', 'a/y', 'b/z']);
    const order = m.results.map((r) => `${r.protocol}/${r.port} ${r.from}>${r.to}`);
    const expected = targets.flatMap((t) =>
      m.pods.flatMap((f) => m.pods.map((to) => `${t.protocol}/${t.port} ${f}>${to}`)),
    );
    assert.deepEqual(order, expected);
  });

  void it('marks self pairs and only them', async () => {
    const m = await probeMatrix(honest, [{ port: 80, protocol: 'TCP' }], { timeoutMs: 100, concurrency: 2 });
    assert.deepEqual(
      m.results.filter((r) => r.self).map((r) => r.from),
      ['a/x', 'a/y', 'b/z'],
    );
    assert.ok(m.results.filter((r) => r.self).every((r) => r.from === r.to));
  });

  const verdicts: { name: string; outcome: ProbeOutcome; result: string; allowed: boolean }[] = [
    {
      name: 'ok with the destination name',
      outcome: { result: 'ok', reply: 'b/z' },
      result: 'ok',
      allowed: true,
    },
    {
      name: 'ok from the wrong pod',
      outcome: { result: 'ok', reply: 'a/x' },
      result: 'misrouted',
      allowed: false,
    },
    { name: 'ok without a reply', outcome: { result: 'ok' }, result: 'misrouted', allowed: false },
    { name: 'refused', outcome: { result: 'refused' }, result: 'refused', allowed: false },
    { name: 'timeout', outcome: { result: 'timeout' }, result: 'timeout', allowed: false },
  ];
  for (const v of verdicts) {
    void it(`probe ${v.name} -> result ${v.result}, allowed ${String(v.allowed)}`, async () => {
      const lab = fakeLab(() => v.outcome);
      const m = await probeMatrix(lab, [{ port: 80, protocol: 'TCP' }], {
        timeoutMs: 100,
        concurrency: 1,
        from: ['a/y'],
        to: ['b/z'],
      });
      assert.deepEqual(m, {
        pods: ['a/y', 'b/z'],
        results: [
          { from: 'a/y', to: 'b/z', port: 80, protocol: 'TCP', allowed: v.allowed, result: v.result },
        ],
      });
    });
  }

  void it('passes the timeout and the destination address to the prober', async () => {
    const seen: ProbeRequest[] = [];
    const lab = fakeLab((_f, to, req) => {
      seen.push(req);
      return { result: 'ok', reply: to };
    });
    await probeMatrix(lab, [{ port: 82, protocol: 'SCTP' }], {
      timeoutMs: 250,
      concurrency: 1,
      from: ['a/x'],
      to: ['b/z'],
    });
    assert.deepEqual(seen, [{ netns: 'pal-px', ip: '10.0.0.3', port: 82, protocol: 'SCTP', timeoutMs: 250 }]);
  });

  void it('rejects unknown pods and oversized sweeps', async () => {
    await assert.rejects(
      probeMatrix(honest, [], { timeoutMs: 1, concurrency: 1, from: ['nope/x'] }),
      /no pod nope\/x/,
    );
    await assert.rejects(
      probeMatrix(honest, [{ port: 80, protocol: 'TCP' }], { timeoutMs: 1, concurrency: 1, maxProbes: 8 }),
      /9 probes exceed maxProbes 8/,
    );
  });
});
