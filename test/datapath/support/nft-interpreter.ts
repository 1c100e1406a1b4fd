/**
 * A small interpreter of the compiler's own NftTable: which verdict the kernel would give a new
 * connection, and which nflog copies it would send on the way. It lets unit tests (no root) check compiled
 * tables against the semantic case table and against the engine — the second route to the same answer.
 *
 * Chains run as the kernel runs them: `jump` pushes a return point, `goto` does not, `return` (or falling
 * off a chain) pops, and falling off the base chain applies its policy. Lookups compare the packet's key
 * with the set's canonical elements; an `l4` lookup of an ICMP packet reads the ICMP checksum as `th
 * dport`, so the interpreter insists that such elements cover every port (the compiler's invariant: ICMP
 * is decided by `icmp` sets) instead of guessing a checksum.
 */
import type { Family } from '../../../src/ir/index.js';
import type { Endpoint, Protocol } from '../../../src/ir/index.js';
import type { NftAction, NftLog, NftRule, NftTable } from '../../../src/datapath/index.js';
import { L7_MARK } from '../../../src/datapath/index.js';
import { cidrRange, formatRange, ipRange } from '../../../src/datapath/compile/ranges.js';
import type { AddrRange } from '../../../src/datapath/compile/ranges.js';

export interface Packet {
  readonly src: string;
  readonly dst: string;
  readonly protocol: Protocol | 'ICMP';
  /** Destination port (TCP/UDP/SCTP). */
  readonly port: number;
  readonly icmpType?: number;
  readonly icmpCode?: number;
  /** The packet (meta) mark; 0 when absent. */
  readonly mark?: number;
}

export type Final = 'accept' | 'drop' | 'reject';

export interface HookResult {
  readonly verdict: Final;
  /** `tcp reset` or `icmpx admin-prohibited` for a reject. */
  readonly rejectWith?: string;
  readonly logs: readonly NftLog[];
  /** A tproxy rule took the packet: it goes to the L7 proxy's port (accepted, when a proxy listens). */
  readonly tproxyPort?: number;
}

const PROTO = { TCP: 6n, UDP: 17n, SCTP: 132n } as const;
const ICMP_PROTO: Record<Family, bigint> = { 4: 1n, 6: 58n };
const MAX_STEPS = 100_000;

function part(text: string): readonly [bigint, bigint] {
  const [a, b] = text.split('-');
  return [BigInt(a ?? ''), BigInt(b ?? a ?? '')];
}

function addr(text: string): AddrRange {
  const r = text.includes('/') ? cidrRange(text) : text.includes('-') ? dashRange(text) : ipRange(text);
  if (!r) throw new Error(`bad address ${text}`);
  return r;
}

function dashRange(text: string): AddrRange | undefined {
  const i = text.indexOf('-');
  const lo = ipRange(text.slice(0, i));
  const hi = ipRange(text.slice(i + 1));
  return lo && hi ? { family: lo.family, lo: lo.lo, hi: hi.hi } : undefined;
}

const within = (v: bigint, [lo, hi]: readonly [bigint, bigint]): boolean => lo <= v && v <= hi;

/** Whether an `l4` element (address . protocol . port) holds the packet. */
export function elementMatches(element: string, ip: AddrRange, p: Packet): boolean {
  const [a, pr, d] = element.split(' . ');
  const range = addr(a ?? '');
  const proto = part(pr ?? '');
  const ports = part(d ?? '');
  if (range.family !== ip.family || !within(ip.lo, [range.lo, range.hi])) return false;
  if (p.protocol === 'ICMP') {
    if (!within(ICMP_PROTO[ip.family], proto)) return false;
    if (ports[0] !== 0n || ports[1] !== 65535n)
      throw new Error(`l4 element ${element} decides ICMP by its checksum`);
    return true;
  }
  return within(PROTO[p.protocol], proto) && within(BigInt(p.port), ports);
}

/** Whether a steering element (address . TCP port) holds the address and port. */
function steerElementMatches(element: string, ip: AddrRange, port: number): boolean {
  const [a, d] = element.split(' . ');
  const range = addr(a ?? '');
  return (
    range.family === ip.family && within(ip.lo, [range.lo, range.hi]) && within(BigInt(port), part(d ?? ''))
  );
}

/** Whether an `icmp` element (address . type . code) holds the packet. */
function icmpElementMatches(element: string, ip: AddrRange, p: Packet): boolean {
  if (p.protocol !== 'ICMP') return false;
  const [a, t, c] = element.split(' . ');
  const range = addr(a ?? '');
  return (
    range.family === ip.family &&
    within(ip.lo, [range.lo, range.hi]) &&
    within(BigInt(p.icmpType ?? 0), part(t ?? '')) &&
    within(BigInt(p.icmpCode ?? 0), part(c ?? ''))
  );
}

interface Frame {
  chain: string;
  pc: number;
}

export function runHook(t: NftTable, hook: string, p: Packet): HookResult {
  const chains = new Map(t.chains.map((c) => [c.name, c]));
  const sets = new Map(t.sets.map((s) => [s.name, s]));
  const maps = new Map(t.maps.map((m) => [m.name, m]));
  const src = ipRange(p.src);
  const dst = ipRange(p.dst);
  if (!src || !dst || src.family !== dst.family) throw new Error('bad packet');
  const family: Family = src.family;
  const logs: NftLog[] = [];
  const base = t.chains.find((c) => c.hook?.hook === hook);
  if (!base) return { verdict: 'accept', logs };

  const matches = (r: NftRule): boolean => {
    switch (r.kind) {
      case 'ct':
        return r.states.includes('new');
      case 'ctmark':
        return false; // a new connection's conntrack mark is 0: nothing has marked it yet
      case 'always':
        return true;
      case 'l4proto':
        return p.protocol === 'TCP';
      case 'dispatch':
        return false; // handled by the caller: a vmap is a lookup and a verdict in one
      case 'transparentSocket':
        return false; // a new connection: no socket owns it yet
      case 'tproxy':
      case 'tcpLookup': {
        if (r.family !== family || p.protocol !== 'TCP') return false;
        const ip = r.field === 'saddr' ? src : dst;
        const set = sets.get(r.set);
        if (!set) throw new Error(`no set ${r.set}`);
        return set.elements.some((e) => steerElementMatches(e, ip, p.port));
      }
      case 'lookup': {
        if (r.family !== family) return false;
        const ip = r.field === 'saddr' ? src : dst;
        const set = sets.get(r.set);
        if (!set) throw new Error(`no set ${r.set}`);
        const hit = r.key === 'l4' ? elementMatches : icmpElementMatches;
        return set.elements.some((e) => hit(e, ip, p));
      }
    }
  };

  // The stack holds return points; `frame` is the chain running now.
  const stack: Frame[] = [];
  let frame: Frame = { chain: base.name, pc: 0 };
  const enter = (chain: string, push: boolean): void => {
    if (!chains.has(chain)) throw new Error(`no chain ${chain}`);
    if (push) stack.push(frame);
    frame = { chain, pc: 0 };
  };
  /** Applies an action's verdict; returns a final verdict or undefined to go on. */
  const act = (a: NftAction): HookResult | undefined => {
    if (a.log) logs.push(a.log);
    const v = a.verdict;
    if (!v) return undefined;
    switch (v.kind) {
      case 'accept':
      case 'drop':
        return { verdict: v.kind, logs };
      case 'reject':
        return { verdict: 'reject', rejectWith: v.with, logs };
      case 'jump':
      case 'goto':
        enter(v.chain, v.kind === 'jump');
        return undefined;
      case 'return':
        frame.pc = Number.POSITIVE_INFINITY;
        return undefined;
    }
  };

  for (let steps = 0; steps < MAX_STEPS; steps++) {
    const chain = chains.get(frame.chain);
    const rule = chain?.rules[frame.pc];
    if (rule === undefined) {
      const back = stack.pop();
      if (back === undefined) return { verdict: base.hook?.policy ?? 'accept', logs };
      frame = back;
      continue;
    }
    frame.pc++;
    if (rule.kind === 'dispatch') {
      if (rule.family !== family) continue;
      if (rule.mark !== undefined && ((p.mark ?? 0) & rule.mark) !== rule.mark) continue;
      const key = formatRange(rule.field === 'saddr' ? src : dst);
      const verdict = maps.get(rule.map)?.elements.find(([k]) => k === key)?.[1];
      if (verdict === undefined) continue;
      const [kind, target] = verdict.split(' ');
      if ((kind !== 'jump' && kind !== 'goto') || target === undefined)
        throw new Error(`unexpected verdict ${verdict}`);
      enter(target, kind === 'jump');
      continue;
    }
    if (!matches(rule)) continue;
    if (rule.kind === 'tproxy') return { verdict: 'accept', logs, tproxyPort: rule.port };
    if (rule.kind === 'transparentSocket') return { verdict: 'accept', logs };
    const out = act(rule.action);
    if (out) return out;
  }
  throw new Error('rule loop');
}

export function hookVerdict(t: NftTable, hook: string, p: Packet): Final {
  return runHook(t, hook, p).verdict;
}

export interface ConnectionResult {
  readonly verdict: Final;
  readonly rejectWith?: string;
  /** nflog copies on every hop crossed, in order. */
  readonly logs: readonly NftLog[];
  /** How many nodes steered the connection to their L7 proxy (absent when it was refused). */
  readonly steered?: number;
}

/**
 * What happens to a new connection src → dst, given each node's table: the source's node (forward, or
 * input when the destination is that node itself) and the destination's node (forward for a pod, input
 * for the node). Traffic from a node (host network) leaves through output, which Palisade does not filter.
 */
export function connectionVerdict(
  tables: ReadonlyMap<string, NftTable>,
  src: Endpoint,
  dst: Endpoint,
  protocol: Protocol | 'ICMP',
  port: number,
  icmp?: { readonly type: number; readonly code: number },
): ConnectionResult {
  if (src === dst) return { verdict: 'accept', logs: [], steered: 0 };
  const p: Packet = {
    src: src.ips[0] ?? '',
    dst: dst.ips[0] ?? '',
    protocol,
    port,
    ...(icmp ? { icmpType: icmp.type, icmpCode: icmp.code } : {}),
  };
  const hops: [string | undefined, string][] = [];
  if (!src.hostNetwork) hops.push([src.node, dst.hostNetwork && dst.node === src.node ? 'input' : 'forward']);
  if (dst.node !== src.node) hops.push([dst.node, dst.hostNetwork ? 'input' : 'forward']);
  const logs: NftLog[] = [];
  let steered = 0;
  for (const [node, hook] of hops) {
    const t = node === undefined ? undefined : tables.get(node);
    if (t === undefined) continue;
    const r = nodeHop(t, hook, p);
    logs.push(...r.logs);
    if (r.tproxyPort !== undefined) steered += 1;
    if (r.verdict !== 'accept')
      return {
        ...(r.rejectWith === undefined ? {} : { rejectWith: r.rejectWith }),
        verdict: r.verdict,
        logs,
      };
  }
  return { verdict: 'accept', logs, steered };
}

/**
 * One node's verdict on a packet arriving from a pod: prerouting first (L7 steering); a packet tproxy
 * took is routed locally by its mark (l7-steering.ts) and so meets `input` with the mark, not `hook`. The
 * proxy's connection upstream leaves through `output`, which Palisade does not filter, so this node has
 * no more to say; the next node sees the upstream connection as it would have seen the client's.
 */
function nodeHop(t: NftTable, hook: string, p: Packet): HookResult {
  const pre = runHook(t, 'prerouting', p);
  if (pre.verdict !== 'accept') return pre;
  if (pre.tproxyPort === undefined) return runHook(t, hook, p);
  const r = runHook(t, 'input', { ...p, mark: (p.mark ?? 0) | L7_MARK });
  return { ...r, logs: [...pre.logs, ...r.logs], tproxyPort: pre.tproxyPort };
}

export function connectionAllowed(
  tables: ReadonlyMap<string, NftTable>,
  src: Endpoint,
  dst: Endpoint,
  protocol: Protocol,
  port: number,
): boolean {
  return connectionVerdict(tables, src, dst, protocol, port).verdict === 'accept';
}
