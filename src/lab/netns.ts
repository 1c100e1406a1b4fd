/**
 * Thin wrappers around the `ip`, `bridge` and `sysctl` commands, and a bounded worker pool. All kernel
 * changes of the lab go through here, as batches, so that bringing up hundreds of pods costs a few
 * hundred short-lived processes rather than thousands.
 */
import { readdir } from 'node:fs/promises';
import { runChecked } from '../util/process.js';
import type { Batch } from './ip-script.js';

/** A lab command's stdout; rejects with CommandError unless it exits 0 within a minute. */
export async function run(cmd: string, args: readonly string[], input?: string): Promise<string> {
  return (await runChecked([cmd, ...args], { input, timeoutMs: 60_000 })).stdout;
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the order of `items`. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

export function runBatch(batch: Batch): Promise<string> {
  if (batch.lines.length === 0) return Promise.resolve('');
  if (batch.tool === 'sysctl') {
    if (batch.netns === undefined) return run('sysctl', ['-q', '-w', ...batch.lines]);
    return run('ip', ['netns', 'exec', batch.netns, 'sysctl', '-q', '-w', ...batch.lines]);
  }
  const args = batch.netns === undefined ? [] : ['-n', batch.netns];
  return run(batch.tool, [...args, '-batch', '-'], batch.lines.join('\n') + '\n');
}

/** Names of the named netns (`ip netns add`), read from /run/netns. */
export async function listNetns(): Promise<string[]> {
  try {
    return (await readdir('/run/netns')).sort();
  } catch {
    return [];
  }
}

/** Deletes netns by name; names already gone are not an error. */
export async function deleteNetns(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  // -force: keep going past a name that vanished meanwhile.
  await run('ip', ['-force', '-batch', '-'], names.map((n) => `netns del ${n}`).join('\n') + '\n').catch(
    () => undefined,
  );
}

/** Link names in a netns (the root netns when `netns` is undefined). */
export async function listLinks(netns?: string): Promise<string[]> {
  const args = netns === undefined ? ['-o', 'link', 'show'] : ['-n', netns, '-o', 'link', 'show'];
  const out = await run('ip', args);
  return out
    .split('\n')
    .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1])
    .filter((n): n is string => n !== undefined);
}

/** Whether this process may create network namespaces (root and a working `ip netns`). */
export async function netnsSupport(): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'needs root (network namespaces)' };
  const probeName = `pal-check${process.pid % 100000}`;
  try {
    await run('ip', ['netns', 'add', probeName]);
    await run('ip', ['netns', 'del', probeName]);
    return { ok: true };
  } catch (err) {
    return {
      ok: false,
      reason: `ip netns does not work here: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}
