/**
 * The request server behind the fast-start shim (native/palisade-cni.c). The runtime starts the shim,
 * a ~1 ms C program; it forwards its CNI_* environment and stdin over a unix socket to this server, which
 * runs them through the very `runPlugin` the Node entry uses and sends back exit code, stdout and stderr.
 * So an ADD costs its real work (two `ip` processes, started by pal-spawn, and a few file operations)
 * instead of a Node start-up.
 * The agent will host this server in its own process; `palisade-cni-server` (server-main.ts) runs it
 * alone until then.
 *
 * Wire format, request: `PALCNI1\n`, then `KEY=VALUE\0` per variable, an empty entry (`\0`), then the
 * stdin bytes until the client half-closes. Reply: `<exit> <stdoutBytes> <stderrBytes>\n`, stdout, stderr.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, unlink } from 'node:fs/promises';
import type { Server, Socket } from 'node:net';
import { createConnection, createServer } from 'node:net';
import { dirname } from 'node:path';
import { SPAWNER_BINARY } from './install.js';
import type { Spawner } from './kernel/spawner.js';
import { startSpawner } from './kernel/spawner.js';
import type { PluginDeps } from './plugin.js';
import { runPlugin } from './plugin.js';
import type { PluginOutput } from './spec.js';

export const DEFAULT_SERVER_SOCKET = '/run/palisade/cni.sock';
export const SHIM_MAGIC = 'PALCNI1\n';

export interface CniServer {
  readonly socket: string;
  /** How the server starts `ip`: through the pal-spawn helper, or child_process when it is missing. */
  readonly spawner: 'pal-spawn' | 'child_process';
  close(): Promise<void>;
}

export function decodeRequest(buf: Buffer): { vars: Record<string, string>; stdin: string } | undefined {
  if (buf.subarray(0, SHIM_MAGIC.length).toString() !== SHIM_MAGIC) return undefined;
  const vars: Record<string, string> = {};
  let pos = SHIM_MAGIC.length;
  for (;;) {
    const end = buf.indexOf(0, pos);
    if (end < 0) return undefined;
    if (end === pos) {
      pos++;
      break;
    }
    const entry = buf.subarray(pos, end).toString();
    const eq = entry.indexOf('=');
    if (eq > 0) vars[entry.slice(0, eq)] = entry.slice(eq + 1);
    pos = end + 1;
  }
  return { vars, stdin: buf.subarray(pos).toString('utf8') };
}

export function encodeReply(out: PluginOutput): Buffer {
  const so = Buffer.from(out.stdout);
  const se = Buffer.from(out.stderr);
  return Buffer.concat([Buffer.from(`${out.exitCode} ${so.length} ${se.length}\n`), so, se]);
}

function serve(conn: Socket, deps: PluginDeps): void {
  const chunks: Buffer[] = [];
  conn.on('data', (b: Buffer) => chunks.push(b));
  conn.on('error', () => conn.destroy());
  conn.on('end', () => {
    const req = decodeRequest(Buffer.concat(chunks));
    const reply: Promise<PluginOutput> = req
      ? runPlugin(req.vars, req.stdin, deps)
      : Promise.resolve({ exitCode: 1, stdout: '', stderr: 'palisade-cni-server: malformed request\n' });
    reply.then(
      (out) => conn.end(encodeReply(out)),
      (err: unknown) => conn.end(encodeReply({ exitCode: 1, stdout: '', stderr: `${String(err)}\n` })),
    );
  });
}

/** Whether something accepts connections on the unix socket `path` (a stale socket file does not). */
export async function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ path });
    c.on('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

/**
 * The server's commands run through pal-spawn (kernel/spawner.ts) so parallel ADDs do not queue behind
 * forks of this process. Without the helper binary (a build without native parts) they fall back to
 * child_process, which is correct, only slower under load; the caller learns which through `spawner`.
 */
function defaultSpawner(): Spawner | undefined {
  return existsSync(SPAWNER_BINARY) ? startSpawner(SPAWNER_BINARY) : undefined;
}

/** Listens on `socket` (root-only), replacing a stale socket file but never a live server. */
export async function startCniServer(
  socket: string = DEFAULT_SERVER_SOCKET,
  deps: PluginDeps = {},
): Promise<CniServer> {
  await mkdir(dirname(socket), { recursive: true });
  if (await socketInUse(socket)) throw new Error(`a CNI server already listens on ${socket}`);
  await unlink(socket).catch(() => undefined);
  const spawner = deps.exec === undefined ? defaultSpawner() : undefined;
  const runDeps: PluginDeps = spawner === undefined ? deps : { ...deps, exec: spawner.exec };
  // Half-open: the shim half-closes to mark the end of stdin and then reads the reply.
  const server: Server = createServer({ allowHalfOpen: true }, (conn) => serve(conn, runDeps));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve());
  });
  await chmod(socket, 0o600);
  return {
    socket,
    spawner: spawner === undefined ? 'child_process' : 'pal-spawn',
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          spawner?.close();
          resolve();
        });
      }),
  };
}
