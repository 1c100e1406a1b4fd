// Needs root, `ip netns` and the benchmark's tools (scripts/bench-setup.sh): a smoke test of
// `palisade bench datapath` with tiny durations. It checks that the run finishes, the JSON shape, and that
// nothing is left behind; it asserts no timing (the figures belong to the real run, not to a test).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, readFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { checkTools } from '../../src/lab/bench/tools.js';
import { serverTempPrefix } from '../../src/lab/bench/servers.js';
import { netnsInScope } from '../../src/lab/lab-id.js';
import { listNetns, netnsSupport } from '../../src/lab/netns.js';
import { defaultProbeBinary } from '../../src/lab/probe-process.js';
import { labStateDir } from '../../src/lab/state.js';

const ROOT = join(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');

const support = await netnsSupport();
const tools = await checkTools();
const probe = await access(defaultProbeBinary()).then(
  () => true,
  () => false,
);
const skip = !support.ok
  ? support.reason
  : !probe
    ? 'dist/native/pal-probe missing: run npm run build:native'
    : !tools.ok
      ? `missing ${tools.missing.join(', ')}: run ${tools.fix}`
      : false;

/** Pids of the servers and clients the benchmark starts (by command name). */
async function toolPids(): Promise<Set<number>> {
  const names = new Set(['iperf3', 'nginx', 'ab', 'hey']);
  const pids = new Set<number>();
  for (const entry of await readdir('/proc')) {
    const comm = (await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '')).trim();
    if (names.has(comm)) pids.add(Number(entry));
  }
  return pids;
}

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

const RUN_KEYS = [
  'n',
  'datapath',
  'round',
  'placement',
  'throughput_gbps',
  'conn_rate',
  'conn_failed',
  'latency_ms_p50',
  'latency_ms_p90',
  'program_ms',
  'change_ms',
  'program_applier_ms',
  'change_applier_ms',
].sort();

void describe('palisade bench datapath', { skip }, () => {
  void it('--rules 0,10 with tiny durations prints the JSON shape and leaves nothing behind', async () => {
    const id = `t-${randomBytes(4).toString('hex')}`;
    const before = await toolPids();
    const r = await palisade([
      'bench',
      'datapath',
      '--rules',
      '0,10',
      '--duration',
      '1',
      '--latency-count',
      '10',
      '--lab-id',
      id,
      '-o',
      'json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /done/, 'the progress line reaches the end');
    const out = JSON.parse(r.stdout) as {
      runs: Record<string, unknown>[];
      ratios: Record<string, unknown>[];
      goals: unknown[];
    };
    // 2 rule counts × (none twice, iptables, nftables) × 2 placements.
    assert.equal(out.runs.length, 2 * 4 * 2);
    for (const run of out.runs) {
      assert.deepEqual(Object.keys(run).sort(), RUN_KEYS);
      assert.ok((run['throughput_gbps'] as number) > 0, JSON.stringify(run));
      assert.ok((run['conn_rate'] as number) > 0, JSON.stringify(run));
      assert.ok((run['latency_ms_p50'] as number) > 0, JSON.stringify(run));
      const timed = run['datapath'] !== 'none';
      assert.equal(typeof run['program_ms'], timed ? 'number' : 'object');
      assert.equal(typeof run['change_ms'], timed ? 'number' : 'object');
    }
    assert.deepEqual(
      out.runs.map((x) => `${String(x['n'])} ${String(x['datapath'])} ${String(x['placement'])}`).slice(0, 8),
      ['none', 'iptables', 'nftables', 'none'].flatMap((d) => [`0 ${d} same-node`, `0 ${d} cross-node`]),
    );
    assert.equal(out.ratios.length, 2 * 2 * 2);
    for (const ratio of out.ratios) {
      assert.deepEqual(Object.keys(ratio).sort(), [
        'conn_rate',
        'datapath',
        'latency_p50',
        'n',
        'none_spread_conn_rate',
        'none_spread_throughput',
        'placement',
        'throughput',
      ]);
    }
    assert.ok(Array.isArray(out.goals));

    const netns = (await listNetns()).filter((n) => netnsInScope(n, { id }));
    assert.deepEqual(netns, [], 'no netns of the lab is left');
    const prefix = serverTempPrefix(id);
    const temps = (await readdir(dirname(prefix))).filter((f) => join(dirname(prefix), f).startsWith(prefix));
    assert.deepEqual(temps, [], 'no temp dir is left');
    const state = await access(labStateDir(id)).then(
      () => true,
      () => false,
    );
    assert.equal(state, false, 'no lab state dir is left');
    const after = [...(await toolPids())].filter((p) => !before.has(p));
    assert.deepEqual(after, [], 'no iperf3, nginx, ab or hey is left running');
  });
});
