import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Diagnostic, Result } from '../ir/index.js';
import { parseSources, type Loaded, type Source } from './parse.js';

export { parseSources };
export type { Loaded, Source };

const MANIFEST = /\.(ya?ml|json)$/i;

async function defaultReadStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

function unreadable(file: string, e: unknown): Diagnostic {
  const reason = e instanceof Error ? e.message : String(e);
  return {
    code: 'file-unreadable',
    severity: 'error',
    file,
    doc: 0,
    path: '',
    message: `cannot read: ${reason}`,
  };
}

/** The entry was removed (or renamed away) after we learnt its name: a writer's temp file, typically. */
function vanished(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/**
 * Manifest files under a directory, recursively, in code-point order so every run reads the same order.
 * Writers put temp files next to the manifests and rename them away: only directories and manifest
 * names are looked at, and an entry below `dir` that is gone by the time it is looked at is skipped
 * rather than making the whole directory unreadable. `dir` itself missing still throws.
 */
export async function listManifests(dir: string): Promise<string[]> {
  return manifestsUnder(dir, true);
}

async function manifestsUnder(dir: string, top: boolean): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if (!top && vanished(e)) return [];
    throw e;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    let isDirectory = entry.isDirectory();
    let isFile = entry.isFile();
    if (entry.isSymbolicLink()) {
      // Links are followed, as a stat of every entry did.
      try {
        const info = await stat(path);
        isDirectory = info.isDirectory();
        isFile = info.isFile();
      } catch (e) {
        if (vanished(e)) continue;
        throw e;
      }
    }
    if (isDirectory) out.push(...(await manifestsUnder(path, false)));
    else if (isFile && MANIFEST.test(entry.name)) out.push(path);
  }
  return out;
}

/**
 * Reads files, directories (recursively: *.yaml, *.yml, *.json) and '-' (stdin, read once), in the
 * order given. A path that cannot be read becomes a `file-unreadable` diagnostic, never a throw.
 */
export async function readSources(
  paths: readonly string[],
  readStdin: () => Promise<string> = defaultReadStdin,
): Promise<Result<Source[]>> {
  const sources: Source[] = [];
  const diagnostics: Diagnostic[] = [];
  let stdin: Promise<string> | undefined;
  // `listed`: found by a directory scan, so gone since the scan means deleted, not unreadable.
  const readOne = async (file: string, listed: boolean) => {
    try {
      sources.push({ file, text: await readFile(file, 'utf8') });
    } catch (e) {
      if (!(listed && vanished(e))) diagnostics.push(unreadable(file, e));
    }
  };
  for (const path of paths) {
    try {
      if (path === '-') {
        stdin ??= readStdin();
        sources.push({ file: '-', text: await stdin });
      } else if ((await stat(path)).isDirectory()) {
        for (const file of await listManifests(path)) await readOne(file, true);
      } else {
        await readOne(path, false);
      }
    } catch (e) {
      diagnostics.push(unreadable(path, e));
    }
  }
  return { value: sources, diagnostics };
}

/** readSources then parseSources, with the diagnostics of both. */
export async function loadPaths(
  paths: readonly string[],
  readStdin?: () => Promise<string>,
): Promise<Result<Loaded>> {
  const read = await readSources(paths, readStdin);
  const parsed = parseSources(read.value);
  return { value: parsed.value, diagnostics: [...read.diagnostics, ...parsed.diagnostics] };
}
