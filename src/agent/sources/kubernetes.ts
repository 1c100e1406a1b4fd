/**
 * `kubernetes[:KUBECONFIG]`: the objects of every resource in KUBE_RESOURCES, kept by one client-node
 * `ListWatch` informer per resource. The informer owns the cache and the protocol: initial list, watch
 * from the list's resourceVersion, resume from the last resourceVersion when a watch ends, and a relist
 * (with deletes for whatever vanished meanwhile) on 410 Gone, whether as an HTTP status or as an ERROR
 * event. `makeInformer` is not used because its Watch neither asks for bookmarks nor bounds a watch in
 * time, and cannot be aborted while connecting; ListWatch takes its Watch as an argument, so it gets one
 * built on kube-http.ts (allowWatchBookmarks, timeoutSeconds, an idle deadline, a minimum interval between
 * watches so a server that closes every watch at once is not hammered).
 *
 * What the agent sees: nothing until every resource has been listed once or found not served (a partial
 * first snapshot could open a hole: pods without their policies); then a snapshot per batch of changes
 * (`debounceMs`), and a fresh one after each relist or reconnection. After an outage each resource
 * resyncs on its own, so snapshots may show one resource caught up before another: holding them all
 * back instead would let one resource that keeps failing (say, a CRD the agent may not read) freeze
 * every other change. A resource the server does not serve
 * (404: its CRD is not installed) is logged once and probed again every `absentRetryMs`. Any other
 * failure marks the datastore disconnected and retries that resource with capped backoff; the informer's
 * cache keeps the last known objects meanwhile. `health.revision` is the last resourceVersion received
 * (list, event or bookmark); while connected, revision-only changes are reported at most every
 * `revisionReportMs`.
 */
import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type * as KubeLib from '@kubernetes/client-node';
import type { KubeConfig, KubernetesListObject, KubernetesObject, ListWatch } from '@kubernetes/client-node';
import { loadKubeConfig } from './kube-config.js';
import { getJson, watchLines } from './kube-http.js';
import type { KubeResource } from './kube-resources.js';
import { KUBE_RESOURCES, collectionPath, objectId, objectText, resourceName } from './kube-resources.js';
import type { DatastoreSource, SourceHandlers } from './source.js';
import { backoffMs } from '../../util/backoff.js';
import { errorText } from './source.js';

export interface KubernetesSourceOptions {
  /** Changes arriving within this window become one snapshot. */
  readonly debounceMs?: number;
  readonly maxBackoffMs?: number;
  /** Deadline for one list without any data arriving. */
  readonly listTimeoutMs?: number;
  /** timeoutSeconds of each watch; by default 5–10 minutes, spread like client-go's reflector. */
  readonly watchTimeoutSeconds?: number;
  /** Least time between the starts of two watches of one resource. */
  readonly minWatchIntervalMs?: number;
  /** How often a resource the server did not serve is looked for again. */
  readonly absentRetryMs?: number;
  readonly revisionReportMs?: number;
  readonly resources?: readonly KubeResource[];
  /** Where KUBECONFIG and KUBERNETES_SERVICE_HOST are read (tests). */
  readonly env?: NodeJS.ProcessEnv;
}

type Lib = typeof KubeLib;
type WatchFn = KubeLib.Watch['watch'];

/** One watched resource and its informer. */
interface Slot {
  readonly res: KubeResource;
  /** Index into res.versions of the version being tried or watched. */
  version: number;
  lw: ListWatch<KubernetesObject> | undefined;
  /** Listed at least once, or found not served: the first snapshot waits for every slot. */
  settled: boolean;
  absent: boolean;
  /** "not served" was logged and "now served" is still to say. */
  announced: boolean;
  failure: string | undefined;
  attempt: number;
  timer: NodeJS.Timeout | undefined;
  lastWatchAt: number;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** An object the informer can file: ListWatch dereferences metadata.name and metadata.namespace. */
function isKeyed(v: unknown): v is KubernetesObject {
  return isRecord(v) && isRecord(v['metadata']) && typeof v['metadata']['name'] === 'string';
}

function statusCodeOf(e: unknown): number | undefined {
  return isRecord(e) && typeof e['statusCode'] === 'number' ? e['statusCode'] : undefined;
}

function resourceVersionOf(obj: unknown): string | undefined {
  if (!isRecord(obj) || !isRecord(obj['metadata'])) return undefined;
  const rv = obj['metadata']['resourceVersion'];
  return typeof rv === 'string' && rv !== '' ? rv : undefined;
}

function sameObjects(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string> | undefined): boolean {
  if (b === undefined || a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

export function kubernetesSource(
  kubeconfig: string | undefined,
  opts: KubernetesSourceOptions = {},
): DatastoreSource {
  const debounceMs = opts.debounceMs ?? 30;
  const maxBackoff = opts.maxBackoffMs ?? 5000;
  const listTimeoutMs = opts.listTimeoutMs ?? 30_000;
  const minWatchIntervalMs = opts.minWatchIntervalMs ?? 1000;
  const absentRetryMs = opts.absentRetryMs ?? 60_000;
  const revisionReportMs = opts.revisionReportMs ?? 10_000;
  const env = opts.env ?? process.env;
  const watchTimeout = (): number => opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300);

  const slots: Slot[] = (opts.resources ?? KUBE_RESOURCES).map((res) => ({
    res,
    version: 0,
    lw: undefined,
    settled: false,
    absent: false,
    announced: false,
    failure: undefined,
    attempt: 0,
    timer: undefined,
    lastWatchAt: 0,
  }));
  const stopAll = new AbortController();
  // Every list in flight listens on it (15 resources at start): more than the default warning level.
  setMaxListeners(100, stopAll.signal);
  const running = new Set<Promise<void>>();
  /** Open watches, aborted by stop() even before the informer holds their controller. */
  const live = new Set<AbortController>();
  const texts = new WeakMap<object, string>();
  let h: SourceHandlers | undefined;
  let lib: Lib | undefined;
  let kc: KubeConfig | undefined;
  let configError: string | undefined;
  let stopped = false;
  let flushTimer: NodeJS.Timeout | undefined;
  let revisionTimer: NodeJS.Timeout | undefined;
  let revision: string | undefined;
  let reported: { connected: boolean; revision?: string | undefined; at: number } | undefined;
  let last: ReadonlyMap<string, string> | undefined;
  let forced = false;

  /** Tracked so that stop() can wait for it; must not reject. */
  const track = (p: Promise<void>): void => {
    running.add(p);
    const forget = (): void => void running.delete(p);
    p.then(forget, forget);
  };

  /** Resolves after `ms`, or at once when the source stops. */
  const sleep = (ms: number, signal: AbortSignal = stopAll.signal): Promise<void> =>
    delay(ms, undefined, { signal }).catch(() => undefined);

  const noteRevision = (rv: string | undefined): void => {
    if (rv !== undefined) revision = rv;
  };

  const dirty = (): void => {
    if (stopped || flushTimer !== undefined) return;
    flushTimer = setTimeout(flush, debounceMs);
  };

  const reportHealth = (): void => {
    if (h === undefined || stopped) return;
    const error = configError ?? slots.find((s) => s.failure !== undefined)?.failure;
    const now = Date.now();
    if (error !== undefined) {
      if (reported?.connected === false) return;
      reported = { connected: false, at: now };
      h.health({ connected: false, error });
      return;
    }
    if (!slots.every((s) => s.settled)) return;
    const report = (): void => {
      reported = { connected: true, revision, at: now };
      h?.health(revision === undefined ? { connected: true } : { connected: true, revision });
    };
    if (reported?.connected !== true) {
      // Back after an outage: hand over a fresh snapshot even if nothing changed, as a resync.
      if (reported !== undefined) forced = true;
      report();
    } else if (revision !== reported.revision) {
      const wait = reported.at + revisionReportMs - now;
      if (wait <= 0) report();
      else
        revisionTimer ??= setTimeout(() => {
          revisionTimer = undefined;
          reportHealth();
        }, wait);
    }
  };

  function flush(): void {
    flushTimer = undefined;
    if (h === undefined || stopped) return;
    reportHealth();
    if (!slots.every((s) => s.settled)) return;
    const objects = new Map<string, string>();
    for (const s of slots) {
      if (s.lw === undefined || s.absent) continue;
      const version = s.res.versions[s.version] ?? s.res.versions[0];
      for (const o of s.lw.list()) {
        let text = texts.get(o);
        if (text === undefined) {
          text = objectText(s.res, version, o);
          texts.set(o, text);
        }
        objects.set(
          objectId(s.res, { namespace: o.metadata?.namespace, name: o.metadata?.name ?? '' }),
          text,
        );
      }
    }
    if (!forced && sameObjects(objects, last)) return;
    forced = false;
    last = objects;
    h.snapshot(objects);
  }

  const healthy = (slot: Slot): void => {
    if (slot.failure !== undefined) {
      slot.failure = undefined;
      slot.attempt = 0;
      h?.log('info', 'kubernetes watch restored', { resource: resourceName(slot.res) });
    }
    reportHealth();
    dirty();
  };

  const start = (slot: Slot, lw: ListWatch<KubernetesObject>): void => {
    track(lw.start().catch((e: unknown) => failed(slot, lw, e)));
  };

  const failed = (slot: Slot, lw: ListWatch<KubernetesObject>, e: unknown): void => {
    if (stopped || slot.lw !== lw) return;
    if (statusCodeOf(e) === 404) {
      notServed(slot);
      return;
    }
    const first = slot.failure === undefined;
    slot.failure = `${resourceName(slot.res)}: ${errorText(e)}`;
    slot.attempt += 1;
    if (first)
      h?.log('warn', 'kubernetes list/watch failed; retrying', {
        resource: resourceName(slot.res),
        error: errorText(e),
      });
    reportHealth();
    clearTimeout(slot.timer);
    slot.timer = setTimeout(
      () => {
        slot.timer = undefined;
        if (!stopped && slot.lw === lw) start(slot, lw);
      },
      backoffMs(slot.attempt - 1, { maxMs: maxBackoff }),
    );
  };

  /** A 404: try the resource's next version, else skip it and look again later. */
  const notServed = (slot: Slot): void => {
    const lw = slot.lw;
    slot.lw = undefined;
    if (lw !== undefined) void lw.stop();
    const wasFailing = slot.failure !== undefined;
    slot.failure = undefined;
    slot.attempt = 0;
    if (slot.version + 1 < slot.res.versions.length) {
      slot.version += 1;
      open(slot);
      return;
    }
    slot.version = 0;
    slot.absent = true;
    slot.settled = true;
    if (!slot.announced) {
      slot.announced = true;
      h?.log('info', 'kubernetes resource not served; skipped', {
        resource: resourceName(slot.res),
        versions: slot.res.versions.join(','),
      });
    }
    clearTimeout(slot.timer);
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      open(slot);
    }, absentRetryMs);
    if (wasFailing) reportHealth();
    dirty();
  };

  const onEvent = (slot: Slot, line: string, callback: Parameters<WatchFn>[2]): void => {
    const resource = resourceName(slot.res);
    let ev: unknown;
    try {
      ev = JSON.parse(line);
    } catch {
      h?.log('warn', 'kubernetes watch sent a line that is not JSON; skipped', { resource });
      return;
    }
    if (!isRecord(ev) || typeof ev['type'] !== 'string' || !isRecord(ev['object'])) {
      h?.log('warn', 'kubernetes watch event without type and object; skipped', { resource });
      return;
    }
    const type = ev['type'];
    const obj = ev['object'];
    switch (type) {
      case 'ERROR': {
        const code = obj['code'];
        const message = typeof obj['message'] === 'string' ? obj['message'] : '';
        if (code === 410) h?.log('info', 'kubernetes watch expired; relisting', { resource, message });
        else h?.log('warn', 'kubernetes watch error', { resource, code, message });
        callback(type, obj, ev);
        return;
      }
      case 'BOOKMARK':
        noteRevision(resourceVersionOf(obj));
        callback(type, obj, ev);
        dirty();
        return;
      case 'ADDED':
      case 'MODIFIED':
      case 'DELETED':
        if (!isKeyed(obj)) {
          h?.log('warn', 'kubernetes watch event without metadata.name; skipped', { resource, type });
          return;
        }
        noteRevision(resourceVersionOf(obj));
        callback(type, obj, ev);
        dirty();
        return;
      default:
        h?.log('warn', 'kubernetes watch event of unknown type; skipped', { resource, type });
    }
  };

  const list = async (
    slot: Slot,
    lw: ListWatch<KubernetesObject>,
    path: string,
  ): Promise<KubernetesListObject<KubernetesObject>> => {
    const config = kc;
    if (config === undefined) throw new Error('no kubeconfig loaded');
    const body = await getJson(config, path, { signal: stopAll.signal, idleMs: listTimeoutMs });
    const items: unknown = isRecord(body) ? body['items'] : undefined;
    const meta: unknown = isRecord(body) ? body['metadata'] : undefined;
    if (!Array.isArray(items) || !isRecord(meta))
      throw new Error(`${path}: the answer is not a ${slot.res.kind}List`);
    const keyed = items.filter(isKeyed);
    if (keyed.length < items.length)
      h?.log('warn', 'kubernetes list items without metadata.name; skipped', {
        resource: resourceName(slot.res),
        count: items.length - keyed.length,
      });
    const rv = typeof meta['resourceVersion'] === 'string' ? meta['resourceVersion'] : '';
    if (slot.lw === lw && !stopped) {
      slot.settled = true;
      if (slot.absent) {
        slot.absent = false;
        if (slot.announced)
          h?.log('info', 'kubernetes resource now served', { resource: resourceName(slot.res) });
        slot.announced = false;
      }
      noteRevision(rv === '' ? undefined : rv);
      // The informer files the items once this resolves, before the debounced flush reads its cache.
      forced = true;
      healthy(slot);
    }
    return { metadata: { resourceVersion: rv }, items: keyed };
  };

  const watchFor =
    (slot: Slot, lw: () => ListWatch<KubernetesObject>): WatchFn =>
    (path, queryParams, callback, done) => {
      const controller = new AbortController();
      const signal = controller.signal;
      live.add(controller);
      const run = async (): Promise<void> => {
        // Never less than a timer tick: the informer stores the controller before `done` may run.
        await sleep(Math.max(0, slot.lastWatchAt + minWatchIntervalMs - Date.now()), signal);
        const config = kc;
        if (signal.aborted || config === undefined) return;
        slot.lastWatchAt = Date.now();
        const timeoutSeconds = watchTimeout();
        const query: Record<string, string> = {
          watch: 'true',
          allowWatchBookmarks: 'true',
          timeoutSeconds: String(timeoutSeconds),
        };
        for (const [k, v] of Object.entries(queryParams)) if (v !== undefined) query[k] = String(v);
        try {
          await watchLines(
            config,
            path,
            { query, signal, idleMs: (timeoutSeconds + 30) * 1000 },
            {
              opened: () => {
                if (slot.lw === lw()) healthy(slot);
              },
              line: (l) => onEvent(slot, l, callback),
            },
          );
        } catch (e) {
          if (!signal.aborted) done(e);
          return;
        }
        if (!signal.aborted) done(null);
      };
      track(
        run()
          .catch((e: unknown) => done(e))
          .finally(() => live.delete(controller)),
      );
      return Promise.resolve(controller);
    };

  const open = (slot: Slot): void => {
    if (stopped || lib === undefined || kc === undefined) return;
    const version = slot.res.versions[slot.version] ?? slot.res.versions[0];
    const path = collectionPath(slot.res, version);
    const watch = new lib.Watch(kc);
    const lw: ListWatch<KubernetesObject> = new lib.ListWatch<KubernetesObject>(
      path,
      watch,
      () => list(slot, lw, path),
      false,
    );
    watch.watch = watchFor(slot, () => lw);
    lw.on('add', dirty);
    lw.on('update', dirty);
    lw.on('delete', dirty);
    lw.on('error', (e: unknown) => failed(slot, lw, e));
    slot.lw = lw;
    start(slot, lw);
  };

  const init = async (): Promise<void> => {
    let attempt = 0;
    while (!stopped) {
      try {
        lib ??= await import('@kubernetes/client-node');
        const loaded = loadKubeConfig(lib.KubeConfig, kubeconfig, env);
        kc = loaded.kc;
        if (configError !== undefined) h?.log('info', 'kubernetes configuration usable again', {});
        configError = undefined;
        h?.log('info', 'kubernetes datastore', { config: loaded.from, resources: slots.length });
        for (const s of slots) open(s);
        return;
      } catch (e) {
        if (configError === undefined)
          h?.log('warn', 'kubernetes configuration unusable; retrying', { error: errorText(e) });
        configError = errorText(e);
        reportHealth();
        await sleep(backoffMs(attempt, { maxMs: maxBackoff }));
        attempt += 1;
      }
    }
  };

  return {
    describe: kubeconfig === undefined ? 'kubernetes' : `kubernetes:${kubeconfig}`,
    start(handlers) {
      h = handlers;
      track(
        init().catch((e: unknown) =>
          handlers.log('warn', 'kubernetes source stopped', { error: errorText(e) }),
        ),
      );
    },
    async stop() {
      stopped = true;
      clearTimeout(flushTimer);
      clearTimeout(revisionTimer);
      for (const s of slots) {
        clearTimeout(s.timer);
        const lw = s.lw;
        s.lw = undefined;
        await lw?.stop();
      }
      stopAll.abort();
      for (const c of live) c.abort();
      for (let i = 0; i < 100 && running.size > 0; i++) await Promise.all([...running]);
    },
  };
}
