/**
 * `dir:PATH`: the manifests under a directory (recursively: *.yaml, *.yml, *.json), one object id per
 * file. fs.watch says that something changed; a debounced full rescan says what, so events lost by the
 * watcher (editors that rename, recursive watch limits) cannot leave the agent behind; a slow periodic
 * rescan catches whatever fs.watch never reported. A directory that cannot be read is reported as
 * disconnected and the last snapshot stays.
 *
 * A writer that must know when its change is enforced (the lab daemon) bumps a number in
 * DIR_REVISION_FILE after writing its manifests; each snapshot carries the number read *before* the
 * manifests, so an agent that applied revision N has applied at least every write made before N.
 */
import type { FSWatcher } from 'node:fs';
import { watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readSources } from '../../dialects/index.js';
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
  let last: string | undefined;
  let previous: ReadonlyMap<string, string> = new Map();
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
    const { value, diagnostics } = await readSources([path]);
    const broken = diagnostics.find((d) => d.file === path);
    if (broken !== undefined) {
      // The directory itself is gone or unreadable: keep enforcing what we had.
      watcher?.close();
      watcher = undefined;
      setHealth(false, broken.message);
      return;
    }
    arm();
    setHealth(true);
    const objects = new Map(value.map((s) => [s.file, s.text]));
    // A file that exists but cannot be read (permissions, a race with its writer) keeps its previous text:
    // an unreadable file is not a deleted one.
    for (const d of diagnostics) {
      const before = previous.get(d.file);
      if (before !== undefined) objects.set(d.file, before);
      h?.log('warn', 'manifest unreadable', { file: d.file, error: d.message });
    }
    previous = objects;
    // The revision is part of the key: a writer waiting for it must see it even when nothing else changed.
    const key = JSON.stringify([revision, ...objects]);
    if (key === last) return;
    last = key;
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

  const schedule = (): void => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(runScan, debounceMs);
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
