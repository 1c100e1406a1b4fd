/**
 * Helpers of the suites that drive the real `palisade` CLI against a lab (lab verbs, demo, node agents):
 * running the built CLI, comparing a probed matrix with `analyze matrix` cell by cell, and listing what a
 * lab could leave behind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { access, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { netnsInScope } from '../../src/lab/lab-id.js';
import { listNetns } from '../../src/lab/netns.js';
import { labStateDir } from '../../src/lab/state.js';

export const ROOT = join(import.meta.dirname, '../../..');
export const CLI = join(ROOT, 'dist/src/cli/main.js');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function palisade(args: string[], cwd: string, timeoutMs = 180_000): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function ok(r: Run, what: string): string {
  assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

export interface Cell {
  from: string;
  to: string;
  port: number;
  protocol: string;
  allowed: boolean;
  result?: string;
  self?: boolean;
}
export interface Matrix {
  pods: string[];
  results: Cell[];
}

export const cellKey = (c: Cell): string => `${c.protocol}/${c.port} ${c.from} -> ${c.to}`;

/** Every cell measured equals the analyzer's, in the same order. */
export function assertSameAsAnalyzer(probe: Matrix, analyzed: Matrix): void {
  assert.deepEqual(probe.pods, analyzed.pods);
  assert.deepEqual(probe.results.map(cellKey), analyzed.results.map(cellKey));
  const diff = probe.results
    .map((c, i) => ({ c, want: analyzed.results[i]?.allowed }))
    .filter(({ c, want }) => c.allowed !== want)
    .map(({ c, want }) => `${cellKey(c)}: probe ${c.result}, analyze ${String(want)}`);
  assert.deepEqual(diff, []);
}

/** Everything of lab `id` that could outlive it: netns, state dir, processes. */
export async function leftovers(id: string): Promise<string[]> {
  const out = (await listNetns()).filter((n) => netnsInScope(n, { id }));
  if (
    await access(labStateDir(id)).then(
      () => true,
      () => false,
    )
  )
    out.push(labStateDir(id));
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const argv = cmd.split('\0');
    if (argv.includes(`--lab=${id}`) || cmd.startsWith(`pal-lab ${id}\0`))
      out.push(`pid ${entry}: ${argv.join(' ')}`);
  }
  return out;
}
