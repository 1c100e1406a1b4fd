import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { agentSocketsIn, attributeFlow, flowLogsIn, matchesFilter } from '../../../src/agent/index.js';
import type { FlowFilter } from '../../../src/agent/index.js';
import { B, C, context, flow } from './support.js';

const T0 = Date.parse('2020-01-02T03:00:00.000Z');
// b → a:80 allowed at T0; c → a:22 denied (isolation) at T0 + 20 s.
const ALLOWED = attributeFlow(flow({ source: 'ct-new', src: B, ts: T0 }), context('all'), { denyGroup: 101 });
const DENIED = attributeFlow(
  flow({
    source: 'nflog',
    group: 101,
    src: C,
    prefix: 'pal isolated I kubernetes',
    dport: 22,
    ts: T0 + 20_000,
  }),
  context('all'),
  { denyGroup: 101 },
);

describe('matchesFilter', () => {
  const cases: { name: string; filter: FlowFilter; want: [boolean, boolean] }[] = [
    { name: 'no filter keeps everything', filter: {}, want: [true, true] },
    { name: 'verdict', filter: { verdict: 'denied' }, want: [false, true] },
    { name: 'pod on the source side', filter: { pod: 'pal/c' }, want: [false, true] },
    { name: 'pod on the destination side', filter: { pod: 'pal/a' }, want: [true, true] },
    { name: 'a pod in no flow', filter: { pod: 'pal/zz' }, want: [false, false] },
    { name: 'since: at or after', filter: { since: T0 + 20_000 }, want: [false, true] },
    { name: 'every condition must hold', filter: { verdict: 'allowed', pod: 'pal/c' }, want: [false, false] },
  ];
  for (const c of cases)
    it(c.name, () => {
      assert.equal(ALLOWED.verdict, 'allowed');
      assert.equal(DENIED.verdict, 'denied');
      assert.deepEqual([matchesFilter(ALLOWED, c.filter), matchesFilter(DENIED, c.filter)], c.want);
    });
});

describe('finding what agents left in a state dir', () => {
  it('flowLogsIn lists the live logs, sorted, without rotated files; agentSocketsIn the sockets', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pal-flows-find-'));
    try {
      assert.deepEqual(await flowLogsIn(dir), [], 'no flows directory: no log');
      assert.deepEqual(await agentSocketsIn(join(dir, 'missing')), [], 'no state dir: no socket');
      await mkdir(join(dir, 'flows'));
      for (const f of ['n2.jsonl', 'n1.jsonl', 'n1.jsonl.1', 'notes.txt'])
        await writeFile(join(dir, 'flows', f), '');
      for (const f of ['agent-n2.sock', 'agent-n1.sock', 'agent.sock', 'other.sock'])
        await writeFile(join(dir, f), '');
      assert.deepEqual(await flowLogsIn(dir), [
        join(dir, 'flows', 'n1.jsonl'),
        join(dir, 'flows', 'n2.jsonl'),
      ]);
      assert.deepEqual(await agentSocketsIn(dir), [join(dir, 'agent-n1.sock'), join(dir, 'agent-n2.sock')]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
