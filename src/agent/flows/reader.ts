/**
 * Kernel flow events, read from native/pal-flowd running in the node's netns.
 *
 * Why this route (issue 5 item 3):
 * - Allowed = conntrack NEW events (ctnetlink group NFNLGRP_CONNTRACK_NEW). Conntrack confirms an entry only
 *   when the connection's first packet has passed every hook, so a NEW event is exactly "this connection
 *   was allowed", once per connection and at zero per-packet cost in the rule set. Logging allows with
 *   nflog instead would put a log statement on every allow step and cost a copy per new packet.
 * - Denied = nflog group 101: the compiled Deny/Reject/isolation rules already copy the dropped packet
 *   there, with a prefix naming the verdict tag, direction, tier and policy (the kernel's own view).
 *   Log rules copy to group 100.
 * - The kernel tells the 5-tuple but not which merged set element matched, so the deciding rule is
 *   attributed by running the engine on the flow against the model the table was compiled from
 *   (attribute.ts): the same model gives the same decision, and a disagreement is flagged, not hidden.
 * - A small C helper rather than a Node addon or libnetfilter_log: two raw netlink sockets and ~300
 *   lines of libc, no build dependencies, and a separate process whose memory cannot grow with a flood
 *   (a slow reader blocks its stdout; the socket buffer overflows; the kernel drops and says so).
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DENY_NFLOG_GROUP, NFLOG_GROUP } from '../../datapath/index.js';
import { RestartBackoff } from '../../util/backoff.js';
import type { Logger } from '../log.js';

/** One flow the kernel reported. */
export interface KernelFlow {
  readonly kind: 'flow';
  readonly source: 'nflog' | 'ct-new';
  /** nflog group; absent for conntrack events. */
  readonly group?: number;
  /** The nflog prefix of the rule that logged the packet. */
  readonly prefix?: string;
  readonly family: 4 | 6;
  readonly src: string;
  readonly dst: string;
  /** IP protocol number. */
  readonly proto: number;
  readonly sport?: number;
  readonly dport?: number;
  readonly icmpType?: number;
  readonly icmpCode?: number;
  /** Milliseconds since the epoch (the kernel's stamp when it gave one, else the helper's clock). */
  readonly ts: number;
  /** Interfaces the packet came in on / would have gone out on (nflog only). */
  readonly in?: string;
  readonly out?: string;
  /** ct-new only: the source is an address of the netns itself (the node opened the connection). */
  readonly fromHost?: boolean;
}

export type HelperLine =
  | KernelFlow
  | { readonly kind: 'lost'; readonly source: string; readonly count: number }
  | { readonly kind: 'ready'; readonly nflog: boolean; readonly ct: boolean }
  | { readonly kind: 'error'; readonly message: string };

export type ParsedLine =
  { readonly ok: true; readonly line: HelperLine } | { readonly ok: false; readonly error: string };

const MAX_LINE = 4096;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function intIn(v: unknown, lo: number, hi: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function isAddress(v: unknown, family: 4 | 6): v is string {
  if (typeof v !== 'string' || v.length > 45) return false;
  if (family === 4) {
    const m = IPV4.exec(v);
    return m !== null && m.slice(1).every((o) => Number(o) <= 255);
  }
  return /^[0-9a-f:.]+$/i.test(v) && v.includes(':');
}

function flowLine(o: Record<string, unknown>): ParsedLine {
  const bad = (field: string): ParsedLine => ({ ok: false, error: `field ${field}: missing or invalid` });
  const source = o['source'];
  if (source !== 'nflog' && source !== 'ct-new') return bad('source');
  const family = o['family'];
  if (family !== 4 && family !== 6) return bad('family');
  if (!isAddress(o['src'], family)) return bad('src');
  if (!isAddress(o['dst'], family)) return bad('dst');
  if (!intIn(o['proto'], 0, 255)) return bad('proto');
  if (!intIn(o['ts'], 0, Number.MAX_SAFE_INTEGER)) return bad('ts');
  const flow: Record<string, unknown> = {
    kind: 'flow',
    source,
    family,
    src: o['src'],
    dst: o['dst'],
    proto: o['proto'],
    ts: o['ts'],
  };
  if (source === 'nflog') {
    if (!intIn(o['group'], 0, 65535)) return bad('group');
    flow['group'] = o['group'];
    if (o['prefix'] !== undefined) {
      if (typeof o['prefix'] !== 'string' || o['prefix'].length > 256) return bad('prefix');
      flow['prefix'] = o['prefix'];
    }
  }
  for (const k of ['sport', 'dport'] as const) {
    if (o[k] === undefined) continue;
    if (!intIn(o[k], 0, 65535)) return bad(k);
    flow[k] = o[k];
  }
  for (const k of ['icmpType', 'icmpCode'] as const) {
    if (o[k] === undefined) continue;
    if (!intIn(o[k], 0, 255)) return bad(k);
    flow[k] = o[k];
  }
  if (o['fromHost'] === true) flow['fromHost'] = true;
  for (const k of ['in', 'out'] as const) {
    if (o[k] === undefined) continue;
    if (typeof o[k] !== 'string' || o[k].length > 32) return bad(k);
    flow[k] = o[k];
  }
  return { ok: true, line: flow as unknown as KernelFlow };
}

/** One line of pal-flowd's output; anything else (garbage, truncation, unknown shapes) is an error, never a throw. */
export function parseHelperLine(text: string): ParsedLine {
  if (text.length > MAX_LINE) return { ok: false, error: `line longer than ${MAX_LINE} characters` };
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  if (!isObject(o)) return { ok: false, error: 'not a JSON object' };
  if ('lost' in o) {
    return intIn(o['lost'], 1, Number.MAX_SAFE_INTEGER)
      ? { ok: true, line: { kind: 'lost', source: String(o['source']), count: o['lost'] } }
      : { ok: false, error: 'field lost: not a positive integer' };
  }
  if ('error' in o) return { ok: true, line: { kind: 'error', message: String(o['error']).slice(0, 500) } };
  if (o['ready'] === true)
    return { ok: true, line: { kind: 'ready', nflog: o['nflog'] === true, ct: o['ct'] === true } };
  return flowLine(o);
}

/** dist/src/agent/flows/reader.js → dist/native/pal-flowd */
export function defaultFlowdBinary(): string {
  return fileURLToPath(new URL('../../../native/pal-flowd', import.meta.url));
}

export interface FlowReaderOptions {
  /** Named netns to read in (`ip netns exec`); absent: our own. */
  readonly netns?: string;
  readonly binary?: string;
  readonly groups?: readonly number[];
  readonly log: Logger;
  readonly onFlow: (flow: KernelFlow) => void;
  readonly onLost?: (count: number, source: string) => void;
  /** Called once per helper start, when its sockets are set up. */
  readonly onReady?: (ready: { nflog: boolean; ct: boolean }) => void;
}

/** 1 s, 2 s, … up to 30 s; a helper that ran a minute starts again from 1 s. */
const RESTART = { baseMs: 500, maxMs: 30_000, healthyMs: 60_000 } as const;

/**
 * Runs pal-flowd and parses its lines. The helper is restarted with backoff if it dies (a crash must not
 * end flow visibility for the agent's lifetime); `stop` closes its stdin, which is how it knows to exit.
 */
export class FlowReader {
  private child: ChildProcessWithoutNullStreams | undefined;
  private stopped = false;
  private readonly backoff = new RestartBackoff(RESTART);
  private timer: NodeJS.Timeout | undefined;
  private garbage = 0;

  constructor(private readonly opts: FlowReaderOptions) {}

  /** False (after logging why) when the helper binary is missing: the agent goes on without flows. */
  start(): boolean {
    const binary = this.opts.binary ?? defaultFlowdBinary();
    if (!existsSync(binary)) {
      this.opts.log('warn', 'flow log disabled: helper binary missing (npm run build:native)', { binary });
      return false;
    }
    this.spawnHelper(binary);
    return true;
  }

  private spawnHelper(binary: string): void {
    const groups = this.opts.groups ?? [NFLOG_GROUP, DENY_NFLOG_GROUP];
    const args = groups.flatMap((g) => ['--nflog', String(g)]);
    const [cmd, argv] =
      this.opts.netns === undefined
        ? [binary, args]
        : ['ip', ['netns', 'exec', this.opts.netns, binary, ...args]];
    const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    const started = Date.now();
    child.stdin.on('error', () => undefined);
    child.stderr.setEncoding('utf8');
    let stderr = '';
    child.stderr.on('data', (s: string) => {
      if (stderr.length < 2000) stderr += s;
    });
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (text) => this.line(text));
    child.on('error', (e) => this.opts.log('error', 'flow helper failed to start', { error: e.message }));
    child.on('close', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopped) return;
      const delay = this.backoff.next(Date.now() - started);
      this.opts.log('warn', 'flow helper exited; restarting', {
        code,
        signal,
        delayMs: delay,
        ...(stderr === '' ? {} : { stderr: stderr.trim() }),
      });
      this.timer = setTimeout(() => this.spawnHelper(binary), delay);
    });
  }

  private line(text: string): void {
    const p = parseHelperLine(text);
    if (!p.ok) {
      this.garbage += 1;
      // Say it once in a while, not per line: garbage at flood rate must not flood the log.
      if (this.garbage === 1 || this.garbage % 1000 === 0)
        this.opts.log('warn', 'unreadable flow helper line', {
          error: p.error,
          count: this.garbage,
          line: text.slice(0, 200),
        });
      return;
    }
    const l = p.line;
    switch (l.kind) {
      case 'flow':
        this.opts.onFlow(l);
        return;
      case 'lost':
        this.opts.onLost?.(l.count, l.source);
        return;
      case 'ready':
        this.opts.log('info', 'flow helper ready', { nflog: l.nflog, conntrack: l.ct });
        this.opts.onReady?.({ nflog: l.nflog, ct: l.ct });
        return;
      case 'error':
        this.opts.log('warn', 'flow helper', { error: l.message });
        return;
    }
  }

  /** Closes the helper's stdin and waits (bounded) for it to exit. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const c = this.child;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('close', () => r()));
    c.stdin.end();
    const t = setTimeout(() => c.kill('SIGTERM'), 1000);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    clearTimeout(t);
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}
