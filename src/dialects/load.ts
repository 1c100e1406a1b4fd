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

/** Manifest files under a directory, recursively, in code-point order so every run reads the same order. */
async function manifestsUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.map((e) => e.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const info = await stat(path);
    if (info.isDirectory()) out.push(...(await manifestsUnder(path)));
    else if (info.isFile() && MANIFEST.test(name)) out.push(path);
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
  const readOne = async (file: string) => {
    try {
      sources.push({ file, text: await readFile(file, 'utf8') });
    } catch (e) {
      diagnostics.push(unreadable(file, e));
    }
  };
  for (const path of paths) {
    try {
      if (path === '-') {
        stdin ??= readStdin();
        sources.push({ file: '-', text: await stdin });
      } else if ((await stat(path)).isDirectory()) {
        for (const file of await manifestsUnder(path)) await readOne(file);
      } else {
        await readOne(path);
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
