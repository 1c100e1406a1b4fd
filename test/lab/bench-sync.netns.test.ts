// Needs root, `ip netns`, etcd (apt-get install etcd-server) and the native binaries: a smoke test of
// `palisade bench sync` on a tiny lab with a tiny load, both datastores. It checks that every row has
// real numbers (each one a probe that first failed and then succeeded through the agents), that the load
// reached every agent, and that nothing is left behind; it asserts no latency goal (figures belong to the
// real run, not to a test).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { etcdMissing } from '../../src/lab/bench/etcd-server.js';
import type { SyncBenchResult } from '../../src/lab/bench/sync-report.js';
import { MEASUREMENTS } from '../../src/lab/bench/sync-report.js';
import { listNetns, netnsSupport } from '../../src/lab/netns.js';
import { defaultProbeBinary } from '../../src/lab/probe-process.js';
import { STATE_DIR } from '../../src/lab/state.js';

const ROOT = join(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');
const TIMEOUT_MS = 20_000;
const LOAD = 20;

const support = await netnsSupport();
const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );
const probe = await exists(defaultProbeBinary());
const shim = await exists(join(ROOT, 'dist/native/palisade-cni'));
const skip = !support.ok
  ? support.reason
  : !probe || !shim
    ? 'dist/native/pal-probe or palisade-cni missing: run npm run build:native'
    : (etcdMissing() ?? false);

/** What a run could leave behind: bench netns, etcd and agent processes, temp and lab state dirs. */
async function leftovers(): Promise<{ netns: string[]; pids: number[]; tmp: string[] }> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const cmd = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const etcd = cmd[0]?.endsWith('etcd') === true && cmd.some((a) => a.includes('pal-bsync-'));
    const agent = cmd.includes('agent') && cmd.some((a) => a.includes('pal-bsync-'));
    if (etcd || agent) pids.push(Number(entry));
  }
  return {
    netns: (await listNetns()).filter((n) => n.startsWith('pal-bsync-')),
    pids,
    tmp: [
      ...(await readdir(tmpdir())).filter((d) => d.startsWith('pal-bsync-')),
      ...(await readdir(STATE_DIR).catch(() => [] as string[])).filter((d) => d.startsWith('bsync-')),
    ],
  };
}

/**
 * What the bench wrote at its incidents (`--diagnostics`): each node's nft table, conntrack table with
 * marks and agent log, and the agents' status, so that a CI failure carries the state at the incident;
 * with `logs`, also every agent's whole log (written at the end of each run).
 */
async function diagnostics(dir: string, logs = false, linesPerFile = 300): Promise<string> {
  const out: string[] = [];
  for (const sub of (await readdir(dir).catch(() => [] as string[])).sort()) {
    if (sub.endsWith('-logs') && !logs) continue;
    for (const f of (await readdir(join(dir, sub)).catch(() => [] as string[])).sort()) {
      const lines = (await readFile(join(dir, sub, f), 'utf8').catch(() => '')).split('\n');
      const cut = lines.length > linesPerFile ? [`… ${lines.length - linesPerFile} more lines`] : [];
      out.push(`==> ${sub}/${f}`, ...lines.slice(0, linesPerFile), ...cut);
    }
  }
  return out.length === 0 ? '(no incident diagnostics)' : out.join('\n');
}

function palisade(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    // The run is bounded by its own timeouts; this bounds a hang of the test itself.
    const killer = setTimeout(() => child.kill('SIGINT'), 600_000);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a tiny bench of `datastore` and checks its rows, the load's arrival and what is left behind. */
async function smoke(datastore: 'dir' | 'etcd', extra: readonly string[]): Promise<void> {
  const before = await leftovers();
  const diag = await mkdtemp(join(tmpdir(), 'pal-smoke-diag-'));
  try {
    await checkRun(datastore, extra, diag);
  } finally {
    await rm(diag, { recursive: true, force: true });
  }
  const after = await leftovers();
  assert.deepEqual(
    after.netns.filter((n) => !before.netns.includes(n)),
    [],
  );
  assert.deepEqual(
    after.pids.filter((p) => !before.pids.includes(p)),
    [],
  );
  assert.deepEqual(
    after.tmp.filter((d) => !before.tmp.includes(d)),
    [],
  );
}

async function checkRun(datastore: 'dir' | 'etcd', extra: readonly string[], diag: string): Promise<void> {
  const r = await palisade([
    'bench',
    'sync',
    '--datastores',
    datastore,
    '--nodes',
    '2',
    '--pods',
    '4',
    '--samples',
    '3',
    '--load-policies',
    String(LOAD),
    '--load-rate',
    '20',
    '--timeout',
    String(TIMEOUT_MS),
    '-o',
    'json',
    '--diagnostics',
    diag,
    ...extra,
  ]);
  assert.equal(r.code, 0, `${r.stderr}\n${await diagnostics(diag)}`);
  const result = JSON.parse(r.stdout) as SyncBenchResult;
  assert.deepEqual(
    result.summaries.map((s) => `${s.datastore} ${s.measurement}`),
    MEASUREMENTS.map((m) => `${datastore} ${m}`),
  );
  for (const s of result.summaries) {
    const row = `${s.datastore} ${s.measurement}`;
    assert.equal(s.samples, 3, row);
    assert.equal(s.timeouts, 0, `${row}: ${r.stderr}\n${await diagnostics(diag)}`);
    for (const x of [s.p50, s.p90, s.p99, s.max]) {
      assert.equal(typeof x, 'number', row);
      assert.ok((x ?? 0) > 0 && (x ?? TIMEOUT_MS) < TIMEOUT_MS, `${row}: ${x}`);
    }
    assert.equal(typeof s.goalMet, 'boolean');
  }
  for (const run of result.runs) {
    assert.equal(run.loadWritten, LOAD, run.datastore);
    assert.deepEqual(run.incidents, [], await diagnostics(diag));
    // The three base policies plus every load policy, in every agent's last sync.
    assert.equal(run.agentPolicies.length, 2);
    for (const a of run.agentPolicies)
      assert.equal(a.policies, 3 + LOAD, `${run.datastore} ${a.node}\n${await diagnostics(diag, true)}`);
  }
  assert.match(r.stderr, new RegExp(`${datastore}: agents ready`));
}

void describe('palisade bench sync', { skip }, () => {
  void it(
    'dir: (agents as shipped) has numbers in every row and leaves nothing behind',
    { timeout: 700_000 },
    () => smoke('dir', []),
  );
  void it(
    'etcd: (agents as shipped) has numbers in every row and leaves nothing behind',
    { timeout: 700_000 },
    () => smoke('etcd', []),
  );
});
