/**
 * Privileged agent tests: running the real CLI (agent, apply, delete, status) as child processes, and
 * bounded polling (etcd comes from src/lab/bench/etcd-server.ts). Everything is killed by its pid and
 * temporary directories removed by the caller's `finally`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readStatus, socketPathFor } from '../../src/agent/index.js';
import type { AgentStatus } from '../../src/agent/index.js';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every 100ms until it returns something defined, at most `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < end) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      lastError = e;
    }
    await sleep(100);
  }
  throw new Error(
    `timed out waiting for ${what}${lastError === undefined ? '' : `: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)}`}`,
  );
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function cli(args: readonly string[], timeoutMs = 20_000): Promise<CliResult> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface RunningAgent {
  readonly log: () => string;
  status(): Promise<AgentStatus>;
  /** Waits for a status satisfying `ok`. */
  until(what: string, ok: (s: AgentStatus) => boolean, timeoutMs?: number): Promise<AgentStatus>;
  stop(): Promise<void>;
}

export function startAgent(node: string, stateDir: string, args: readonly string[]): RunningAgent {
  const c = spawn(process.execPath, [CLI, 'agent', '--node', node, '--state-dir', stateDir, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  c.stderr.on('data', (b: Buffer) => (log += b.toString()));
  const socket = socketPathFor(stateDir, node);
  const status = async (): Promise<AgentStatus> => (await readStatus(socket, 2000)) as AgentStatus;
  return {
    log: () => log,
    status,
    until: async (what, ok, timeoutMs = 15_000) => {
      try {
        return await waitFor(
          what,
          async () => {
            const s = await status();
            return ok(s) ? s : undefined;
          },
          timeoutMs,
        );
      } catch (e) {
        const last = await status().catch(() => undefined);
        throw new Error(`${String(e)}\nlast status: ${JSON.stringify(last)}\nagent log:\n${log}`);
      }
    },
    stop: async () => {
      if (c.exitCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (c.exitCode === null) c.kill('SIGKILL');
    },
  };
}

/** The palisade table as `nft list` prints it inside `netns`, or '' when there is none. */
export function nftTable(netns: string): string {
  const r = spawnSync('ip', ['netns', 'exec', netns, 'nft', 'list', 'table', 'inet', 'palisade']);
  return r.status === 0 ? r.stdout.toString() : '';
}
