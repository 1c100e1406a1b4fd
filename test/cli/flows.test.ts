/** `palisade flows` on fixture logs: filters, rotated files in order, table output, follow, bad flags. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { attributeFlow } from '../../src/agent/index.js';
import type { FlowRecord } from '../../src/agent/index.js';
import { EXIT_USAGE } from '../../src/cli/exit-codes.js';
import { CLI, cli } from '../agent/agent-support.js';
import { B, C, context, flow } from '../agent/flows/support.js';

const ctx = context('all');
const at = (s: number): number => Date.parse('2020-01-02T03:00:00.000Z') + s * 1000;
const OPTS = { denyGroup: 101 };

const RECORDS: FlowRecord[] = [
  attributeFlow(flow({ source: 'ct-new', ts: at(0) }), ctx, OPTS), // b → a:80 allowed
  attributeFlow(
    flow({
      source: 'nflog',
      group: 101,
      prefix: 'pal deny I admin AdminNetworkPolicy//no-81',
      dport: 81,
      ts: at(10),
    }),
    ctx,
    OPTS,
  ),
  {
    ...attributeFlow(
      flow({
        source: 'nflog',
        group: 101,
        src: C,
        prefix: 'pal isolated I kubernetes',
        dport: 22,
        ts: at(20),
      }),
      ctx,
      OPTS,
    ),
    suppressed: 41,
  },
  attributeFlow(flow({ source: 'ct-new', src: B, dst: '10.99.0.1', ts: at(30) }), ctx, OPTS), // b → outside, no egress policy
];

const lines = (out: string): FlowRecord[] =>
  out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as FlowRecord);

describe('palisade flows', () => {
  let dir = '';
  let log = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pal-flows-cli-'));
    await mkdir(join(dir, 'flows'));
    log = join(dir, 'flows', 'n1.jsonl');
    // Oldest in .2, then .1 (with a garbage line), then the live file.
    const [r0, r1, r2, r3] = RECORDS.map((r) => JSON.stringify(r));
    await writeFile(`${log}.2`, `${r0}\n`);
    await writeFile(`${log}.1`, `${r1}\nnot a record\n`);
    await writeFile(log, `${r2}\n${r3}\n`);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('-o json prints every record, rotated files first, and warns about a bad line', async () => {
    const r = await cli(['flows', '--flow-log', log, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      lines(r.stdout).map((x) => x.time),
      RECORDS.map((x) => x.time),
    );
    assert.match(r.stderr, /n1\.jsonl\.1: 1 line\(s\) are not flow records \(skipped\)/);
  });

  it('--verdict denied returns just the denials', async () => {
    const r = await cli(['flows', '--flow-log', log, '--verdict', 'denied', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const got = lines(r.stdout);
    assert.equal(got.length, 2);
    assert.ok(got.every((x) => x.verdict === 'denied'));
  });

  it('--pod matches either side; --since cuts older lines; --node finds the default path', async () => {
    const pod = lines((await cli(['flows', '--flow-log', log, '--pod', 'pal/c', '-o', 'json'])).stdout);
    assert.deepEqual(
      pod.map((x) => x.source.pod),
      ['c'],
    );
    const since = lines(
      (await cli(['flows', '--flow-log', log, '--since', '2020-01-02T03:00:15Z', '-o', 'json'])).stdout,
    );
    assert.deepEqual(
      since.map((x) => x.time),
      [RECORDS[2]?.time, RECORDS[3]?.time],
    );
    const recent = await cli(['flows', '--state-dir', dir, '--node', 'n1', '--since', '5m', '-o', 'json']);
    assert.equal(recent.code, 0, recent.stderr);
    assert.equal(recent.stdout, '', 'the fixture is from 2020: nothing in the last 5 minutes');
    const only = await cli(['flows', '--state-dir', dir, '-o', 'json']);
    assert.equal(lines(only.stdout).length, 4, 'the only log in <state-dir>/flows');
  });

  it('the table says who decided, in one line per flow', async () => {
    const r = await cli(['flows', '--flow-log', log]);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trimEnd().split('\n');
    assert.match(rows[0] ?? '', /^TIME\s+VERDICT\s+SOURCE\s+DESTINATION\s+PROTO\s+DECIDED BY$/);
    assert.equal(rows.length, 5);
    assert.match(
      rows[1] ?? '',
      /allowed\s+pal\/b \(10\.77\.0\.11:40000\)\s+→\s+pal\/a \(10\.77\.0\.10:80\)\s+TCP\s+ingress: NetworkPolicy pal\/allow-b-to-a rule 0 \[kubernetes\]/,
    );
    assert.match(rows[2] ?? '', /denied .* ingress: AdminNetworkPolicy no-81 rule 0 "block-81" \[admin\]/);
    assert.match(
      rows[3] ?? '',
      /denied .*pal\/c .* \(isolation: no rule allows\) \[kubernetes\] \(\+41 similar\)/,
    );
    assert.match(
      rows[4] ?? '',
      /allowed .*10\.99\.0\.1:80 .* egress: no policy selects it \(Egress\) → allowed by default/,
    );
  });

  it('bad flags and missing logs are usage errors', async () => {
    const cases: [string[], RegExp][] = [
      [['--verdict', 'maybe'], /--verdict maybe: one of allowed, denied/],
      [['--pod', 'justname'], /--pod justname: expected NAMESPACE\/NAME/],
      [['--since', 'yesterday'], /--since yesterday: expected a duration/],
      [['-o', 'yaml'], /-o yaml: unknown output format/],
    ];
    for (const [args, msg] of cases) {
      const r = await cli(['flows', '--flow-log', log, ...args]);
      assert.equal(r.code, EXIT_USAGE, args.join(' '));
      assert.match(r.stderr, msg);
    }
    const missing = await cli(['flows', '--flow-log', join(dir, 'nope.jsonl')]);
    assert.equal(missing.code, EXIT_USAGE);
    assert.match(missing.stderr, /nope\.jsonl: no flow log there/);
  });

  it('--follow prints lines written later, after the existing ones, until SIGINT', async () => {
    const c = spawn(
      process.execPath,
      [CLI, 'flows', '--flow-log', log, '--follow', '--verdict', 'allowed', '-o', 'json'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((r) => c.on('close', (code) => r(code)));
    try {
      for (let i = 0; i < 100 && lines(out).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
      const next = attributeFlow(flow({ source: 'ct-new', dport: 80, ts: at(40) }), ctx, OPTS);
      const denied = RECORDS[1] as FlowRecord;
      await appendFile(log, `${JSON.stringify(denied)}\n${JSON.stringify(next)}\n`);
      for (let i = 0; i < 100 && lines(out).length < 3; i++) await new Promise((r) => setTimeout(r, 50));
      c.kill('SIGINT');
      assert.equal(await exited, 0);
      assert.deepEqual(
        lines(out).map((x) => x.time),
        [RECORDS[0]?.time, RECORDS[3]?.time, next.time],
      );
    } finally {
      c.kill('SIGKILL');
    }
  });
});
