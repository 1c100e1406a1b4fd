/**
 * Running a plugin executable as a runtime does (SPEC.md section 2): CNI_* in the environment, the
 * request config on stdin, the result or error JSON on stdout. Used to delegate IPAM (section 4), by
 * runtime.ts, and by the tests and the benchmark.
 */
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../util/process.js';
import type { PluginOutput } from './spec.js';

export interface ExecOptions {
  /** Kill the plugin after this long (it then reports exit code -1). */
  readonly timeoutMs?: number;
  /** Called with the child's pid as soon as it runs (the killed-ADD test uses it). */
  readonly onSpawn?: (pid: number) => void;
}

export async function execPlugin(
  binary: string,
  env: Readonly<Record<string, string>>,
  stdin: string,
  opts: ExecOptions = {},
): Promise<PluginOutput> {
  const r = await run([binary], { env, input: stdin, ...opts });
  return { exitCode: r.code, stdout: r.stdout, stderr: r.stderr };
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
