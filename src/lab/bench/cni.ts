/**
 * `palisade bench cni`: ADD and DEL latency of the CNI plugin, p50/p99, for 50 and 200 pods, sequential
 * and all-at-once, beside Debian's bridge + host-local in the same run and on the same node.
 *
 * Variants: `palisade` (the C shim forwarding to the CNI server, the shipped fast path), `palisade-node`
 * (the Node entry, paying Node's start-up on every call: the reason for the shim), `bridge` (Debian's
 * containernetworking-plugins bridge delegating to host-local). The node is a `pal-bcni-*` netns; the
 * plugins are started by a driver process living inside it (cni-driver-main.ts), as a runtime in the host
 * netns starts them, so no variant pays for entering a namespace. Pod netns are created beforehand and
 * not timed. Latency is spawn to exit of the plugin process, as the runtime sees it.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execPlugin } from '../../cni/exec.js';
import { NODE_ENTRY, SERVER_ENTRY, SHIM_BINARY, builtBinary } from '../../cni/install.js';
import { percentile } from './stats.js';

/** dist/src/lab/bench/cni.js -> dist/src/lab/bench/cni-driver-main.js */
const DRIVER_ENTRY = fileURLToPath(new URL('./cni-driver-main.js', import.meta.url));

const DEBIAN_CNI = '/usr/lib/cni';
export const VARIANTS = ['palisade', 'palisade-node', 'bridge'] as const;
export type Variant = (typeof VARIANTS)[number];
export const MODES = ['sequential', 'parallel'] as const;
export type Mode = (typeof MODES)[number];

export interface Job {
  readonly variant: Variant;
  readonly binary: string;
  readonly env: Record<string, string>;
  readonly config: Record<string, unknown>;
  readonly pods: readonly string[];
  readonly mode: Mode;
}

export interface Row {
  readonly variant: Variant;
  readonly pods: number;
  readonly mode: Mode;
  readonly add: { readonly p50: number; readonly p99: number };
  readonly del: { readonly p50: number; readonly p99: number };
  /** Wall time of all ADDs, ms. */
  readonly addWall: number;
  readonly failures: number;
}

async function timed(
  job: Job,
  command: 'ADD' | 'DEL',
  pod: string,
  i: number,
): Promise<{ ms: number; ok: boolean; out: string }> {
  const env = {
    ...job.env,
    CNI_COMMAND: command,
    CNI_CONTAINERID: `bench-${i}`,
    CNI_NETNS: `/run/netns/${pod}`,
    CNI_IFNAME: 'eth0',
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=p${i}`,
  };
  const t0 = process.hrtime.bigint();
  const r = await execPlugin(job.binary, env, JSON.stringify(job.config));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { ms, ok: r.exitCode === 0, out: r.stdout.slice(0, 300) + r.stderr.slice(0, 300) };
}

/** Runs one job's ADDs then its DELs; a failure is counted in the row and its first output logged. */
export async function runJob(job: Job): Promise<Row> {
  const run = async (command: 'ADD' | 'DEL') => {
    const t0 = Date.now();
    const results =
      job.mode === 'parallel'
        ? await Promise.all(job.pods.map((p, i) => timed(job, command, p, i)))
        : await job.pods.reduce<Promise<Awaited<ReturnType<typeof timed>>[]>>(
            async (acc, p, i) => [...(await acc), await timed(job, command, p, i)],
            Promise.resolve([]),
          );
    return { results, wall: Date.now() - t0 };
  };
  const add = await run('ADD');
  const del = await run('DEL');
  const failed = [...add.results, ...del.results].filter((r) => !r.ok);
  if (failed[0])
    process.stderr.write(`bench cni: ${job.variant}: ${failed.length} failures, e.g. ${failed[0].out}\n`);
  const stats = (rs: { ms: number }[]) => {
    const ms = rs.map((r) => r.ms);
    return { p50: percentile(ms, 50) ?? NaN, p99: percentile(ms, 99) ?? NaN };
  };
  return {
    variant: job.variant,
    pods: job.pods.length,
    mode: job.mode,
    add: stats(add.results),
    del: stats(del.results),
    addWall: add.wall,
    failures: failed.length,
  };
}

export interface BenchCniOptions {
  readonly pods: readonly number[];
  readonly variants: readonly Variant[];
  readonly modes: readonly Mode[];
}

function sh(argv: string[], input?: string): void {
  const r = spawnSync(argv[0] ?? 'false', argv.slice(1), { input: input ?? '', encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
}

/** How to install Debian's bridge plugin (the baseline) when it cannot run here; undefined when it can. */
export function bridgeMissing(): string | undefined {
  const r = spawnSync(join(DEBIAN_CNI, 'bridge'), [], { env: { CNI_COMMAND: 'VERSION' } });
  return r.status === 0 ? undefined : 'apt-get install containernetworking-plugins';
}

export async function benchCni(opts: BenchCniOptions): Promise<Row[]> {
  const tag = `pal-bcni-${randomBytes(3).toString('hex')}`;
  const node = `${tag}-n`;
  const tmp = await mkdtemp(join(tmpdir(), `${tag}-`));
  const socket = join(tmp, 'cni.sock');
  const maxPods = Math.max(...opts.pods);
  const podNames = Array.from({ length: maxPods }, (_, i) => `${tag}-p${i}`);
  let server: ChildProcess | undefined;
  try {
    sh(['ip', '-batch', '-'], [node, ...podNames].map((n) => `netns add ${n}`).join('\n') + '\n');
    sh(['ip', '-n', node, 'link', 'set', 'lo', 'up']);
    const shim = builtBinary(SHIM_BINARY);
    await chmod(NODE_ENTRY, 0o755);
    server = spawn('ip', ['netns', 'exec', node, process.execPath, SERVER_ENTRY, '--socket', socket], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      server?.stdout?.once('data', () => resolve());
      server?.once('exit', (c) => reject(new Error(`CNI server exited with ${c}`)));
    });
    const base = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', CNI_PATH: DEBIAN_CNI };
    const palisadeConfig = (stateDir: string) => ({
      cniVersion: '1.0.0',
      name: 'pal-bench',
      type: 'palisade',
      stateDir: join(tmp, stateDir),
      ipam: {
        type: 'palisade',
        ranges: [[{ subnet: '10.95.0.0/16' }]],
        dataDir: join(tmp, `${stateDir}-ipam`),
      },
    });
    const variants: Record<Variant, Omit<Job, 'pods' | 'mode'>> = {
      palisade: {
        variant: 'palisade',
        binary: shim,
        env: { ...base, PALISADE_CNI_SOCKET: socket },
        config: palisadeConfig('shim'),
      },
      'palisade-node': {
        variant: 'palisade-node',
        binary: NODE_ENTRY,
        env: base,
        config: palisadeConfig('node'),
      },
      bridge: {
        variant: 'bridge',
        binary: join(DEBIAN_CNI, 'bridge'),
        env: base,
        config: {
          cniVersion: '1.0.0',
          name: 'pal-bench-br',
          type: 'bridge',
          bridge: 'pal-bbr0',
          isGateway: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: '10.94.0.0/16' }]],
            dataDir: join(tmp, 'host-local'),
          },
        },
      },
    };
    const jobs: Job[] = [];
    for (const n of opts.pods) {
      for (const mode of opts.modes) {
        for (const v of opts.variants) jobs.push({ ...variants[v], pods: podNames.slice(0, n), mode });
      }
    }
    const driver = spawnSync('ip', ['netns', 'exec', node, process.execPath, DRIVER_ENTRY], {
      input: JSON.stringify(jobs),
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    if (driver.status !== 0) throw new Error(`bench driver failed with ${driver.status}`);
    return JSON.parse(driver.stdout) as Row[];
  } finally {
    server?.kill('SIGTERM');
    spawnSync('ip', ['-force', '-batch', '-'], {
      input: [node, ...podNames].map((n) => `netns del ${n}`).join('\n') + '\n',
    });
    await rm(tmp, { recursive: true, force: true });
  }
}

export function formatCniTable(rows: readonly Row[]): string {
  const head = ['variant', 'pods', 'mode', 'ADD p50', 'ADD p99', 'DEL p50', 'DEL p99', 'ADD wall', 'failed'];
  const f = (n: number): string => `${n.toFixed(1)} ms`;
  const lines = rows.map((r) => [
    r.variant,
    String(r.pods),
    r.mode,
    f(r.add.p50),
    f(r.add.p99),
    f(r.del.p50),
    f(r.del.p99),
    `${r.addWall} ms`,
    String(r.failures),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [fmt(head), ...lines.map(fmt)].join('\n') + '\n';
}
