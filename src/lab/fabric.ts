/**
 * Applies a LabPlan to the kernel and tears labs down. `labDown` needs no plan: it finds a lab's objects by
 * their names (`pal-<id>.…`) and its state dir, so it also cleans up after a run that was killed halfway.
 */
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { renderPlan } from './ip-script.js';
import type { DownScope } from './lab-id.js';
import { DEFAULT_LAB_ID, LAB_PREFIX, labIdOfNetns, netnsInScope } from './lab-id.js';
import { deleteNetns, listLinks, listNetns, mapLimit, run, runBatch } from './netns.js';
import { clearState, ownerAlive, readOwner, recordedPids, stateAgeMs, stateIds } from './state.js';
import type { LabPlan } from './topology.js';

export interface ApplyOptions {
  /** Batches run in parallel within a phase; default 16. */
  readonly concurrency?: number;
  /**
   * Called once every netns exists, while links and routes are still being made: pods can be attached
   * from then on (their CNI ADD touches only the pod's netns and its own veth and routes on the node).
   */
  readonly onNetnsCreated?: () => void;
}

/** Creates every netns, link, address, route and neighbour of the plan; on failure removes what it made. */
export async function applyPlan(plan: LabPlan, opts: ApplyOptions = {}): Promise<void> {
  const limit = opts.concurrency ?? 16;
  try {
    const [created, ...rest] = renderPlan(plan);
    await mapLimit(created ?? [], limit, runBatch);
    opts.onNetnsCreated?.();
    for (const phase of rest) await mapLimit(phase, limit, runBatch);
  } catch (err) {
    await deleteNetns(plan.netns);
    throw err;
  }
}

export interface DownReport {
  /** Ids of the labs removed (those whose netns names say so; `all` also removes unnamed leftovers). */
  readonly labs: readonly string[];
  readonly killed: readonly number[];
  readonly netns: readonly string[];
  /** Root-netns links removed; only `all` looks there, since no lab creates any. */
  readonly links: readonly string[];
}

/** A lab without a live owner whose state dir is younger than this may still be being created. */
const CREATION_GRACE_MS = 10_000;

async function cmdline(pid: number): Promise<string[]> {
  const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return raw.split('\0');
}

/**
 * Processes of the lab(s): those recorded in the state dir and still named `pal-*`, `pal-*` processes
 * started for the lab (`--lab=<id>` on their command line; with `all`, every one), and any process living
 * inside one of the netns (it would keep the netns alive after `ip netns del`).
 */
async function labProcesses(scope: { id: string } | { all: true }, labNetns: readonly string[]) {
  const inodes = new Set<string>();
  for (const n of labNetns) {
    const st = await stat(`/run/netns/${n}`).catch(() => undefined);
    if (st) inodes.add(`net:[${st.ino}]`);
  }
  const recorded = new Set(await recordedPids('all' in scope ? undefined : scope.id));
  const spared = new Set([process.pid, process.ppid]);
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || spared.has(pid)) continue;
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
    if (comm.startsWith(LAB_PREFIX)) {
      const ours = 'all' in scope || recorded.has(pid) || (await cmdline(pid)).includes(`--lab=${scope.id}`);
      if (ours) {
        found.push(pid);
        continue;
      }
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

async function downScope(scope: { id: string } | { all: true }): Promise<DownReport> {
  const netns = (await listNetns()).filter((n) => netnsInScope(n, scope));
  const killed = await labProcesses(scope, netns);
  for (const pid of killed) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await waitGone(killed, 2000);
  // Lab links live inside lab netns; any `pal-` link in the root netns is a leftover of an interrupted
  // creation by some older version or another tool, which only a machine-wide cleanup may remove.
  const links = 'all' in scope ? (await listLinks()).filter((l) => l.startsWith(LAB_PREFIX)) : [];
  await mapLimit(links, 8, (l) => run('ip', ['link', 'del', l]).catch(() => ''));
  await deleteNetns(netns);
  await clearState('all' in scope ? undefined : scope.id);
  const labs =
    'all' in scope
      ? [...new Set(netns.map(labIdOfNetns).filter((id): id is string => id !== undefined))].sort()
      : [scope.id];
  return { labs, killed, netns, links };
}

/** Labs whose owner process is gone: from their netns names and their state dirs. */
async function staleLabs(): Promise<string[]> {
  const ids = new Set(await stateIds());
  for (const n of await listNetns()) {
    const id = labIdOfNetns(n);
    if (id !== undefined) ids.add(id);
  }
  const stale: string[] = [];
  for (const id of [...ids].sort()) {
    const owner = await readOwner(id);
    if (owner) {
      if (!ownerAlive(owner)) stale.push(id);
      continue;
    }
    // labUp records its owner before creating anything, so a lab without one is a leftover, unless its
    // state dir is brand new (a labUp between mkdir and writing the owner).
    const age = await stateAgeMs(id);
    if (age === undefined || age > CREATION_GRACE_MS) stale.push(id);
  }
  return stale;
}

/**
 * Removes lab `id`'s processes, netns and state (default: lab `default`); with `{ all: true }` every
 * `pal-` process, netns and root-netns link on the machine; with `{ stale: true }` every lab whose owner
 * has died. Idempotent; safe after a killed run.
 */
export async function labDown(scope: DownScope = { id: DEFAULT_LAB_ID }): Promise<DownReport> {
  if ('all' in scope || 'id' in scope) return downScope(scope);
  const reports = [];
  for (const id of await staleLabs()) reports.push(await downScope({ id }));
  return {
    labs: reports.flatMap((r) => r.labs),
    killed: reports.flatMap((r) => r.killed),
    netns: reports.flatMap((r) => r.netns),
    links: [],
  };
}
