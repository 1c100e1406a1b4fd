/**
 * The node's HAProxy, supervised: started in master-worker mode, its maps changed through the runtime API
 * (each map replaced in one `prepare`/`commit` transaction, so a request sees the old or the new map, never
 * half of one), reloaded — listening sockets handed to the new worker (`expose-fd listeners`) and the old
 * worker finishing the requests it holds — only when the configuration text changes, and started again at
 * once if it dies. While it is down the datapath's steering drops what it would have received (fail
 * closed), so nothing passes unchecked.
 *
 * A map change is made so that no request ever looks up a table id that its maps lack: the rules and
 * fallbacks of the new tables are committed beside those of the tables in use until now, then the pairs
 * switch to the new ids; the old tables stay until the next change, so a request that read an old id just
 * before the switch (on another thread) still finds its entries. Table ids are content hashes
 * (node-l7.ts), so "beside" is a union. Were one missing anyway, the configuration fails closed (`u.0`).
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { RestartBackoff } from '../util/backoff.js';
import type { HaproxyConfigOptions } from './haproxy-config.js';
import { ADMIN_SOCKET, MAP_FILES, MASTER_SOCKET, renderHaproxyConfig } from './haproxy-config.js';
import type { NodeL7 } from './node-l7.js';

export type ProxyMaps = Pick<NodeL7, keyof typeof MAP_FILES>;

export const EMPTY_MAPS: ProxyMaps = { pairs: [], rules: [], exact: [], fallbacks: [] };

const MAP_NAMES = Object.keys(MAP_FILES) as (keyof typeof MAP_FILES)[];

export interface L7ProxyOptions extends Omit<HaproxyConfigOptions, 'ipv6'> {
  /** `haproxy` unless told otherwise. */
  readonly binary?: string;
  /** Every `L7 …` line the workers log. */
  readonly onLog?: (line: string) => void;
  /** Lifecycle lines: started, exited, restarted, reloaded, and HAProxy's own warnings. */
  readonly onEvent?: (event: ProxyEvent) => void;
  /** Extra argv before `haproxy` (e.g. `ip netns exec <ns>`, `setpriv --pdeathsig KILL`). */
  readonly prefix?: readonly string[];
}

export type ProxyEvent =
  | { readonly type: 'started'; readonly pid: number; readonly ms: number }
  | {
      readonly type: 'exited';
      readonly pid: number;
      readonly code: number | null;
      readonly signal: string | null;
    }
  | { readonly type: 'reloaded'; readonly ms: number }
  | { readonly type: 'stderr'; readonly line: string };

export interface ProxyStatus {
  readonly running: boolean;
  readonly pid?: number;
  readonly starts: number;
  readonly reloads: number;
  readonly mapUpdates: number;
  readonly pairs: number;
  readonly rules: number;
  /** Exact cells (exact-table.ts). */
  readonly exact: number;
}

function lines(entries: readonly (readonly [string, string])[]): string {
  return entries.map(([k, v]) => `${k} ${v}\n`).join('');
}

/** One runtime API command on the admin socket (one connection each: HAProxy's non-interactive mode). */
export function adminCommand(socket: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socket);
    let out = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(
        new Error(`HAProxy runtime API: no answer to "${command.split('\n')[0]}" within ${timeoutMs} ms`),
      );
    }, timeoutMs);
    c.setEncoding('utf8');
    c.on('connect', () => c.end(command.endsWith('\n') ? command : command + '\n'));
    c.on('data', (d: string) => (out += d));
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** Bytes of map lines per runtime API command: well inside HAProxy's default 16 KiB buffer. */
export const PAYLOAD_BYTES = 8000;

/** Map lines grouped so that each group's text stays within `limit` bytes (a longer line goes alone). */
export function payloadChunks(entries: readonly (readonly [string, string])[], limit: number): string[] {
  const out: string[] = [];
  let cur = '';
  for (const [k, v] of entries) {
    const line = `${k} ${v}\n`;
    if (cur !== '' && Buffer.byteLength(cur) + Buffer.byteLength(line) > limit) {
      out.push(cur);
      cur = '';
    }
    cur += line;
  }
  if (cur !== '') out.push(cur);
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether the socket answers the command with text containing `want` (false while it is not listening). */
async function answers(socket: string, command: string, want: string): Promise<boolean> {
  try {
    return (await adminCommand(socket, command, 1000)).includes(want);
  } catch {
    return false;
  }
}

export class L7Proxy {
  readonly #opts: L7ProxyOptions;
  #child: ChildProcess | undefined;
  #exited: Promise<void> | undefined;
  #maps: ProxyMaps = EMPTY_MAPS;
  #ipv6 = false;
  #config = '';
  #stopping = false;
  #starts = 0;
  #reloads = 0;
  #mapUpdates = 0;
  #startedAt = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  readonly #backoff = new RestartBackoff({ baseMs: 100, maxMs: 5000, healthyMs: 10_000 });
  /** Serialises start, update and reload: one change of the running proxy at a time. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(opts: L7ProxyOptions) {
    this.#opts = opts;
  }

  get adminSocket(): string {
    return join(this.#opts.dir, ADMIN_SOCKET);
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  #serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(f, f);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  status(): ProxyStatus {
    return {
      running: this.#child !== undefined,
      ...(this.#child?.pid === undefined ? {} : { pid: this.#child.pid }),
      starts: this.#starts,
      reloads: this.#reloads,
      mapUpdates: this.#mapUpdates,
      pairs: this.#maps.pairs.length,
      rules: this.#maps.rules.length,
      exact: this.#maps.exact.length,
    };
  }

  async #writeFiles(maps: ProxyMaps, config: string): Promise<void> {
    await mkdir(this.#opts.dir, { recursive: true, mode: 0o700 });
    const put = async (name: string, text: string): Promise<void> => {
      const path = join(this.#opts.dir, name);
      await writeFile(`${path}.tmp`, text, { mode: 0o600 });
      await rename(`${path}.tmp`, path);
    };
    for (const name of MAP_NAMES) await put(MAP_FILES[name], lines(maps[name]));
    await put('haproxy.cfg', config);
  }

  #render(ipv6: boolean): string {
    const { dir, port, mode } = this.#opts;
    return renderHaproxyConfig({
      dir,
      port,
      mode,
      ipv6,
      ...(this.#opts.upstream === undefined ? {} : { upstream: this.#opts.upstream }),
    });
  }

  /** Starts HAProxy with the maps given (default: none, every steered request fails closed). */
  start(l7?: ProxyMaps & Pick<NodeL7, 'ipv6'>): Promise<void> {
    return this.#serial(async () => {
      if (l7 !== undefined) {
        this.#maps = l7;
        this.#ipv6 = l7.ipv6;
      }
      this.#config = this.#render(this.#ipv6);
      await this.#writeFiles(this.#maps, this.#config);
      await this.#spawn();
    });
  }

  async #spawn(): Promise<void> {
    const started = performance.now();
    const cfg = join(this.#opts.dir, 'haproxy.cfg');
    const argv = [
      ...(this.#opts.prefix ?? []),
      this.#opts.binary ?? 'haproxy',
      // Master-worker in the foreground (no -D); `-db` would also disable the master CLI that reloads.
      '-W',
      '-f',
      cfg,
      '-S',
      join(this.#opts.dir, MASTER_SOCKET),
    ];
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#starts += 1;
    this.#startedAt = performance.now();
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('L7 ')) this.#opts.onLog?.(line);
    });
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (line.trim() !== '') this.#opts.onEvent?.({ type: 'stderr', line });
    });
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        if (this.#child === child) this.#child = undefined;
        this.#opts.onEvent?.({ type: 'exited', pid: child.pid ?? -1, code, signal });
        resolve();
        if (!this.#stopping) this.#scheduleRestart();
      });
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    await this.#waitReady(child);
    this.#opts.onEvent?.({
      type: 'started',
      pid: child.pid ?? -1,
      ms: Math.round(performance.now() - started),
    });
  }

  get #masterSocket(): string {
    return join(this.#opts.dir, MASTER_SOCKET);
  }

  /**
   * Until the worker's runtime API answers (it has loaded the maps and bound the port) and the master's
   * CLI does too (it opens after the worker says it is ready; reloads go there).
   */
  async #waitReady(child: ChildProcess): Promise<void> {
    for (let i = 0; i < 250; i++) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`haproxy exited at start (code ${child.exitCode ?? child.signalCode})`);
      if (
        (await answers(this.adminSocket, 'show info', 'Pid:')) &&
        (await answers(this.#masterSocket, 'show proc', 'master'))
      )
        return;
      await sleep(20);
    }
    throw new Error('haproxy did not answer on its runtime API within 5 s');
  }

  #scheduleRestart(): void {
    const wait = this.#backoff.next(performance.now() - this.#startedAt);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      void this.#serial(async () => {
        if (this.#stopping || this.#child !== undefined) return;
        await this.#writeFiles(this.#maps, this.#config);
        await this.#spawn();
      }).catch((e: unknown) => {
        this.#opts.onEvent?.({ type: 'stderr', line: `restart failed: ${(e as Error).message}` });
        if (!this.#stopping && this.#child === undefined) this.#scheduleRestart();
      });
    }, wait);
  }

  /** Makes the proxy enforce `l7`: map edits, or a seamless reload when the configuration changes. */
  update(l7: ProxyMaps & Pick<NodeL7, 'ipv6'>): Promise<void> {
    return this.#serial(async () => {
      const previous = this.#maps;
      const config = this.#render(l7.ipv6);
      this.#maps = l7;
      this.#ipv6 = l7.ipv6;
      if (config !== this.#config || this.#child === undefined) {
        this.#config = config;
        await this.#writeFiles(l7, config);
        if (this.#child !== undefined) await this.#reload();
        return;
      }
      await this.#writeFiles(l7, config);
      const union = (a: ProxyMaps['rules'], b: ProxyMaps['rules']): (readonly [string, string])[] => {
        const seen = new Set(a.map(([k]) => k));
        return [...a, ...b.filter(([k]) => !seen.has(k))];
      };
      const same = (a: ProxyMaps['rules'], b: ProxyMaps['rules']): boolean =>
        a.length === b.length && a.every(([k, v], i) => b[i]?.[0] === k && b[i]?.[1] === v);
      if (MAP_NAMES.every((name) => same(previous[name], l7[name]))) return;
      // New tables' entries before the old ones' in `rules`: order only matters within one table.
      await this.#commit(MAP_FILES.rules, union(l7.rules, previous.rules));
      await this.#commit(MAP_FILES.exact, union(l7.exact, previous.exact));
      await this.#commit(MAP_FILES.fallbacks, union(l7.fallbacks, previous.fallbacks));
      await this.#commit(MAP_FILES.pairs, l7.pairs);
      this.#mapUpdates += 1;
    });
  }

  /** Replaces one map's content in one transaction. */
  async #commit(file: string, entries: readonly (readonly [string, string])[]): Promise<void> {
    const path = join(this.#opts.dir, file);
    const prepared = await adminCommand(this.adminSocket, `prepare map ${path}`);
    const version = /New version created: (\d+)/.exec(prepared)?.[1];
    if (version === undefined) throw new Error(`HAProxy: prepare map ${file}: ${prepared.trim()}`);
    // The payload form takes many entries in one command, but a command must fit HAProxy's buffer
    // (tune.bufsize, 16 KiB by default): larger payloads are cut short, so they go in chunks.
    for (const chunk of payloadChunks(entries, PAYLOAD_BYTES)) {
      const out = await adminCommand(this.adminSocket, `add map @${version} ${path} <<\n${chunk}\n`, 30_000);
      if (out.trim() !== '') throw new Error(`HAProxy: add map ${file}: ${out.trim().split('\n')[0]}`);
    }
    const done = await adminCommand(this.adminSocket, `commit map @${version} ${path}`);
    if (done.trim() !== '') throw new Error(`HAProxy: commit map ${file}: ${done.trim()}`);
  }

  /** Master-worker reload: the new worker gets the listeners, the old one drains (hard-stop-after). */
  async #reload(): Promise<void> {
    const started = performance.now();
    const before = await adminCommand(this.adminSocket, 'show info').catch(() => '');
    const oldPid = /\nPid: (\d+)/.exec(before)?.[1];
    const out = await adminCommand(this.#masterSocket, 'reload');
    if (/fail|error/i.test(out)) throw new Error(`HAProxy reload: ${out.trim()}`);
    for (let i = 0; i < 250; i++) {
      const info = await adminCommand(this.adminSocket, 'show info', 1000).catch(() => '');
      const pid = /\nPid: (\d+)/.exec(info)?.[1];
      // The master re-executes itself to reload: its CLI is back only after the new worker is.
      if (pid !== undefined && pid !== oldPid && (await answers(this.#masterSocket, 'show proc', 'master'))) {
        this.#reloads += 1;
        this.#opts.onEvent?.({ type: 'reloaded', ms: Math.round(performance.now() - started) });
        return;
      }
      await sleep(20);
    }
    throw new Error('HAProxy reload: no new worker within 5 s');
  }

  /** Stops HAProxy (SIGTERM to the master, SIGKILL after 2 s). */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    await this.#queue;
    const child = this.#child;
    if (child === undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await this.#exited;
    clearTimeout(timer);
  }
}
