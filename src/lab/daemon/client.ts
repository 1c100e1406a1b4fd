/**
 * The client side of the lab daemon: starting one (`lab up`), sending it one request per connection, and
 * taking a lab down whether or not its daemon still answers. Every wait is bounded.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { connect } from 'node:net';
import { labDown } from '../fabric.js';
import type { DownReport } from '../fabric.js';
import { MAX_MESSAGE_BYTES, safeParseResponse, socketPath } from './protocol.js';
import type { LabRequest, LabResponse, ResponseOf, UpReport, UpRequest } from './protocol.js';

/** Nothing listens on the lab's socket: the lab is not up, or its daemon died. */
export class LabNotRunningError extends Error {
  override readonly name = 'LabNotRunningError';
  constructor(
    readonly id: string,
    options?: ErrorOptions,
  ) {
    super(`no lab "${id}" is running (nothing answers on ${socketPath(id)})`, options);
  }
}

/** The daemon took longer than the caller allowed. */
export class LabTimeoutError extends Error {
  override readonly name = 'LabTimeoutError';
  constructor(
    readonly id: string,
    readonly op: string,
    readonly timeoutMs: number,
  ) {
    super(`lab "${id}" did not answer ${op} within ${timeoutMs}ms`);
  }
}

/** Sends one request and waits at most `timeoutMs` for the one-line answer. */
export function callLab<R extends LabRequest>(
  id: string,
  request: R,
  timeoutMs: number,
): Promise<LabResponse<ResponseOf[R['op']]>> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath(id));
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      fn();
    };
    const timer = setTimeout(
      () => settle(() => reject(new LabTimeoutError(id, request.op, timeoutMs))),
      timeoutMs,
    );
    sock.on('connect', () => sock.write(`${JSON.stringify(request)}\n`));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      const gone = err.code === 'ENOENT' || err.code === 'ECONNREFUSED';
      settle(() => reject(gone ? new LabNotRunningError(id, { cause: err }) : err));
    });
    sock.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > MAX_MESSAGE_BYTES) settle(() => reject(new Error(`lab "${id}": answer too large`)));
    });
    sock.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      const parsed = safeParseResponse<ResponseOf[R['op']]>(text);
      settle(() =>
        parsed.ok ? resolve(parsed.value) : reject(new Error(`lab "${id}": ${parsed.error.message}`)),
      );
    });
  });
}

/** The daemon's pid when it answers status within `timeoutMs`, else undefined. */
export async function daemonPid(id: string, timeoutMs = 2000): Promise<number | undefined> {
  try {
    const r = await callLab(id, { op: 'status' }, timeoutMs);
    return r.ok ? r.value.pid : undefined;
  } catch {
    return undefined;
  }
}

export interface StartOptions {
  readonly id: string;
  /** How to run `palisade lab serve --id ID`: node and its arguments. */
  readonly command: string;
  readonly args: readonly string[];
  readonly up: UpRequest;
  /** Bound on building the lab; on expiry the daemon is killed and the lab removed. */
  readonly timeoutMs: number;
  /** Told the daemon's pid (also its process group) at once, so that a caller interrupted mid-build can kill it. */
  readonly onSpawn?: (pid: number) => void;
}

/**
 * Starts the lab daemon detached (its own session and process group, so neither the terminal's Ctrl-C
 * nor the end of this process reaches it), hands it the build request on stdin, and waits for its verdict
 * on fd 3. A daemon that dies or hangs before answering is killed and its lab removed; a failure it
 * reports has been cleaned up by the daemon itself.
 */
export async function startLabDaemon(opts: StartOptions): Promise<LabResponse<UpReport>> {
  const child = spawn(opts.command, [...opts.args], {
    detached: true,
    cwd: '/',
    stdio: ['pipe', 'ignore', 'ignore', 'pipe'],
  });
  if (child.pid !== undefined) opts.onSpawn?.(child.pid);
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(JSON.stringify(opts.up));
  const ready = child.stdio[3] as Readable;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const spawnFailed = new Promise<Error>((resolve) => child.once('error', resolve));
  const answer = (async (): Promise<string> => {
    const chunks: Buffer[] = [];
    for await (const chunk of ready) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), opts.timeoutMs);
  });
  const outcome = await Promise.race([answer, timeout, spawnFailed]);
  clearTimeout(timer);
  const cleanUp = async (why: string): Promise<LabResponse<UpReport>> => {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    await labDown({ id: opts.id });
    return { ok: false, kind: 'internal', error: why };
  };
  if (outcome === 'timeout') return cleanUp(`the lab daemon did not report within ${opts.timeoutMs}ms`);
  if (outcome instanceof Error) return cleanUp(`cannot start the lab daemon: ${outcome.message}`);
  let response: LabResponse<UpReport>;
  try {
    response = JSON.parse(outcome) as LabResponse<UpReport>;
  } catch {
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('?'), 2000))]);
    return cleanUp(`the lab daemon exited (code ${String(code)}) before it was ready`);
  }
  if (response.ok) {
    // Let this process end without waiting for the daemon.
    ready.destroy();
    child.unref();
  } else {
    // It cleaned up and is exiting; wait, bounded, so the next command does not see it half-gone.
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  }
  return response;
}

export interface DownOutcome {
  /** Whether the daemon answered and took the lab down itself. */
  readonly viaDaemon: boolean;
  readonly report: DownReport;
}

/**
 * Takes lab `id` down: asks its daemon, then, whether it answered or not, removes whatever is left by name
 * (labDown kills a hung daemon too: its pid is recorded and its process name starts with `pal-`; a
 * process that merely owns the id without being a lab process is left alone).
 */
export async function downLab(id: string, timeoutMs = 30_000): Promise<DownOutcome> {
  let viaDaemon = false;
  let first: DownReport | undefined;
  try {
    const r = await callLab(id, { op: 'down' }, timeoutMs);
    if (r.ok) {
      viaDaemon = true;
      first = r.value;
    }
  } catch {
    // dead or hung: the fallback below handles both
  }
  const rest = await labDown({ id });
  const report: DownReport = first
    ? {
        labs: first.labs,
        killed: [...first.killed, ...rest.killed],
        netns: [...first.netns, ...rest.netns],
        links: [...first.links, ...rest.links],
      }
    : rest;
  return { viaDaemon, report };
}
