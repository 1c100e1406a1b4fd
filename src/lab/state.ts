/**
 * Per-lab state under /run/palisade-lab/<id>/: who owns the lab (`owner`: pid and start time) and the
 * pids of its processes, so that `labDown` can find them after the run that started them was killed.
 * /run is a tmpfs: nothing survives a reboot, and neither do the netns.
 */
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isLabId } from './lab-id.js';

export const STATE_DIR = '/run/palisade-lab';

export function labStateDir(id: string): string {
  return join(STATE_DIR, id);
}

export interface Owner {
  readonly pid: number;
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22): tells a reused pid apart. */
  readonly start: string;
}

/** Start time of a process, or undefined when it does not exist. */
export function processStart(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself contain spaces and parentheses.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

export function ownerAlive(owner: Owner): boolean {
  return processStart(owner.pid) === owner.start;
}

/** Marks this process as the owner of lab `id`; written atomically so a reader never sees half of it. */
export async function recordOwner(id: string): Promise<void> {
  const dir = labStateDir(id);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.owner-${process.pid}`);
  await writeFile(tmp, `${process.pid} ${processStart(process.pid) ?? ''}\n`);
  await rename(tmp, join(dir, 'owner'));
}

export async function readOwner(id: string): Promise<Owner | undefined> {
  const text = await readFile(join(labStateDir(id), 'owner'), 'utf8').catch(() => '');
  const [pid, start] = text.trim().split(' ');
  const n = Number(pid);
  return Number.isInteger(n) && n > 1 && start ? { pid: n, start } : undefined;
}

/** Age of the lab's state dir in ms; undefined when there is none. */
export async function stateAgeMs(id: string): Promise<number | undefined> {
  const st = await stat(labStateDir(id)).catch(() => undefined);
  return st ? Date.now() - st.mtimeMs : undefined;
}

export async function recordPid(id: string, pid: number, role: string): Promise<void> {
  await mkdir(labStateDir(id), { recursive: true });
  await writeFile(join(labStateDir(id), `${pid}.pid`), `${pid} ${role}\n`);
}

export async function forgetPid(id: string, pid: number): Promise<void> {
  await rm(join(labStateDir(id), `${pid}.pid`), { force: true });
}

/** Ids of the labs that have a state dir. */
export async function stateIds(): Promise<string[]> {
  const entries = await readdir(STATE_DIR).catch(() => [] as string[]);
  return entries.filter(isLabId).sort();
}

/** Pids recorded for lab `id`, or for every lab. */
export async function recordedPids(id?: string): Promise<number[]> {
  const ids = id === undefined ? await stateIds() : [id];
  const pids: number[] = [];
  for (const lab of ids) {
    const files = await readdir(labStateDir(lab)).catch(() => [] as string[]);
    for (const f of files.filter((f) => f.endsWith('.pid'))) {
      const text = await readFile(join(labStateDir(lab), f), 'utf8').catch(() => '');
      const pid = Number(text.split(' ')[0]);
      if (Number.isInteger(pid) && pid > 1) pids.push(pid);
    }
  }
  return pids;
}

/** Removes the state of lab `id`, or (undefined) of every lab. */
export async function clearState(id?: string): Promise<void> {
  await rm(id === undefined ? STATE_DIR : labStateDir(id), { recursive: true, force: true });
}
