/**
 * A stand-in for kube-apiserver, for testing the `kubernetes` datastore without one. NOT a real API
 * server: it keeps objects in memory, serves only cluster-wide list and watch of the resources it is
 * given (everything else answers 404 with a NotFound Status, as for a CRD that is not installed), and
 * has no authentication, admission, defaulting, paging or field selection. What it reproduces is the
 * list/watch protocol as the Kubernetes API concepts page describes it:
 *
 * - list: `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"…"},"items":[…]}`, items of
 *   built-in resources without apiVersion/kind (CRD items keep theirs, as unstructured lists do);
 * - watch (`?watch=true&resourceVersion=N`): 200, chunked, one JSON event per line, replaying the history
 *   after N, then live ADDED/MODIFIED/DELETED events whose objects carry apiVersion/kind and the new
 *   resourceVersion; BOOKMARK events (object of the watched kind with only metadata.resourceVersion)
 *   only when the client sent allowWatchBookmarks=true; `timeoutSeconds` ends the watch;
 * - a watch from a compacted resourceVersion: 200 then `{"type":"ERROR","object":{"kind":"Status",…,
 *   "reason":"Expired","code":410}}` and the end of the stream (or, scripted, an HTTP 410 Status);
 * - one resourceVersion counter shared by every resource, as etcd's revision is.
 *
 * Scriptable per test: change objects, send bookmarks, drop open watches, compact history, go down
 * (refuse connections) and come back on the same port. It records every request it answered.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';

export interface ReplayResource {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  /** CRDs list their items with apiVersion/kind; built-in resources do not. */
  readonly crd: boolean;
}

export type KubeObject = Record<string, unknown> & {
  metadata: Record<string, unknown> & { name: string; namespace?: string };
};

export interface RequestRecord {
  readonly path: string;
  readonly watch: boolean;
  readonly resourceVersion: string | undefined;
  readonly query: Readonly<Record<string, string>>;
  readonly status: number;
  /** A watch answered with an ERROR event carrying 410 Expired. */
  readonly expired: boolean;
}

interface HistoryEvent {
  readonly rv: number;
  readonly path: string;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: KubeObject;
}

interface OpenWatch {
  readonly path: string;
  readonly from: string;
  readonly res: http.ServerResponse;
  readonly bookmarks: boolean;
}

export function pathOf(r: Pick<ReplayResource, 'group' | 'version' | 'plural'>): string {
  return r.group === '' ? `/api/${r.version}/${r.plural}` : `/apis/${r.group}/${r.version}/${r.plural}`;
}

const apiVersionOf = (r: ReplayResource): string => (r.group === '' ? r.version : `${r.group}/${r.version}`);

function status(code: number, reason: string, message: string): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(code === 404 ? { details: {} } : {}),
    code,
  };
}

const keyOf = (o: KubeObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export class KubeReplay {
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly resources = new Map<string, ReplayResource>();
  private readonly store = new Map<string, Map<string, KubeObject>>();
  private readonly history: HistoryEvent[] = [];
  private readonly watches = new Set<OpenWatch>();
  private rv: number;
  private compactedTo = 0;
  private goneAsStatus = new Set<string>();
  private port = 0;
  readonly requests: RequestRecord[] = [];

  private constructor(resources: readonly ReplayResource[], firstRv: number) {
    this.rv = firstRv;
    for (const r of resources) {
      this.resources.set(pathOf(r), r);
      this.store.set(pathOf(r), new Map());
    }
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  static async start(resources: readonly ReplayResource[], firstRv = 4100): Promise<KubeReplay> {
    const replay = new KubeReplay(resources, firstRv);
    await replay.up();
    return replay;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  /** A kubeconfig for this server, as `kubectl config view --raw` would print it. */
  kubeconfig(): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: replay',
      '  cluster:',
      `    server: ${this.url}`,
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: agent',
      '  user:',
      '    token: replay-token',
      'contexts:',
      '- name: replay',
      '  context:',
      '    cluster: replay',
      '    user: agent',
      'current-context: replay',
      '',
    ].join('\n');
  }

  /** Listens (again) on the same port. */
  async up(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', reject);
        const a = this.server.address();
        if (typeof a === 'object' && a !== null) this.port = a.port;
        resolve();
      });
    });
  }

  /** Stops listening and cuts every connection, as a crashed API server would. */
  async down(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.watches.clear();
    await closed;
  }

  /** Creates or replaces an object (ADDED or MODIFIED), stamping uid and resourceVersion like the server. */
  put(path: string, object: KubeObject): string {
    const items = this.items(path);
    const before = items.get(keyOf(object));
    this.rv += 1;
    const r = this.resource(path);
    const stored: KubeObject = {
      ...object,
      apiVersion: apiVersionOf(r),
      kind: r.kind,
      metadata: {
        ...object.metadata,
        uid: before?.metadata['uid'] ?? object.metadata['uid'] ?? randomUUID(),
        resourceVersion: String(this.rv),
        creationTimestamp:
          before?.metadata['creationTimestamp'] ??
          object.metadata['creationTimestamp'] ??
          '2025-06-02T09:14:07Z',
      },
    };
    items.set(keyOf(stored), stored);
    this.emit({ rv: this.rv, path, type: before === undefined ? 'ADDED' : 'MODIFIED', object: stored });
    return String(this.rv);
  }

  /** Deletes an object: the DELETED event carries its last state at the deletion's resourceVersion. */
  remove(path: string, namespace: string | undefined, name: string): string {
    const items = this.items(path);
    const key = `${namespace ?? ''}/${name}`;
    const before = items.get(key);
    if (before === undefined) throw new Error(`replay: no ${path} ${key}`);
    items.delete(key);
    this.rv += 1;
    const object: KubeObject = {
      ...before,
      metadata: { ...before.metadata, resourceVersion: String(this.rv) },
    };
    this.emit({ rv: this.rv, path, type: 'DELETED', object });
    return String(this.rv);
  }

  /**
   * Something the watches do not see changes (a Lease, an Event: real clusters write all the time), and
   * every watch that asked for bookmarks is told how far it is up to date. Returns that resourceVersion.
   */
  bookmark(): string {
    this.rv += 1;
    for (const w of this.watches) {
      if (!w.bookmarks) continue;
      const r = this.resource(w.path);
      w.res.write(
        `${JSON.stringify({
          type: 'BOOKMARK',
          object: {
            kind: r.kind,
            apiVersion: apiVersionOf(r),
            metadata: { resourceVersion: String(this.rv) },
          },
        })}\n`,
      );
    }
    return String(this.rv);
  }

  /** Cuts the open watch connections (no clean end of the chunked stream), leaving the server up. */
  dropWatches(): number {
    let n = 0;
    for (const w of [...this.watches]) {
      w.res.socket?.destroy();
      this.watches.delete(w);
      n += 1;
    }
    return n;
  }

  /**
   * Forgets the history up to now, as an etcd compaction does: a watch from an older resourceVersion gets
   * 410 Gone. Open watches are told at once with an ERROR event and closed, as the watch cache does when
   * it cannot serve a watcher; `asStatus` makes the next watch of `path` answer HTTP 410 instead.
   */
  compact(opts: { expireOpen?: boolean; asStatus?: string } = {}): void {
    this.compactedTo = this.rv + 1;
    this.history.length = 0;
    if (opts.asStatus !== undefined) this.goneAsStatus.add(opts.asStatus);
    if (opts.expireOpen !== true) return;
    for (const w of [...this.watches]) {
      w.res.end(`${JSON.stringify({ type: 'ERROR', object: this.expired(w.from) })}\n`);
      this.watches.delete(w);
    }
  }

  /** Starts serving a resource, as installing its CRD does. */
  serve(r: ReplayResource): void {
    this.resources.set(pathOf(r), r);
    this.store.set(pathOf(r), new Map());
  }

  openWatches(path?: string): number {
    return [...this.watches].filter((w) => path === undefined || w.path === path).length;
  }

  requestsFor(path: string, kind: 'list' | 'watch'): RequestRecord[] {
    return this.requests.filter((r) => r.path === path && r.watch === (kind === 'watch'));
  }

  private expired(from: string): Record<string, unknown> {
    return status(410, 'Expired', `too old resource version: ${from} (${this.rv})`);
  }

  private resource(path: string): ReplayResource {
    const r = this.resources.get(path);
    if (r === undefined) throw new Error(`replay: ${path} is not served`);
    return r;
  }

  private items(path: string): Map<string, KubeObject> {
    const m = this.store.get(path);
    if (m === undefined) throw new Error(`replay: ${path} is not served`);
    return m;
  }

  private emit(e: HistoryEvent): void {
    this.history.push(e);
    for (const w of this.watches)
      if (w.path === e.path) w.res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
  }

  private send(res: http.ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://replay');
    const query = Object.fromEntries(url.searchParams);
    const watch = query['watch'] === 'true' || query['watch'] === '1';
    const record = (code: number, expired = false): void => {
      this.requests.push({
        path: url.pathname,
        watch,
        resourceVersion: query['resourceVersion'],
        query,
        status: code,
        expired,
      });
    };
    const r = this.resources.get(url.pathname);
    if (req.method !== 'GET' || r === undefined) {
      record(404);
      this.send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
      return;
    }
    const path = url.pathname;
    if (!watch) {
      record(200);
      const items = [...this.items(path).values()].map((o) => {
        if (r.crd) return o;
        const item: Record<string, unknown> = { ...o };
        delete item['apiVersion'];
        delete item['kind'];
        return item;
      });
      this.send(res, 200, {
        kind: `${r.kind}List`,
        apiVersion: apiVersionOf(r),
        metadata: { resourceVersion: String(this.rv) },
        items,
      });
      return;
    }
    const from = query['resourceVersion'] ?? '';
    const tooOld = from !== '' && from !== '0' && Number(from) < this.compactedTo;
    if (tooOld && this.goneAsStatus.delete(path)) {
      record(410);
      this.send(res, 410, this.expired(from));
      return;
    }
    record(200, tooOld);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    if (tooOld) {
      res.end(`${JSON.stringify({ type: 'ERROR', object: this.expired(from) })}\n`);
      return;
    }
    const backlog =
      from === '' || from === '0'
        ? [...this.items(path).values()].map((object) => ({ type: 'ADDED', object }))
        : this.history.filter((e) => e.path === path && e.rv > Number(from));
    for (const e of backlog) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
    const w: OpenWatch = { path, from, res, bookmarks: query['allowWatchBookmarks'] === 'true' };
    this.watches.add(w);
    const seconds = Number(query['timeoutSeconds'] ?? '0');
    const timer = seconds > 0 ? setTimeout(() => res.end(), seconds * 1000) : undefined;
    res.once('close', () => {
      clearTimeout(timer);
      this.watches.delete(w);
    });
  }
}
