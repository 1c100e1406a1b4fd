/**
 * The one process runner: start argv without a shell, feed `input` on stdin, collect exit code, stdout and
 * stderr. The CNI plugin (ip, nsenter), the datapath appliers (nft, iptables-restore), the agent
 * (conntrack) and the lab (ip, iperf3, hey) all run commands through it or through another `Runner`
 * (the CNI server's pal-spawn helper, cni/kernel/spawner.ts), so every command failure reads the same.
 */
import { spawn } from 'node:child_process';

export interface RunOptions {
  /** Written to stdin, which is then closed; absent: an empty stdin. */
  readonly input?: string | undefined;
  /** Named netns (`ip netns list`) to run in through `ip netns exec`; absent: the caller's own. */
  readonly netns?: string | undefined;
}

export interface RunResult {
  /** Exit code; not 0 for a process killed by a signal (-1 from child_process, 128+N from pal-spawn). */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs argv to completion. Resolves for any exit code (the caller decides what a failure is); rejects
 * with CommandError only when the command could not be started or run.
 */
export type Runner = (argv: readonly string[], options?: RunOptions) => Promise<RunResult>;

/** What only the child_process runner can do: a deadline, an environment, the pid. */
export interface SpawnOptions extends RunOptions {
  /** SIGKILL after this long; the result then says `timedOut`. */
  readonly timeoutMs?: number;
  /** The whole environment of the child; absent: ours. */
  readonly env?: Readonly<Record<string, string>>;
  /** Called with the child's pid as soon as it runs. */
  readonly onSpawn?: (pid: number) => void;
}

export interface SpawnResult extends RunResult {
  /** Killed at `timeoutMs`. */
  readonly timedOut: boolean;
}

/** A command that could not run, or (from `runChecked`) did not exit 0 in time: what ran and what it said. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    /** The full argv, with the `ip netns exec` prefix when there was one. */
    readonly command: readonly string[],
    /** What went wrong, in words: "exited with 2", "timed out after 5000 ms", the spawn error. */
    readonly reason: string,
    readonly stderr: string,
    /** The exit code; -1 when there was none. */
    readonly code = -1,
    /** The text fed on stdin, when there was one: what to look at when a script is refused. */
    readonly input?: string,
    options?: ErrorOptions,
  ) {
    const said = stderr.trim().split('\n').slice(0, 6).join('\n').slice(0, 1000);
    super(`${command.join(' ')}: ${reason}${said === '' ? '' : `: ${said}`}`, options);
  }
}

/** argv run inside the named netns (`ip netns exec` execs it, so the pid is the command's own). */
export function inNetns(netns: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', netns, ...argv];
}

/** argv as it runs under `options`: inside its netns when it names one. */
export function fullArgv(argv: readonly string[], options: RunOptions = {}): string[] {
  return options.netns === undefined ? [...argv] : inNetns(options.netns, argv);
}

/** The child_process runner (a `Runner`, with the extra options only a child process has). */
export function run(argv: readonly string[], options: SpawnOptions = {}): Promise<SpawnResult> {
  const full = fullArgv(argv, options);
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = full;
    if (cmd === undefined) {
      reject(new CommandError(full, 'empty command', ''));
      return;
    }
    const child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.env === undefined ? {} : { env: { ...options.env } }),
    });
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
    child.on('spawn', () => {
      if (child.pid !== undefined) options.onSpawn?.(child.pid);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new CommandError(full, e.message, '', -1, options.input, { cause: e }));
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
    child.stdin.on('error', () => undefined); // a command that exits without reading: its exit code tells
    child.stdin.end(options.input ?? '');
  });
}

/** `run`, rejecting with CommandError unless the command exited 0 (in time, when it has a deadline). */
export async function runChecked(argv: readonly string[], options: SpawnOptions = {}): Promise<SpawnResult> {
  const r = await run(argv, options);
  const reason = r.timedOut
    ? `no result within ${options.timeoutMs ?? 0} ms`
    : r.code !== 0
      ? `exited with ${r.code}`
      : undefined;
  if (reason !== undefined)
    throw new CommandError(fullArgv(argv, options), reason, r.stderr, r.code, options.input);
  return r;
}
