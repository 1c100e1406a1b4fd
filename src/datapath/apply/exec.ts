/**
 * Running a datapath tool (nft, iptables-restore), optionally inside a network namespace through
 * `ip netns exec`. The only place in src/datapath that starts processes.
 */
import { spawn } from 'node:child_process';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Named netns (`ip netns list`); absent: the caller's own namespace. */
  readonly netns?: string;
  readonly input?: string;
  /** Killed (SIGKILL) and rejected with DatapathCommandError when it runs longer than this. */
  readonly timeoutMs?: number;
}

/** Failure of a datapath command, with what it ran and what it said. */
export class DatapathCommandError extends Error {
  override readonly name = 'DatapathCommandError';
  constructor(
    readonly command: readonly string[],
    readonly code: number,
    readonly stderr: string,
    /** The script fed on stdin, when there was one: what to look at when a transaction is refused. */
    readonly input?: string,
    options?: ErrorOptions,
  ) {
    super(
      `${command.join(' ')} exited with ${code}: ${stderr.trim().split('\n').slice(0, 6).join('\n')}`,
      options,
    );
  }
}

export function withNetns(argv: readonly string[], netns: string | undefined): string[] {
  return netns === undefined ? [...argv] : ['ip', 'netns', 'exec', netns, ...argv];
}

/**
 * Runs argv and collects its output; never rejects for a non-zero exit (the caller decides), only when it
 * cannot start or outlives `timeoutMs`.
 */
export function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const full = withNetns(argv, options.netns);
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = full;
    if (cmd === undefined) {
      reject(new Error('empty command'));
      return;
    }
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, options.timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new DatapathCommandError(full, -1, e.message, options.input, { cause: e }));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString();
      if (timedOut)
        reject(
          new DatapathCommandError(
            full,
            -1,
            `killed after ${options.timeoutMs} ms\n${stderr}`,
            options.input,
          ),
        );
      else resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr });
    });
    child.stdin.on('error', () => undefined); // the exit code tells what went wrong
    child.stdin.end(options.input ?? '');
  });
}

/** Like `run`, rejecting with DatapathCommandError on a non-zero exit. */
export async function runChecked(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const r = await run(argv, options);
  if (r.code !== 0)
    throw new DatapathCommandError(withNetns(argv, options.netns), r.code, r.stderr, options.input);
  return r;
}
