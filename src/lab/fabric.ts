/**
 * Applies a LabPlan to the kernel and tears labs down. `labDown` needs no plan: it finds everything by the
 * `pal-` prefix, so it also cleans up after a run that was killed halfway.
 */
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { renderPlan } from './ip-script.js';
import { deleteNetns, listLinks, listNetns, mapLimit, run, runBatch } from './netns.js';
import { clearState, recordedPids } from './state.js';
import type { LabPlan } from './topology.js';
import { LAB_PREFIX } from './topology.js';

export interface ApplyOptions {
  /** Batches run in parallel within a phase; default 16. */
  readonly concurrency?: number;
}

/** Creates every netns, link, address, route and neighbour of the plan; on failure removes what it made. */
export async function applyPlan(plan: LabPlan, opts: ApplyOptions = {}): Promise<void> {
  const limit = opts.concurrency ?? 16;
  try {
    for (const phase of renderPlan(plan)) await mapLimit(phase, limit, runBatch);
  } catch (err) {
    await deleteNetns(plan.netns);
    throw err;
  }
}

export interface DownReport {
  readonly killed: readonly number[];
  readonly netns: readonly string[];
  readonly links: readonly string[];
}

const isLabName = (n: string): boolean => n.startsWith(LAB_PREFIX);

/**
 * Processes of the lab: those recorded in the state dir, any named `pal-*`, and any living inside a lab
 * netns (a process there keeps the netns alive after `ip netns del`).
 */
async function labProcesses(labNetns: readonly string[]): Promise<number[]> {
  const inodes = new Set<string>();
  for (const n of labNetns) {
    const st = await stat(`/run/netns/${n}`).catch(() => undefined);
    if (st) inodes.add(`net:[${st.ino}]`);
  }
  const recorded = new Set(await recordedPids());
  const spared = new Set([process.pid, process.ppid]);
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || spared.has(pid)) continue;
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
    if (isLabName(comm)) {
      found.push(pid);
      continue;
    }
    // A recorded pid whose process now has another name was reused by someone else: leave it alone.
    if (recorded.has(pid)) continue;
    const ns = await readlink(`/proc/${pid}/ns/net`).catch(() => '');
    if (inodes.has(ns)) found.push(pid);
  }
  return found;
}

async function waitGone(pids: readonly number[], ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (let left = [...pids]; left.length > 0 && Date.now() < until;) {
    await new Promise((r) => setTimeout(r, 20));
    left = left.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
  }
}

/** Removes every `pal-*` process, netns and root-netns link. Idempotent; safe after a killed run. */
export async function labDown(): Promise<DownReport> {
  const netns = (await listNetns()).filter(isLabName);
  const killed = await labProcesses(netns);
  for (const pid of killed) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await waitGone(killed, 2000);
  // Lab links live inside lab netns; any in the root netns are leftovers of an interrupted creation.
  const links = (await listLinks()).filter(isLabName);
  await mapLimit(links, 8, (l) => run('ip', ['link', 'del', l]).catch(() => ''));
  await deleteNetns(netns);
  await clearState();
  return { killed, netns, links };
}
