/**
 * `etcd:URL`: every key under /palisade/ is one object (value: the object as JSON or YAML). A session is
 * one consistent read (get with its revision) followed by a watch from revision+1, so no change between
 * the two is missed. When the watch breaks, the source reports disconnected, closes it and starts a new
 * session with capped backoff: the full read on reconnect replaces the snapshot, which also covers a
 * compacted history. The client library's own watch reconnection is not relied on, so the moment of
 * "degraded" and of "resynced" is visible here.
 *
 * Uses the `etcd3` npm package (gRPC v3 API: range + watch streams); etcd's v3 API has no HTTP/JSON
 * watch worth building on, and a gRPC client of our own would be far more code than the dependency.
 */
import { Etcd3 } from 'etcd3';
import type { IKeyValue, Watcher } from 'etcd3';
import { ETCD_PREFIX } from '../datastore.js';
import type { DatastoreSource, SourceHandlers } from './source.js';
import { backoffMs } from '../../util/backoff.js';
import { errorText } from './source.js';

export interface EtcdSourceOptions {
  /** Deadline of each unary call (the initial read). */
  readonly callTimeoutMs?: number;
  readonly maxBackoffMs?: number;
}

/** A client whose unary calls fail within `timeoutMs` instead of waiting on a dead server. */
export function etcdClient(hosts: readonly string[], timeoutMs = 3000): Etcd3 {
  return new Etcd3({
    hosts: [...hosts],
    dialTimeout: timeoutMs,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
  });
}

export function etcdSource(hosts: readonly string[], opts: EtcdSourceOptions = {}): DatastoreSource {
  const timeoutMs = opts.callTimeoutMs ?? 3000;
  const maxBackoff = opts.maxBackoffMs ?? 5000;
  let client: Etcd3 | undefined;
  let watcher: Watcher | undefined;
  let stopped = false;
  let running: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  let h: SourceHandlers | undefined;
  const objects = new Map<string, string>();

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });

  const text = (kv: IKeyValue): [string, string] => [kv.key.toString('utf8'), kv.value.toString('utf8')];

  /** One session: read, watch, and resolve when the watch breaks. Throws when the read fails. */
  const session = async (c: Etcd3): Promise<string> => {
    const res = await c.getAll().prefix(ETCD_PREFIX).exec();
    const revision = res.header.revision;
    objects.clear();
    for (const kv of res.kvs) objects.set(...text(kv));
    h?.health({ connected: true, revision });
    h?.snapshot(new Map(objects), revision);
    const broken = new Promise<string>((resolve) => {
      void c
        .watch()
        .prefix(ETCD_PREFIX)
        .startRevision(String(BigInt(revision) + 1n))
        .create()
        .then(
          (w) => {
            watcher = w;
            if (stopped) resolve('stopped');
            w.on('put', (kv) => {
              objects.set(...text(kv));
              h?.snapshot(new Map(objects), kv.mod_revision);
            });
            w.on('delete', (kv) => {
              objects.delete(kv.key.toString('utf8'));
              h?.snapshot(new Map(objects), kv.mod_revision);
            });
            w.on('disconnected', (e) => resolve(`watch disconnected: ${errorText(e)}`));
            w.on('error', (e) => resolve(`watch failed: ${errorText(e)}`));
            w.on('end', () => resolve('watch ended'));
          },
          (e: unknown) => resolve(`watch not created: ${errorText(e)}`),
        );
      wake = () => resolve('stopped');
      if (stopped) resolve('stopped');
    });
    const why = await broken;
    const w = watcher;
    watcher = undefined;
    // Cancelling talks to the server, which may be gone: bounded, and its failure does not matter.
    await Promise.race([w?.cancel().catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
    return why;
  };

  const loop = async (): Promise<void> => {
    let attempt = 0;
    while (!stopped) {
      // A fresh client per session: after the server went away the old channel may keep failing fast.
      const c = etcdClient(hosts, timeoutMs);
      client = c;
      let why: string;
      try {
        why = await session(c);
        attempt = 0;
      } catch (e) {
        why = errorText(e);
        attempt += 1;
      }
      client = undefined;
      c.close();
      if (stopped) break;
      h?.health({ connected: false, error: why });
      h?.log('warn', 'etcd session ended; resyncing', { error: why, attempt });
      await sleep(backoffMs(attempt, { maxMs: maxBackoff }));
    }
  };

  return {
    describe: `etcd:${hosts.join(',')}`,
    start(handlers) {
      h = handlers;
      running = loop().catch((e: unknown) =>
        handlers.log('warn', 'etcd source stopped', { error: errorText(e) }),
      );
    },
    async stop() {
      stopped = true;
      wake?.();
      await running;
      client?.close();
    },
  };
}
