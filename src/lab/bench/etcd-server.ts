/**
 * A throwaway etcd: Debian's /usr/bin/etcd on loopback ephemeral ports, its data in a `pal-` temp dir,
 * killed and removed at the end (and killed by an exit hook if the process dies first). The one etcd
 * launcher: `bench sync`'s `etcd:` run starts one, the agent tests also kill and restart it on the same
 * ports and data to stage an outage.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ETCD_BINARY = 'etcd';

export interface EtcdServer {
  readonly url: string;
  readonly dataDir: string;
  /** The running etcd's pid; undefined while it is down. */
  pid(): number | undefined;
  /** Kills etcd (SIGKILL, as a crash would) and keeps its data and ports for `restart`. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and data; resolves once it answers healthy. */
  restart(): Promise<void>;
  /** Kills etcd and removes its data; idempotent. */
  stop(): Promise<void>;
}

/** Why etcd cannot be used here, or undefined when it can. */
export function etcdMissing(): string | undefined {
  return spawnSync(ETCD_BINARY, ['--version']).status === 0
    ? undefined
    : 'etcd is not installed (apt-get install etcd-server)';
}

/** A loopback TCP port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function healthy(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode} while starting`);
    try {
      const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await r.json()) as { health?: string };
      if (body.health === 'true') return;
      last = JSON.stringify(body);
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await sleep(100);
  }
  throw new Error(`etcd at ${url} not healthy within ${timeoutMs} ms: ${last}`);
}

/** Starts etcd named `tag` (its temp dir is `<tmp>/<tag>-etcd-…`); resolves once it answers healthy. */
export async function startEtcd(tag: string, timeoutMs = 20_000): Promise<EtcdServer> {
  const dataDir = await mkdtemp(join(tmpdir(), `${tag}-etcd-`));
  const [client, peer] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const argv = [
    '--name',
    tag,
    '--data-dir',
    join(dataDir, 'data'),
    '--listen-client-urls',
    url,
    '--advertise-client-urls',
    url,
    '--listen-peer-urls',
    peerUrl,
    '--initial-advertise-peer-urls',
    peerUrl,
    '--initial-cluster',
    `${tag}=${peerUrl}`,
  ];
  let child: ChildProcess | undefined;
  // 'exit' handlers cannot wait: a synchronous kill so that a crashed caller leaves no etcd running.
  const onExit = (): void => {
    if (child?.exitCode === null) child.kill('SIGKILL');
  };
  process.on('exit', onExit);
  const kill = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGKILL');
    await Promise.race([exited, sleep(5000)]);
  };
  const restart = async (): Promise<void> => {
    await kill();
    const c = spawn(ETCD_BINARY, argv, { stdio: 'ignore' });
    c.once('error', () => undefined);
    child = c;
    await healthy(url, c, timeoutMs);
  };
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await kill();
      process.removeListener('exit', onExit);
      await rm(dataDir, { recursive: true, force: true });
    })();
    return stopped;
  };
  try {
    await restart();
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, dataDir, pid: () => child?.pid, kill, restart, stop };
}
