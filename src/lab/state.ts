/**
 * Pids of the lab's processes, kept in files under /run so that `labDown` can find them after the run
 * that started them was killed. /run is a tmpfs: nothing survives a reboot, and neither do the netns.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const STATE_DIR = '/run/palisade-lab';

export async function recordPid(pid: number, role: string): Promise<void> {
  await mkdir(STATE_DIR, { recursive: true });
  await writeFile(join(STATE_DIR, `${pid}.pid`), `${pid} ${role}\n`);
}

export async function forgetPid(pid: number): Promise<void> {
  await rm(join(STATE_DIR, `${pid}.pid`), { force: true });
}

export async function recordedPids(): Promise<number[]> {
  let files: string[];
  try {
    files = await readdir(STATE_DIR);
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const f of files) {
    const text = await readFile(join(STATE_DIR, f), 'utf8').catch(() => '');
    const pid = Number(text.split(' ')[0]);
    if (Number.isInteger(pid) && pid > 1) pids.push(pid);
  }
  return pids;
}

export async function clearState(): Promise<void> {
  await rm(STATE_DIR, { recursive: true, force: true });
}
