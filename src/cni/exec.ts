/**
 * Running a plugin executable as a runtime does (SPEC.md section 2): CNI_* in the environment, the
 * request config on stdin, the result or error JSON on stdout. Used to delegate IPAM (section 4), by
 * runtime.ts, and by the tests and the benchmark.
 */
import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import type { PluginOutput } from './spec.js';

export interface ExecOptions {
  /** Kill the plugin after this long (it then reports exit code -1). */
  readonly timeoutMs?: number;
  /** Called with the child's pid as soon as it runs (the killed-ADD test uses it). */
  readonly onSpawn?: (pid: number) => void;
}

export function execPlugin(
  binary: string,
  env: Readonly<Record<string, string>>,
  stdin: string,
  opts: ExecOptions = {},
): Promise<PluginOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [], { env: { ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer =
      opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('spawn', () => {
      if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      resolve({
        exitCode: code ?? -1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}

/** The first `CNI_PATH` directory holding an executable `type`. */
export async function findPlugin(type: string, path: readonly string[]): Promise<string | undefined> {
  if (type.includes('/')) return undefined;
  for (const dir of path) {
    const candidate = join(dir, type);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next directory
    }
  }
  return undefined;
}
