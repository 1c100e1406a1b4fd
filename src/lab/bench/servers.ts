/**
 * The benchmark's servers, inside the server pod's netns and bound to the pod IP: iperf3 (throughput)
 * and nginx with a tiny configuration serving one small file (connection rate, connect latency). nginx's
 * pid, log and temp files live in a temp dir of our own, so nothing of the system's nginx is touched.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HTTP_PORT, IPERF_PORT } from './rules.js';
import { CommandError, inNetns, run } from '../../util/process.js';

/** A long-lived process; `stop()` ends it (TERM, then KILL after a grace period). Idempotent. */
export interface Daemon {
  readonly pid: number;
  readonly argv: readonly string[];
  /** Output so far, for error messages when it died early. */
  output(): string;
  exited(): boolean;
  stop(): Promise<void>;
}

/**
 * Starts a server (argv runs under `ip netns exec`, which execs it, so the pid is the server's own);
 * stopped in `finally`, and `labDown` kills any process still living in a lab netns, so even a killed
 * bench leaves no server behind.
 */
export function startDaemon(argv: readonly string[]): Daemon {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new CommandError(argv, 'empty command', '');
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new CommandError(argv, 'could not start', '');
  const out: string[] = [];
  const keep = (b: Buffer) => {
    // Only the beginning matters (why it failed to start); a chatty server must not grow without bound.
    if (out.join('').length < 8192) out.push(b.toString());
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  const gone = new Promise<void>((resolve) => {
    child.on('close', () => {
      exited = true;
      resolve();
    });
    child.on('error', () => {
      exited = true;
      resolve();
    });
  });
  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid,
    argv,
    output: () => out.join(''),
    exited: () => exited,
    stop() {
      stopping ??= (async () => {
        if (exited) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
        await gone;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Prefix of the temp dirs: `pal-bench-<lab id>-…`, so a test can tell that none is left. */
export function serverTempPrefix(labId: string): string {
  return join(tmpdir(), `pal-bench-${labId}-`);
}

/** The file the HTTP clients fetch: small, so a request costs its connection, not its transfer. */
/** nginx's temp directories inside `dir`: its compiled-in defaults are not writable in a lab. */
export function nginxTempPaths(dir: string): string {
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((k) => `${k}_temp_path ${dir}/${k === 'client_body' ? 'body' : k};`)
    .join('\n  ');
}

export const HTTP_PATH = '/pal-bench.txt';

export interface ServerOptions {
  readonly labId: string;
  readonly netns: string;
  readonly ip: string;
  readonly iperf3: string;
  readonly nginx: string;
}

export interface BenchServers {
  readonly dir: string;
  /** Stops both servers and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

function nginxConfig(dir: string, ip: string): string {
  return `# written by palisade bench datapath
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log error;
# The master is root; workers as root too, so they can read the temp dir whatever its mode.
user root;
events { worker_connections 8192; }
http {
  access_log off;
  # No keep-alive: every request is a new connection, which is what the connection rate measures.
  keepalive_timeout 0;
  ${nginxTempPaths(dir)}
  server {
    listen ${ip}:${HTTP_PORT} backlog=4096;
    root ${dir}/www;
  }
}
`;
}

/** TCP ports listening in `netns` (ss inside the netns). */
export async function listening(netns: string): Promise<Set<number>> {
  const r = await run(['ss', '-Htln'], { netns, timeoutMs: 5000 });
  const ports = new Set<number>();
  for (const line of r.stdout.split('\n')) {
    const local = line.trim().split(/\s+/)[3];
    const port = Number(local?.slice(local.lastIndexOf(':') + 1));
    if (Number.isInteger(port)) ports.add(port);
  }
  return ports;
}

export async function startServers(opts: ServerOptions): Promise<BenchServers> {
  const dir = await mkdtemp(serverTempPrefix(opts.labId));
  const daemons: Daemon[] = [];
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      await Promise.all(daemons.map((d) => d.stop()));
      await rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };
  try {
    await chmod(dir, 0o755);
    await mkdir(join(dir, 'www'));
    await writeFile(join(dir, 'www', HTTP_PATH.slice(1)), 'palisade bench\n');
    await writeFile(join(dir, 'nginx.conf'), nginxConfig(dir, opts.ip));
    daemons.push(
      startDaemon(inNetns(opts.netns, [opts.iperf3, '-s', '-B', opts.ip, '-p', String(IPERF_PORT)])),
      startDaemon(
        inNetns(opts.netns, [opts.nginx, '-c', join(dir, 'nginx.conf'), '-p', dir, '-g', 'daemon off;']),
      ),
    );
    // Ready when both ports listen; a server that exits instead fails the run with what it said.
    const until = Date.now() + 10_000;
    for (;;) {
      const dead = daemons.find((d) => d.exited());
      if (dead) throw new CommandError(dead.argv, 'exited at start', dead.output());
      const ports = await listening(opts.netns);
      if (ports.has(HTTP_PORT) && ports.has(IPERF_PORT)) break;
      if (Date.now() > until) {
        throw new CommandError(
          daemons.flatMap((d) => d.argv),
          'servers did not listen within 10 s',
          daemons.map((d) => d.output()).join('\n'),
        );
      }
      await sleep(50);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { dir, stop };
}
