/**
 * A long-running child that says on its first stdout line whether it is ready (the lab's echo servers,
 * the CNI server): waited for once, here, so that every such child fails the same way — killed, with its
 * last words on stderr in the error — when it says something else, exits, or stays silent too long.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ReadyChild {
  /** Settles when the child has exited and its pipes are closed. */
  readonly exited: Promise<void>;
}

export interface ReadyOptions {
  /** Who the child is, first in every error (`pal-echo`, `CNI server of node a (netns)`). */
  readonly name: string;
  /** Whether the first line says "ready", and what it should have said otherwise. */
  readonly ready: (line: string) => boolean;
  readonly expected: string;
  readonly timeoutMs: number;
}

export async function awaitReadyLine(
  child: ChildProcessWithoutNullStreams,
  opts: ReadyOptions,
): Promise<ReadyChild> {
  child.stdin.on('error', () => undefined);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const lines = createInterface({ input: child.stdout });
  const fail = (why: string): Error => new Error(`${opts.name} ${why}: ${stderr.trim() || 'no message'}`);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(fail(`not ready in ${opts.timeoutMs} ms`)), opts.timeoutMs);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      lines.once('line', (line) => {
        clearTimeout(timer);
        if (opts.ready(line)) resolve();
        else reject(fail(`said "${line}" instead of ${opts.expected}`));
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(fail('exited before it was ready'));
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
  return { exited };
}
