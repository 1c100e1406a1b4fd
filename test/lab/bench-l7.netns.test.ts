// Needs root, `ip netns`, haproxy and the benchmark's tools (scripts/bench-setup.sh): a smoke test of
// `palisade bench l7` with 1 s runs, rows none and L7 with one rule, one round, and a short churn check.
// It checks that the run finishes with figures, that the allowed GET never failed, and that both labs are
// gone afterwards; it asserts no timing (the figures belong to the real run, not to a test).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { L7BenchResult } from '../../src/lab/bench/l7-report.js';
import { serverTempPrefix } from '../../src/lab/bench/servers.js';
import { which } from '../../src/lab/bench/tools.js';
import { netnsInScope } from '../../src/lab/lab-id.js';
import { listNetns, netnsSupport } from '../../src/lab/netns.js';

const ROOT = join(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');

const support = await netnsSupport();
const missing = (
  await Promise.all(
    ['wrk', 'hey', 'nginx', 'curl', 'haproxy'].map(async (t) => ((await which(t)) ? [] : [t])),
  )
).flat();
const skip = !support.ok
  ? support.reason
  : missing.length > 0
    ? `missing ${missing.join(', ')}: run scripts/bench-setup.sh and scripts/setup.sh`
    : false;

function palisade(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

void describe('palisade bench l7', { skip }, () => {
  void it('none, bare and L7 with 1 rule, 1 s runs: figures, 0 failed requests, nothing left behind', async () => {
    const id = `t-${randomBytes(4).toString('hex')}`;
    const r = await palisade([
      'bench',
      'l7',
      '--rows',
      'none,bare,l7',
      '--rules',
      '1',
      '--duration',
      '1s',
      '--repeat',
      '1',
      '--churn',
      '2',
      '--lab-id',
      id,
      '-o',
      'json',
    ]);
    try {
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout) as L7BenchResult;
      assert.deepEqual(result.meta.rows, ['none', 'bare', 'l7-1']);
      assert.equal(result.runs.length, 6);
      for (const run of result.runs) {
        assert.ok(run.rps > 0 && run.requests > 0, `${run.row} ${run.placement}: no requests`);
        assert.equal(run.failed, 0, `${run.row} ${run.placement}: failed requests at saturation`);
        assert.equal(run.rate_failed, 0, `${run.row} ${run.placement}: failed requests at the fixed rate`);
        assert.ok(run.p50_ms !== null && run.p99_ms !== null && run.p99_ms >= run.p50_ms);
        // With a bare row, every row is also measured at half of bare's rate.
        assert.ok(run.low_p50_ms !== null && run.low_p99_ms !== null && run.low_p99_ms >= run.low_p50_ms);
        assert.equal(run.low_rate_failed, 0, `${run.row} ${run.placement}: failed requests at the low rate`);
      }
      // The proxy ran for the L7 row (its CPU was read), not for none.
      for (const run of result.runs)
        assert.equal(run.haproxy_cpu_ms_per_1k === null, run.row === 'none', `${run.row}: haproxy CPU`);
      assert.ok(result.summary.find((s) => s.row === 'l7-1')?.vs_bare?.rps != null, 'l7 vs bare');
      const l7 = result.summary.find((s) => s.row === 'l7-1' && s.placement === 'same-node');
      assert.ok(l7 !== undefined && l7.vs_none.rps !== null && l7.vs_none.rps.median > 0);
      assert.ok(result.churn !== null && result.churn.updates === 2 && result.churn.requests > 0);
      // The server node's proxy answered on its runtime API, and no connection to the server was retried.
      assert.equal(result.churn.proxy?.['wretr'], 0, JSON.stringify(result.churn.proxy));
      const table = await palisade([
        'bench',
        'l7',
        '--rows',
        'none',
        '--placement',
        'same',
        '--duration',
        '1s',
        '--repeat',
        '1',
        '--lab-id',
        id,
        '--no-progress',
      ]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^# palisade bench l7 --rows none/);
      assert.match(table.stdout, /^none\s+same-node\s+[0-9]+\s+1\.00x/m);
    } finally {
      const left = (await listNetns()).filter(
        (n) => netnsInScope(n, { id }) || netnsInScope(n, { id: `${id}-bare` }),
      );
      const prefix = serverTempPrefix(id);
      const dirs = (await readdir('/tmp')).filter((d) => join('/tmp', d).startsWith(prefix));
      assert.deepEqual(left, [], 'netns left behind');
      assert.deepEqual(dirs, [], 'temp dirs left behind');
    }
  });
});
