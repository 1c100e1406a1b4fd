/** Directory listings the agent and the CLI share. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** The entries of `dir` whose names `keep` accepts, as full paths, sorted; none when `dir` is missing. */
export async function filesIn(dir: string, keep: (name: string) => boolean): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names
    .filter(keep)
    .sort()
    .map((n) => join(dir, n));
}
