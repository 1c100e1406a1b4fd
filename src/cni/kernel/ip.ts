/**
 * Netlink through iproute2: one `ip -batch` per namespace per verb, so an ADD costs two short processes
 * (host side, container side) whatever it configures. The container side runs under `nsenter --net=PATH`
 * because `ip -n` only takes names under /run/netns while CNI_NETNS may be any path (/proc/PID/ns/net).
 * A native netlink helper would save the two execs (~2 ms each here) but add a C dependency on libmnl
 * and a second implementation of what iproute2 already gets right; the budget does not need it.
 */
import type { Runner } from '../../util/process.js';
import { KernelCommandError } from '../errors.js';

/** Where a command runs: the plugin's own netns (the host), or a netns given by path. */
export type Where = { readonly host: true } | { readonly netnsPath: string };

export const HOST: Where = { host: true };

function prefix(where: Where): string[] {
  return 'host' in where ? [] : ['nsenter', `--net=${where.netnsPath}`];
}

/** Runs an `ip -batch` script; throws KernelCommandError naming the failed line. */
export async function ipBatch(exec: Runner, where: Where, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  const argv = [...prefix(where), 'ip', '-batch', '-'];
  const r = await exec(argv, { input: lines.join('\n') + '\n' });
  if (r.code !== 0) {
    const m = /Command failed -:(\d+)/.exec(r.stderr);
    const failedLine = m ? Number(m[1]) : undefined;
    const what = failedLine === undefined ? '' : ` at "${lines[failedLine - 1] ?? ''}"`;
    throw new KernelCommandError(argv, `${r.stderr.trim()}${what}`, failedLine);
  }
}

/** `ip -j <args>` parsed; undefined when the object does not exist (ip exits non-zero). */
export async function ipJson<T>(exec: Runner, where: Where, args: readonly string[]): Promise<T | undefined> {
  const r = await exec([...prefix(where), 'ip', '-j', ...args]);
  if (r.code !== 0) {
    if (/does not exist|Cannot find device|No such file/.test(r.stderr)) return undefined;
    throw new KernelCommandError([...prefix(where), 'ip', '-j', ...args], r.stderr);
  }
  const text = r.stdout.trim();
  return text === '' ? undefined : (JSON.parse(text) as T);
}

/** Deletes a link of the host netns; a link already gone is success (DEL must be idempotent). */
export async function deleteHostLink(exec: Runner, name: string): Promise<boolean> {
  const r = await exec(['ip', 'link', 'del', name]);
  if (r.code === 0) return true;
  if (/Cannot find device|does not exist/.test(r.stderr)) return false;
  throw new KernelCommandError(['ip', 'link', 'del', name], r.stderr);
}
