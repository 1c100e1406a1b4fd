/**
 * Processes of the datapath benchmark, all inside a lab netns through `ip netns exec` (which execs the
 * tool, so the pid we hold is the tool's own): bounded clients that are killed at their deadline, and
 * long-lived servers that are stopped in `finally`. `labDown` kills any process still living in a lab
 * netns, so even a killed benchmark leaves no server behind.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Killed at the deadline. */
  readonly timedOut: boolean;
}

export class BenchCommandError extends Error {
  readonly command: readonly string[];
  readonly stderr: string;
  constructor(command: readonly string[], message: string, stderr: string, options?: ErrorOptions) {
    super(
      `${command.join(' ')}: ${message}${stderr.trim() ? `: ${stderr.trim().slice(0, 500)}` : ''}`,
      options,
    );
    this.name = 'BenchCommandError';
    this.command = command;
    this.stderr = stderr;
  }
}

export function inNetns(netns: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', netns, ...argv];
}

/** Runs argv to completion or until `timeoutMs` (then SIGKILL); never rejects for a non-zero exit. */
export function execBounded(argv: readonly string[], timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    if (cmd === undefined) {
      reject(new Error('empty command'));
      return;
    }
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new BenchCommandError(argv, e.message, '', { cause: e }));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        timedOut,
      });
    });
  });
}

/** `execBounded` that rejects unless the command exited 0 in time. */
export async function execChecked(argv: readonly string[], timeoutMs: number): Promise<string> {
  const r = await execBounded(argv, timeoutMs);
  if (r.timedOut) throw new BenchCommandError(argv, `no result within ${timeoutMs} ms`, r.stderr);
  if (r.code !== 0) throw new BenchCommandError(argv, `exited with ${r.code}`, r.stderr + r.stdout);
  return r.stdout;
}

/** A long-lived process; `stop()` ends it (TERM, then KILL after a grace period). Idempotent. */
export interface Daemon {
  readonly pid: number;
  readonly argv: readonly string[];
  /** Output so far, for error messages when it died early. */
  output(): string;
  exited(): boolean;
  stop(): Promise<void>;
}

export function startDaemon(argv: readonly string[]): Daemon {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('empty command');
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new BenchCommandError(argv, 'could not start', '');
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

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
