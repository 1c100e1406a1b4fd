/**
 * The kernel's connection tracking table of one netns: listed through `conntrack` (conntrack-tools), and
 * entries marked by their exact original tuple through native/pal-ct-mark. Only strict mode uses it; the
 * parsing is pure and tested without root. Every command is bounded (`COMMAND_TIMEOUT_MS`): strict mode
 * runs inside the agent's sync loop, which a hung tool must not stop.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { fullArgv, run } from '../util/process.js';
import type { SpawnResult } from '../util/process.js';
import { canonicalIp } from '../ir/index.js';

/** One line of `conntrack -L -o extended`, the parts strict mode needs. */
export interface ConntrackEntry {
  readonly family: 'ipv4' | 'ipv6';
  /** Lower-case protocol name as conntrack prints it: tcp, udp, sctp, icmp, … */
  readonly proto: string;
  /** TCP/SCTP state (ESTABLISHED, TIME_WAIT, …); absent for stateless protocols. */
  readonly state?: string;
  /** The original direction: who opened the connection, as conntrack saw its first packet. */
  readonly src: string;
  readonly dst: string;
  readonly sport?: number;
  readonly dport?: number;
  /**
   * The reply direction's source and source port: the destination after any DNAT, which is what the
   * filter hook (after prerouting's DNAT) evaluated.
   */
  readonly replySrc: string;
  readonly replySport?: number;
  /** The conntrack mark (`mark=`), when the kernel prints one (built with CONFIG_NF_CONNTRACK_MARK). */
  readonly mark?: number;
}

/** Bound of each conntrack, ip and pal-ct-mark run (100k entries list in a few seconds). */
export const COMMAND_TIMEOUT_MS = 30_000;

const FAMILIES = new Set(['ipv4', 'ipv6']);
const STATE = /^[A-Z][A-Z_0-9]*$/;

function port(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function mark(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 0xffffffff ? n : undefined;
}

/**
 * `ipv4 2 tcp 6 431999 ESTABLISHED src=… dst=… sport=… dport=… [ASSURED] src=… dst=… sport=… dport=… mark=0
 * use=1`: the first src/dst/sport/dport are the original tuple, the second ones the reply tuple. Anything
 * else (summary lines, other families, truncated lines) is undefined: a line we cannot read is a
 * connection we leave alone.
 */
export function parseConntrackLine(line: string): ConntrackEntry | undefined {
  const tokens = line.trim().split(/\s+/);
  const [family, , proto, , , maybeState] = tokens;
  if (family === undefined || !FAMILIES.has(family) || proto === undefined) return undefined;
  const orig: Record<string, string> = {};
  const reply: Record<string, string> = {};
  for (const t of tokens.slice(5)) {
    const eq = t.indexOf('=');
    if (eq <= 0) continue;
    const key = t.slice(0, eq);
    const value = t.slice(eq + 1);
    if (orig[key] === undefined) orig[key] = value;
    else if (reply[key] === undefined) reply[key] = value;
  }
  const src = canonicalIp(orig['src'] ?? '');
  const dst = canonicalIp(orig['dst'] ?? '');
  const replySrc = canonicalIp(reply['src'] ?? '');
  if (src === undefined || dst === undefined || replySrc === undefined) return undefined;
  const sport = port(orig['sport']);
  const dport = port(orig['dport']);
  const replySport = port(reply['sport']);
  const ctMark = mark(orig['mark']);
  const state = maybeState !== undefined && STATE.test(maybeState) ? maybeState : undefined;
  return {
    family: family as 'ipv4' | 'ipv6',
    proto,
    ...(state === undefined ? {} : { state }),
    src,
    dst,
    ...(sport === undefined ? {} : { sport }),
    ...(dport === undefined ? {} : { dport }),
    replySrc,
    ...(replySport === undefined ? {} : { replySport }),
    ...(ctMark === undefined ? {} : { mark: ctMark }),
  };
}

/** The original tuple as log lines name it. */
export function tupleText(e: ConntrackEntry): string {
  const host = (ip: string): string => (ip.includes(':') ? `[${ip}]` : ip);
  const end = (ip: string, p: number | undefined): string => (p === undefined ? ip : `${host(ip)}:${p}`);
  return `${e.proto} ${end(e.src, e.sport)} -> ${end(e.dst, e.dport)}`;
}

/** `conntrack` failed or is missing, with what it ran and said. */
export class ConntrackError extends Error {
  override readonly name = 'ConntrackError';
}

export interface Listing {
  readonly entries: readonly ConntrackEntry[];
  /** Lines read, readable or not. */
  readonly lines: number;
  /** The table held more than `maxEntries`: the rest was not read. */
  readonly truncated: boolean;
}

function listFamily(
  netns: string | undefined,
  family: 'ipv4' | 'ipv6',
  room: number,
  timeoutMs: number,
): Promise<{ entries: ConntrackEntry[]; lines: number; truncated: boolean }> {
  const argv = fullArgv(['conntrack', '-L', '-f', family, '-o', 'extended'], { netns });
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv as [string, ...string[]];
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const entries: ConntrackEntry[] = [];
    let lines = 0;
    let truncated = false;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      if (truncated) return;
      lines += 1;
      const e = parseConntrackLine(line);
      if (e === undefined) return;
      if (entries.length >= room) {
        truncated = true;
        child.kill('SIGKILL');
        return;
      }
      entries.push(e);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new ConntrackError(`${argv.join(' ')}: ${e.message} (strict mode needs conntrack-tools)`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut) reject(new ConntrackError(`${argv.join(' ')}: killed after ${timeoutMs} ms`));
      else if (code === 0 || truncated) resolve({ entries, lines, truncated });
      else reject(new ConntrackError(`${argv.join(' ')} exited with ${code}: ${stderr.trim()}`));
    });
  });
}

/** Both families' entries, at most `maxEntries` in all. */
export async function listConntrack(
  netns: string | undefined,
  maxEntries: number,
  timeoutMs = COMMAND_TIMEOUT_MS,
): Promise<Listing> {
  const v4 = await listFamily(netns, 'ipv4', maxEntries, timeoutMs);
  if (v4.truncated) return v4;
  const v6 = await listFamily(netns, 'ipv6', maxEntries - v4.entries.length, timeoutMs);
  return {
    entries: [...v4.entries, ...v6.entries],
    lines: v4.lines + v6.lines,
    truncated: v6.truncated,
  };
}

/** dist/src/agent/conntrack.js → dist/native/pal-ct-mark (native/pal-ct-mark.c). */
export function defaultMarkHelper(): string {
  return fileURLToPath(new URL('../../native/pal-ct-mark', import.meta.url));
}

/** The one-bit mask as conntrack-tools and the helper take it. */
function hex(bit: number): string {
  return `0x${bit.toString(16).padStart(8, '0')}`;
}

export interface MarkOptions {
  /** Clear the bit instead of setting it. */
  readonly clear?: boolean;
  /** Default: defaultMarkHelper(). */
  readonly helper?: string;
  /** Bound of each command; default COMMAND_TIMEOUT_MS. */
  readonly timeoutMs?: number;
}

/**
 * Sets (or clears) `bit` in the conntrack mark of the entries, leaving their other bits alone; resolves
 * with how many were still there to update. Through the native helper, one ctnetlink update by exact
 * tuple per entry (a hash lookup: 10k entries take ~0.1s). Without it, one `conntrack -U` per group of
 * entries that share everything but the source port: conntrack dumps the whole table for every update, so
 * one per entry would cost minutes at 10k. A group is safe to update whole: its entries share every field
 * the verdict depends on.
 */
export async function markConntrack(
  netns: string | undefined,
  entries: readonly ConntrackEntry[],
  bit: number,
  options: MarkOptions = {},
): Promise<number> {
  if (entries.length === 0) return 0;
  const helper = options.helper ?? defaultMarkHelper();
  const clear = options.clear === true;
  const opts = {
    ...(netns === undefined ? {} : { netns }),
    timeoutMs: options.timeoutMs ?? COMMAND_TIMEOUT_MS,
  };
  if (existsSync(helper)) {
    const input = entries.map((e) => `${e.src} ${e.dst} ${protoNumber(e)} ${e.sport ?? 0} ${e.dport ?? 0}\n`);
    const r = await run([helper, hex(bit), clear ? 'clear' : 'set'], { ...opts, input: input.join('') });
    const m = /marked (\d+) gone (\d+)/.exec(r.stdout);
    if (m === null || r.code !== 0)
      throw new ConntrackError(
        `${helper} ${ended(r, opts.timeoutMs)}: ${r.stderr.trim().split('\n').slice(0, 3).join('; ')}`,
      );
    return Number(m[1]);
  }
  let marked = 0;
  for (const args of new Set(entries.map((e) => groupMarkArgs(e, bit, clear).join(' ')))) {
    const r = await run(['conntrack', ...args.split(' ')], opts);
    const m = /(\d+) flow entries have been updated/.exec(r.stderr);
    // Exit 1 with "0 flow entries have been updated": the connections ended meanwhile.
    if (m === null)
      throw new ConntrackError(`conntrack ${args} ${ended(r, opts.timeoutMs)}: ${r.stderr.trim()}`);
    marked += Number(m[1]);
  }
  return marked;
}

/** How a bounded run ended, in words: a hung tool reads differently from a failing one. */
function ended(r: SpawnResult, timeoutMs: number): string {
  return r.timedOut ? `killed after ${timeoutMs} ms` : `exited with ${r.code}`;
}

const PROTO_NUMBERS: Readonly<Record<string, number>> = { tcp: 6, udp: 17, sctp: 132 };

function protoNumber(e: ConntrackEntry): number {
  const n = PROTO_NUMBERS[e.proto];
  if (n === undefined) throw new ConntrackError(`cannot mark ${e.proto} entries by tuple`);
  return n;
}

/**
 * `conntrack -U` arguments setting (or clearing) `bit` on every entry like this one whatever its source
 * port. The mask after the slash makes conntrack-tools keep the mark's other bits (it writes
 * (old & ~mask) ^ value).
 */
export function groupMarkArgs(e: ConntrackEntry, bit: number, clear = false): string[] {
  const args = ['-U', '-s', e.src, '-d', e.dst, '-r', e.replySrc, '-p', e.proto];
  if (e.dport !== undefined) args.push('--dport', String(e.dport));
  if (e.replySport !== undefined) args.push('--reply-port-src', String(e.replySport));
  args.push('--mark', `${clear ? hex(0) : hex(bit)}/${hex(bit)}`);
  return args;
}

/** Every address configured in the netns (canonical text), from `ip -j addr`. */
export async function localAddresses(netns: string | undefined): Promise<Set<string>> {
  const r = await run(['ip', '-j', 'addr', 'show'], {
    ...(netns === undefined ? {} : { netns }),
    timeoutMs: COMMAND_TIMEOUT_MS,
  });
  if (r.code !== 0)
    throw new ConntrackError(`ip -j addr show ${ended(r, COMMAND_TIMEOUT_MS)}: ${r.stderr.trim()}`);
  const out = new Set<string>();
  let links: unknown;
  try {
    links = JSON.parse(r.stdout);
  } catch (e) {
    throw new ConntrackError(`ip -j addr show: unreadable output (${String(e)})`);
  }
  for (const link of Array.isArray(links) ? (links as { addr_info?: unknown }[]) : []) {
    for (const a of Array.isArray(link.addr_info) ? (link.addr_info as { local?: unknown }[]) : []) {
      const ip = typeof a.local === 'string' ? canonicalIp(a.local) : undefined;
      if (ip !== undefined) out.add(ip);
    }
  }
  return out;
}
