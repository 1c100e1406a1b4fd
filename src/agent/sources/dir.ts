/**
 * `dir:PATH`: the manifests under a directory (recursively: *.yaml, *.yml, *.json), one object id per
 * file. fs.watch says that something changed; a debounced full rescan says what, so events lost by the
 * watcher (editors that rename, recursive watch limits) cannot leave the agent behind; a slow periodic
 * rescan catches whatever fs.watch never reported. A directory that cannot be read is reported as
 * disconnected and the last snapshot stays.
 *
 * A rescan stats every manifest but reads only those whose inode, size, mtime or ctime (nanoseconds)
 * changed since the last one: at a thousand files, re-reading all of them on every write was most of a
 * sync. Writers replace files by rename (a new inode), and an in-place write moves ctime, so an
 * unchanged stamp means unchanged content.
 *
 * A writer that must know when its change is enforced (the lab daemon) bumps a number in
 * DIR_REVISION_FILE after writing its manifests; each snapshot carries the number read *before* the
 * manifests, so an agent that applied revision N has applied at least every write made before N.
 */
import type { FSWatcher } from 'node:fs';
import { watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { listManifests } from '../../dialects/index.js';
import type { DesiredObjects } from '../reconcile.js';
import type { DatastoreSource, SourceHandlers } from './source.js';
import { errorText } from './source.js';

/** Not a manifest (no .yaml/.json suffix), so the scan never takes it for an object. */
export const DIR_REVISION_FILE = '.palisade-revision';

/** The marker's number, or undefined when there is none (or it is not a number). */
async function readRevision(dir: string): Promise<string | undefined> {
  const text = await readFile(join(dir, DIR_REVISION_FILE), 'utf8').catch(() => undefined);
  const t = text?.trim();
  return t !== undefined && /^[0-9]{1,18}$/.test(t) ? t : undefined;
}

/** A file's text as of its stamp. */
interface CachedFile {
  readonly stamp: string;
  readonly text: string;
}

const vanished = (e: unknown): boolean => (e as NodeJS.ErrnoException | null)?.code === 'ENOENT';

async function stampOf(file: string): Promise<string> {
  const s = await stat(file, { bigint: true });
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

function sameSnapshot(
  a: { revision: string | undefined; objects: DesiredObjects } | undefined,
  revision: string | undefined,
  objects: DesiredObjects,
): boolean {
  if (a === undefined || a.revision !== revision || a.objects.size !== objects.size) return false;
  const ours = [...a.objects];
  let i = 0;
  for (const [id, text] of objects) {
    const [id0, text0] = ours[i++] ?? [];
    if (id0 !== id || text0 !== text) return false;
  }
  return true;
}

export interface DirSourceOptions {
  readonly debounceMs?: number;
  /** Full rescan even without a watch event. */
  readonly rescanMs?: number;
}

export function dirSource(path: string, opts: DirSourceOptions = {}): DatastoreSource {
  const debounceMs = opts.debounceMs ?? 100;
  const rescanMs = opts.rescanMs ?? 10_000;
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let interval: NodeJS.Timeout | undefined;
  let scanning: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  let last: { revision: string | undefined; objects: DesiredObjects } | undefined;
  let previous: ReadonlyMap<string, string> = new Map();
  let cache: ReadonlyMap<string, CachedFile> = new Map();
  let connected: boolean | undefined;
  let h: SourceHandlers | undefined;

  const setHealth = (ok: boolean, error?: string): void => {
    if (connected === ok) return;
    connected = ok;
    h?.health(ok ? { connected: true } : { connected: false, error: error ?? 'unreadable' });
  };

  /** (Re)arms the watcher; after the directory vanished and came back, the old one watches nothing. */
  const arm = (): void => {
    if (watcher !== undefined || stopped) return;
    try {
      watcher = watch(path, { recursive: true }, () => schedule());
      watcher.on('error', () => {
        watcher?.close();
        watcher = undefined;
        schedule();
      });
    } catch {
      watcher = undefined; // the directory is missing: the periodic rescan retries
    }
  };

  const scan = async (): Promise<void> => {
    const revision = await readRevision(path);
    let files: string[];
    try {
      files = await listManifests(path);
    } catch (e) {
      // The directory itself is gone or unreadable: keep enforcing what we had.
      watcher?.close();
      watcher = undefined;
      setHealth(false, `cannot read: ${errorText(e)}`);
      return;
    }
    arm();
    setHealth(true);
    const objects = new Map<string, string>();
    const next = new Map<string, CachedFile>();
    for (const file of files) {
      try {
        // Stamp before reading: a write in between leaves a stale stamp, so the next scan reads again.
        const stamp = await stampOf(file);
        const hit = cache.get(file);
        const text = hit?.stamp === stamp ? hit.text : await readFile(file, 'utf8');
        next.set(file, { stamp, text });
        objects.set(file, text);
      } catch (e) {
        // Gone since the listing: deleted (or a rename in flight, which the next scan sees).
        if (vanished(e)) continue;
        // A file that exists but cannot be read (permissions, a race with its writer) keeps its previous
        // text: an unreadable file is not a deleted one.
        const before = previous.get(file);
        if (before !== undefined) objects.set(file, before);
        h?.log('warn', 'manifest unreadable', { file, error: `cannot read: ${errorText(e)}` });
      }
    }
    cache = next;
    previous = objects;
    // The revision counts too: a writer waiting for it must see it even when nothing else changed.
    if (sameSnapshot(last, revision, objects)) return;
    last = { revision, objects };
    h?.snapshot(objects, revision);
  };

  const runScan = (): void => {
    if (stopped) return;
    if (scanning !== undefined) {
      again = true;
      return;
    }
    scanning = scan()
      .catch((e: unknown) => setHealth(false, errorText(e)))
      .finally(() => {
        scanning = undefined;
        if (again) {
          again = false;
          runScan();
        }
      });
  };

  // The first event arms the timer and later ones ride along: restarting it on every event would let a
  // writer that writes more often than `debounceMs` (a load test, a controller) hold off every scan
  // until it pauses or the periodic rescan comes round.
  const schedule = (): void => {
    if (stopped || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      runScan();
    }, debounceMs);
  };

  return {
    describe: `dir:${path}`,
    start(handlers) {
      h = handlers;
      arm();
      runScan();
      interval = setInterval(runScan, rescanMs);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      clearInterval(interval);
      watcher?.close();
      watcher = undefined;
      await scanning;
    },
  };
}
