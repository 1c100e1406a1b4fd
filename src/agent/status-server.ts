/**
 * `palisade status` talks to a running agent over a unix socket: connect, read one JSON document, done.
 * A socket file (not a TCP port) because only local root should read it and its path names the node.
 */
import { mkdir, unlink } from 'node:fs/promises';
import type { Server } from 'node:net';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { filesIn } from '../util/files.js';

export const DEFAULT_STATE_DIR = '/run/palisade';

export function socketPathFor(stateDir: string, node: string): string {
  return join(stateDir, `agent-${node}.sock`);
}

/** The status sockets of every agent under `stateDir` (socketPathFor's names), sorted. */
export async function agentSocketsIn(stateDir: string): Promise<string[]> {
  return filesIn(stateDir, (n) => /^agent-.+\.sock$/.test(n));
}

/** Whether something answers on `path` (a live agent), so a stale socket file can be removed safely. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const t = setTimeout(() => {
      s.destroy();
      resolve(true); // it accepted but is slow: treat as alive rather than steal its socket
    }, 1000);
    s.on('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve(true);
    });
    s.on('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

export class SocketInUseError extends Error {
  override readonly name = 'SocketInUseError';
  constructor(readonly path: string) {
    super(`another agent answers on ${path}`);
  }
}

export interface StatusServer {
  readonly path: string;
  close(): Promise<void>;
}

export async function serveStatus(path: string, status: () => unknown): Promise<StatusServer> {
  await mkdir(join(path, '..'), { recursive: true, mode: 0o755 });
  if (await answers(path)) throw new SocketInUseError(path);
  await unlink(path).catch(() => undefined);
  const server: Server = createServer((sock) => {
    sock.on('error', () => undefined); // a client that hangs up early is not our problem
    sock.end(`${JSON.stringify(status())}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    path,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await unlink(path).catch(() => undefined);
    },
  };
}

/** Reads one status document from the agent on `path`, within `timeoutMs`. */
export function readStatus(path: string, timeoutMs = 3000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer from ${path} within ${timeoutMs}ms`));
    }, timeoutMs);
    sock.on('data', (b: Buffer) => chunks.push(b));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new Error(`${path}: the agent closed the connection without a status`));
      }
    });
  });
}
