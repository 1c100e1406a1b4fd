/**
 * `palisade lab exec`: a command run inside a pod's netns with the caller's own stdin, stdout and stderr.
 * util/process.ts's runner captures output for Palisade to read; this one is for a person or a script to
 * talk to the command directly, so the child inherits our stdio and only its exit status comes back.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { CommandError, inNetns } from '../util/process.js';

/** A shell's convention: the exit code, or 128+N for a child killed by signal N. */
export function childExitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal === null ? undefined : constants.signals[signal];
  return 128 + (n ?? 0);
}

/** Signals sent to us alone (kill, a closed terminal) that the command must get too. */
const FORWARDED = ['SIGTERM', 'SIGHUP'] as const;

/**
 * Runs argv inside `netns` through `ip netns exec` (no shell: argv is exec'd as given) and resolves with
 * its exit code (128+N after signal N). Rejects with CommandError only when `ip` itself cannot start.
 */
export function execInNetns(netns: string, argv: readonly string[]): Promise<number> {
  const full = inNetns(netns, argv);
  const [cmd, ...args] = full;
  if (cmd === undefined || argv.length === 0)
    return Promise.reject(new CommandError(full, 'empty command', ''));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
    // Ctrl-C reaches the whole foreground process group, the command included: we only outlive it, so
    // that its own exit status (130 if it dies of it) is the one reported.
    const ignore = (): void => undefined;
    for (const s of FORWARDED) process.on(s, forward);
    process.on('SIGINT', ignore);
    const done = (): void => {
      for (const s of FORWARDED) process.off(s, forward);
      process.off('SIGINT', ignore);
    };
    child.on('error', (e) => {
      done();
      reject(new CommandError(full, e.message, '', -1, undefined, { cause: e }));
    });
    child.on('close', (code, signal) => {
      done();
      resolve(childExitCode(code, signal));
    });
  });
}
