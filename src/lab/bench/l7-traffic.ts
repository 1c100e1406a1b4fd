/**
 * `bench l7`'s traffic: nginx in the server pod (keep-alive, every path answers one 612-byte page, the size
 * of nginx's own welcome page that the issue's measurement used), wrk for requests/s at saturation, hey
 * for latency at a fixed rate, and the CPU time of the node's HAProxy processes from /proc.
 *
 * Fixed-rate latency is hey's: `-q` is a per-worker rate, so `-c W -q R/W` asks for R requests/s over W
 * keep-alive connections, and hey's CSV gives one response time per request, from which the percentiles
 * are taken by nearest rank (stats.ts). hey prints those times at 0.1 ms resolution, which is the
 * resolution of the p50/p99 figures; the rate it really held is reported beside them, since a client on
 * a busy 2-core box can fall behind the rate it was asked for. Every run is bounded.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError, inNetns, run } from '../../util/process.js';
import { HTTP_PORT } from './l7-manifests.js';
import { listening, nginxTempPaths, serverTempPrefix, startDaemon } from './servers.js';
import type { Daemon } from './servers.js';
import { percentile } from './stats.js';

/** The page size of the measurement (nginx's default index.html). */
export const PAGE_BYTES = 612;

export function page(): string {
  const head = '<!DOCTYPE html>\n<html>\n<head><title>palisade bench l7</title></head>\n<body>\n<p>';
  const tail = '</p>\n</body>\n</html>\n';
  return head + 'x'.repeat(PAGE_BYTES - head.length - tail.length) + tail;
}

function nginxConfig(dir: string, ip: string): string {
  return `# written by palisade bench l7
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log error;
user root;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  ${nginxTempPaths(dir)}
  server {
    listen ${ip}:${HTTP_PORT} backlog=4096;
    root ${dir}/www;
    # Every path (the L7 rows ask for /api/v1/items/N) answers the same static page.
    location / { try_files /index.html =404; }
  }
}
`;
}

/** wrk's Lua hook: the summary as one JSON line, so no text of wrk's is parsed. */
const WRK_DONE = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
end
`;

export interface L7Server {
  readonly dir: string;
  /** wrk's Lua script, in the server's temp dir. */
  readonly wrkScript: string;
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startL7Server(opts: {
  labId: string;
  netns: string;
  ip: string;
  nginx: string;
}): Promise<L7Server> {
  const dir = await mkdtemp(serverTempPrefix(opts.labId));
  let daemon: Daemon | undefined;
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      await daemon?.stop();
      await rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };
  try {
    await chmod(dir, 0o755);
    await mkdir(join(dir, 'www'));
    await writeFile(join(dir, 'www', 'index.html'), page());
    await writeFile(join(dir, 'nginx.conf'), nginxConfig(dir, opts.ip));
    await writeFile(join(dir, 'done.lua'), WRK_DONE);
    daemon = startDaemon(
      inNetns(opts.netns, [opts.nginx, '-c', join(dir, 'nginx.conf'), '-p', dir, '-g', 'daemon off;']),
    );
    const until = Date.now() + 10_000;
    for (;;) {
      if (daemon.exited()) throw new CommandError(daemon.argv, 'exited at start', daemon.output());
      if ((await listening(opts.netns)).has(HTTP_PORT)) break;
      if (Date.now() > until)
        throw new CommandError(daemon.argv, 'did not listen within 10 s', daemon.output());
      await sleep(50);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { dir, wrkScript: join(dir, 'done.lua'), stop };
}

export interface Saturation {
  readonly requests: number;
  readonly perSecond: number;
  /** Non-2xx/3xx answers plus socket errors (connect, read, write, timeout). */
  readonly failed: number;
  /** `failed` by kind, where any: e.g. `{status: 3, read: 17}`. */
  readonly errors: Readonly<Record<string, number>>;
}

interface WrkDone {
  requests: number;
  duration_us: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
}

export function parseWrk(stdout: string): Saturation | undefined {
  const line = stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{"requests"'));
  if (line === undefined) return undefined;
  const d = JSON.parse(line) as WrkDone;
  return {
    requests: d.requests,
    perSecond: d.duration_us > 0 ? d.requests / (d.duration_us / 1e6) : 0,
    failed: d.status + d.connect + d.read + d.write + d.timeout,
    errors: Object.fromEntries(
      (['status', 'connect', 'read', 'write', 'timeout'] as const).flatMap((k) =>
        d[k] > 0 ? [[k, d[k]]] : [],
      ),
    ),
  };
}

export interface WrkOptions {
  readonly wrk: string;
  readonly script: string;
  readonly clientNetns: string;
  readonly url: string;
  readonly seconds: number;
  readonly threads?: number;
  readonly connections?: number;
}

function wrkArgv(o: WrkOptions): string[] {
  return inNetns(o.clientNetns, [
    o.wrk,
    `-t${o.threads ?? 2}`,
    `-c${o.connections ?? 64}`,
    `-d${o.seconds}s`,
    '--timeout',
    '5s',
    '-s',
    o.script,
    o.url,
  ]);
}

/** Requests/s over keep-alive connections, `-t2 -c64` unless told otherwise. */
export async function measureSaturation(o: WrkOptions): Promise<Saturation> {
  const argv = wrkArgv(o);
  const r = await run(argv, { timeoutMs: o.seconds * 1000 + 15_000 });
  const s = r.code === 0 ? parseWrk(r.stdout) : undefined;
  if (s === undefined)
    throw new CommandError(argv, r.timedOut ? 'timed out' : `exited with ${r.code}`, r.stderr);
  return s;
}

/**
 * wrk running until `stop()` (SIGINT: wrk stops its threads and still prints its summary), capped at
 * `o.seconds`. For the churn check, whose length is that of the policy updates.
 */
export function startWrk(o: WrkOptions): { stop(): Promise<Saturation> } {
  const argv = wrkArgv(o);
  const [cmd, ...args] = argv;
  const child: ChildProcess = spawn(cmd ?? 'ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (err += b.toString().slice(0, 4096)));
  const closed = new Promise<number | null>((resolve) => {
    child.on('close', (code) => resolve(code));
    child.on('error', () => resolve(-1));
  });
  const cap = setTimeout(() => child.kill('SIGKILL'), o.seconds * 1000 + 15_000);
  return {
    async stop() {
      child.kill('SIGINT');
      const code = await closed;
      clearTimeout(cap);
      const s = parseWrk(out);
      if (s === undefined) throw new CommandError(argv, `exited with ${String(code)}`, err);
      return s;
    },
  };
}

export interface FixedRate {
  /** Asked for. */
  readonly rate: number;
  /** Held: answers ÷ the run's length. */
  readonly achieved: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** Answers that were not 2xx (hey's CSV lists answered requests only). */
  readonly failed: number;
}

/** hey's CSV: `response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset`. */
export function parseHeyCsv(csv: string): { times: number[]; failed: number } {
  const times: number[] = [];
  let failed = 0;
  for (const line of csv.split('\n')) {
    const f = line.split(',');
    const t = Number(f[0]);
    const status = Number(f[6]);
    if (f.length < 8 || !Number.isFinite(t) || !Number.isInteger(status) || line.startsWith('response'))
      continue;
    times.push(t * 1000);
    if (status < 200 || status > 299) failed++;
  }
  return { times, failed };
}

export async function measureFixedRate(o: {
  readonly hey: string;
  readonly clientNetns: string;
  readonly url: string;
  readonly seconds: number;
  readonly rate: number;
  readonly workers?: number;
}): Promise<FixedRate> {
  const workers = Math.max(1, Math.min(o.workers ?? 16, Math.floor(o.rate)));
  const perWorker = o.rate / workers;
  const argv = inNetns(o.clientNetns, [
    o.hey,
    '-z',
    `${o.seconds}s`,
    '-c',
    String(workers),
    '-q',
    perWorker.toFixed(3),
    '-t',
    '5',
    '-o',
    'csv',
    o.url,
  ]);
  const r = await run(argv, { timeoutMs: o.seconds * 1000 + 20_000 });
  if (r.code !== 0)
    throw new CommandError(argv, r.timedOut ? 'timed out' : `exited with ${r.code}`, r.stderr);
  const { times, failed } = parseHeyCsv(r.stdout);
  const ms = (p: number): number | null => {
    const v = percentile(times, p);
    return v === undefined ? null : Math.round(v * 100) / 100;
  };
  return {
    rate: Math.round(o.rate),
    achieved: Math.round(times.length / o.seconds),
    p50Ms: ms(50),
    p99Ms: ms(99),
    failed,
  };
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on every Linux architecture we run on). */
const USER_HZ = 100;

/** utime + stime (fields 14 and 15) of one /proc/<pid>/stat line, in ticks. */
export function cpuTicks(stat: string): number | undefined {
  // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? utime + stime : undefined;
}

/** CPU ticks of every `haproxy` process in the named netns, by pid. */
export async function haproxyTicks(netns: string): Promise<Map<number, number>> {
  const want = await stat(`/run/netns/${netns}`).then(
    (s) => `net:[${s.ino}]`,
    () => undefined,
  );
  const out = new Map<number, number>();
  if (want === undefined) return out;
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
    if (comm !== 'haproxy') continue;
    if ((await readlink(`/proc/${pid}/ns/net`).catch(() => '')) !== want) continue;
    const ticks = cpuTicks(await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''));
    if (ticks !== undefined) out.set(pid, ticks);
  }
  return out;
}

/** CPU ms the processes spent between two samples (a process that started in between counts from 0). */
export function cpuMsBetween(
  before: ReadonlyMap<number, number>,
  after: ReadonlyMap<number, number>,
): number {
  let ticks = 0;
  for (const [pid, t] of after) ticks += t - (before.get(pid) ?? 0);
  return (ticks * 1000) / USER_HZ;
}
