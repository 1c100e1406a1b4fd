/**
 * `nft -j -n list table` output → the table fingerprint the diff compares (compile/nft-state.ts). Pure, so
 * it is tested on recorded output. Elements are re-rendered in the compiler's canonical text (the kernel
 * may print a range as a prefix, or a single address without `/32`), and rules are known by the id in
 * their comment; a rule without one gets an id no desired rule has, so its chain is replaced.
 */
import type { Family } from '../../ir/cidr.js';
import { parseIp } from '../../ir/cidr.js';
import type { ChainFingerprint, NftHook, NftMap, NftSet, TableFingerprint } from '../compile/nft-state.js';
import { formatRange } from '../compile/ranges.js';

type Json = unknown;

const PROTOCOLS: Readonly<Record<string, number>> = { icmp: 1, tcp: 6, udp: 17, 'ipv6-icmp': 58, sctp: 132 };
const FOREIGN_RULE = '?';

function obj(v: Json): Record<string, Json> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, Json>) : undefined;
}

function str(v: Json): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function family(type: string): Family | undefined {
  return type === 'ipv4_addr' ? 4 : type === 'ipv6_addr' ? 6 : undefined;
}

function addrBound(v: Json): bigint | undefined {
  const s = str(v);
  return s === undefined ? undefined : parseIp(s)?.value;
}

/** One component of an element, in canonical text; undefined when it cannot be read. */
function component(type: string, v: Json): string | undefined {
  const f = family(type);
  const o = obj(v);
  if (f !== undefined) {
    if (o?.['prefix'] !== undefined) {
      const p = obj(o['prefix']);
      const base = addrBound(p?.['addr']);
      const len = p?.['len'];
      if (base === undefined || typeof len !== 'number') return undefined;
      const bits = f === 4 ? 32 : 128;
      const hi = base | ((1n << BigInt(bits - len)) - 1n);
      return formatRange({ family: f, lo: base, hi });
    }
    if (o?.['range'] !== undefined && Array.isArray(o['range'])) {
      const [a, b] = o['range'] as Json[];
      const lo = addrBound(a);
      const hi = addrBound(b);
      return lo === undefined || hi === undefined ? undefined : formatRange({ family: f, lo, hi });
    }
    const ip = addrBound(v);
    return ip === undefined ? undefined : formatRange({ family: f, lo: ip, hi: ip });
  }
  const num = (x: Json): number | undefined =>
    typeof x === 'number' ? x : typeof x === 'string' ? (PROTOCOLS[x] ?? Number(x)) : undefined;
  if (o?.['range'] !== undefined && Array.isArray(o['range'])) {
    const [a, b] = (o['range'] as Json[]).map(num);
    if (a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b)) return undefined;
    return a === b ? `${a}` : `${a}-${b}`;
  }
  const n = num(v);
  return n === undefined || Number.isNaN(n) ? undefined : `${n}`;
}

/** Element value (unwrapping `{elem: {val}}`, which carries timeouts or comments) → canonical text. */
function elementText(types: readonly string[], v: Json): string | undefined {
  const wrapped = obj(obj(v)?.['elem']);
  const val = wrapped ? wrapped['val'] : v;
  const concat = obj(val)?.['concat'];
  const parts = Array.isArray(concat) ? (concat as Json[]) : [val];
  if (parts.length !== types.length) return undefined;
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const c = component(types[i] ?? '', parts[i]);
    if (c === undefined) return undefined;
    out.push(c);
  }
  return out.join(' . ');
}

function verdictText(v: Json): string | undefined {
  const o = obj(v);
  if (!o) return undefined;
  for (const kind of ['jump', 'goto'] as const) {
    const target = str(obj(o[kind])?.['target']);
    if (target !== undefined) return `${kind} ${target}`;
  }
  const simple = Object.keys(o).find((k) => ['accept', 'drop', 'return', 'continue'].includes(k));
  return simple;
}

function types(v: Json): string[] {
  return Array.isArray(v)
    ? v.filter((x): x is string => typeof x === 'string')
    : typeof v === 'string'
      ? [v]
      : [];
}

export interface ParsedTable {
  readonly table: TableFingerprint;
  /** Elements or rules that could not be read back; they are reported, and their objects rewritten. */
  readonly unreadable: readonly string[];
}

/** Parses the JSON of `nft -j -n list table <family> <name>`. */
export function parseNftJson(text: string): ParsedTable {
  const root = obj(JSON.parse(text) as Json);
  const items = Array.isArray(root?.['nftables']) ? (root['nftables'] as Json[]) : [];
  const sets: NftSet[] = [];
  const maps: NftMap[] = [];
  const chains = new Map<string, { name: string; hook?: NftHook; ruleIds: string[] }>();
  const unreadable: string[] = [];
  const chainOf = (name: string): { name: string; hook?: NftHook; ruleIds: string[] } => {
    let c = chains.get(name);
    if (!c) chains.set(name, (c = { name, ruleIds: [] }));
    return c;
  };

  for (const item of items) {
    const o = obj(item);
    const set = obj(o?.['set']);
    const map = obj(o?.['map']);
    const chain = obj(o?.['chain']);
    const rule = obj(o?.['rule']);
    if (set) {
      const name = str(set['name']) ?? '';
      const t = types(set['type']);
      const elements: string[] = [];
      for (const e of Array.isArray(set['elem']) ? (set['elem'] as Json[]) : []) {
        const text = elementText(t, e);
        if (text === undefined) unreadable.push(`set ${name}: ${JSON.stringify(e)}`);
        else elements.push(text);
      }
      sets.push({ name, type: t, flags: types(set['flags']), elements: elements.sort() });
    } else if (map) {
      const name = str(map['name']) ?? '';
      const t = types(map['type']);
      const elements: [string, string][] = [];
      for (const e of Array.isArray(map['elem']) ? (map['elem'] as Json[]) : []) {
        const pair = Array.isArray(e) ? (e as Json[]) : [];
        const key = elementText(t, pair[0]);
        const verdict = verdictText(pair[1]);
        if (key === undefined || verdict === undefined) unreadable.push(`map ${name}: ${JSON.stringify(e)}`);
        else elements.push([key, verdict]);
      }
      maps.push({ name, type: t, elements: elements.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) });
    } else if (chain) {
      const c = chainOf(str(chain['name']) ?? '');
      const hook = str(chain['hook']);
      if (hook !== undefined) {
        c.hook = {
          type: 'filter',
          hook: hook as NftHook['hook'],
          priority: typeof chain['prio'] === 'number' ? chain['prio'] : 0,
          policy: chain['policy'] === 'drop' ? 'drop' : 'accept',
        };
      }
    } else if (rule) {
      const id = str(rule['comment']);
      if (id === undefined) unreadable.push(`rule in ${str(rule['chain']) ?? '?'} without an id comment`);
      chainOf(str(rule['chain']) ?? '').ruleIds.push(id ?? FOREIGN_RULE);
    }
  }
  const chainList: ChainFingerprint[] = [...chains.values()];
  return { table: { sets, maps, chains: chainList }, unreadable };
}
