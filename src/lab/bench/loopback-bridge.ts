/**
 * Makes a loopback TCP service of the root netns (bench sync's etcd) reachable at the same address from
 * inside lab node netns, where agents run: a unix socket served here relays to the service, and a relay
 * in each node netns (loopback-bridge-main.ts) listens on 127.0.0.1:<same port> and relays to that unix
 * socket. Each hop is a local socket copy, small beside what is measured; everything stops in `stop()`,
 * and the relays also die with this process (their stdin closes; setpriv's death signal when present).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { symlink, unlink } from 'node:fs/promises';
import type { Server, Socket } from 'node:net';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { forgetPid, recordPid } from '../state.js';

export const BRIDGE_PROCESS_NAME = 'pal-bsync-bridge';
const READY_MS = 20_000;

export interface LoopbackBridge {
  stop(): Promise<void>;
}

/** dist/src/lab/bench/loopback-bridge.js -> dist/src/lab/bench/loopback-bridge-main.js */
const ENTRY = fileURLToPath(new URL('./loopback-bridge-main.js', import.meta.url));

function relayTo(port: number, open: Set<Socket>): Server {
  return createServer((client) => {
    open.add(client);
    client.once('close', () => open.delete(client));
    const upstream = createConnection({ host: '127.0.0.1', port });
    client.pipe(upstream).pipe(client);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', close);
      s.on('close', close);
    }
  });
}

async function startRelay(
  labId: string,
  exe: string,
  netns: string,
  port: number,
  unix: string,
): Promise<ChildProcessWithoutNullStreams> {
  const deathSignal =
    spawnSync('setpriv', ['--pdeathsig', 'KILL', 'true']).status === 0
      ? ['setpriv', '--pdeathsig', 'KILL']
      : [];
  const argv = [
    ...deathSignal,
    'ip',
    'netns',
    'exec',
    netns,
    exe,
    ENTRY,
    '--port',
    String(port),
    '--unix',
    unix,
    `--lab=${labId}`,
  ];
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => undefined);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  const lines = createInterface({ input: child.stdout });
  await new Promise<void>((resolve, reject) => {
    const fail = (why: string): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`relay in ${netns} ${why}: ${stderr.trim() || 'no message'}`));
    };
    const timer = setTimeout(() => fail(`not listening within ${READY_MS} ms`), READY_MS);
    lines.once('line', (line) => {
      clearTimeout(timer);
      if (line.startsWith('listening ')) resolve();
      else fail(`said "${line}"`);
    });
    child.once('exit', () => fail('exited'));
    child.once('error', (e) => fail(e.message));
  });
  // Recorded under its `pal-` name, so that labDown of this lab also finds it after a crash.
  if (child.pid !== undefined) await recordPid(labId, child.pid, BRIDGE_PROCESS_NAME);
  return child;
}

/**
 * Serves `<dir>/loopback.sock` → 127.0.0.1:`port` here, and 127.0.0.1:`port` → that socket in each of
 * `netns`. `dir` must be private to the caller (a temp dir that goes with it).
 */
export async function bridgeLoopback(
  labId: string,
  dir: string,
  port: number,
  netns: readonly string[],
): Promise<LoopbackBridge> {
  const unix = join(dir, 'loopback.sock');
  const exe = join(dir, BRIDGE_PROCESS_NAME);
  await symlink(process.execPath, exe).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  const open = new Set<Socket>();
  const server = relayTo(port, open);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(unix, () => resolve());
  });
  const relays: ChildProcessWithoutNullStreams[] = [];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await Promise.all(
        relays.map(async (c) => {
          if (c.exitCode !== null || c.signalCode !== null) return;
          const exited = new Promise((r) => c.once('exit', r));
          c.stdin.end();
          const t = setTimeout(() => c.kill('SIGKILL'), 2000);
          await exited;
          clearTimeout(t);
          if (c.pid !== undefined) await forgetPid(labId, c.pid);
        }),
      );
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of open) c.destroy();
      await closed;
      await unlink(unix).catch(() => undefined);
    })();
    return stopped;
  };
  try {
    for (const n of netns) relays.push(await startRelay(labId, exe, n, port, unix));
  } catch (e) {
    await stop();
    throw e;
  }
  return { stop };
}
