/**
 * A small interpreter of the compiler's own NftTable: which verdict the kernel would give a new
 * connection. It lets unit tests (no root) check compiled tables against the semantic case table, the
 * second route to the same answer besides the engine.
 */
import type { Family } from '../../../src/ir/index.js';
import type { Endpoint, Protocol } from '../../../src/ir/index.js';
import type { NftAction, NftChain, NftTable } from '../../../src/datapath/index.js';
import { cidrRange, formatRange, ipRange } from '../../../src/datapath/compile/ranges.js';
import type { AddrRange } from '../../../src/datapath/compile/ranges.js';

export interface Packet {
  readonly src: string;
  readonly dst: string;
  readonly protocol: Protocol;
  readonly port: number;
}

type Outcome = 'accept' | 'drop' | 'reject' | 'continue';

const PROTO = { TCP: 6n, UDP: 17n, SCTP: 132n } as const;

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

export function elementMatches(element: string, ip: AddrRange, protocol: Protocol, port: number): boolean {
  const [a, p, d] = element.split(' . ');
  const range = addr(a ?? '');
  const [plo, phi] = part(p ?? '');
  const [dlo, dhi] = part(d ?? '');
  const proto = PROTO[protocol];
  const dport = BigInt(port);
  return (
    range.family === ip.family &&
    range.lo <= ip.lo &&
    ip.lo <= range.hi &&
    plo <= proto &&
    proto <= phi &&
    dlo <= dport &&
    dport <= dhi
  );
}

export function hookVerdict(t: NftTable, hook: string, p: Packet): 'accept' | 'drop' | 'reject' {
  const chains = new Map(t.chains.map((c) => [c.name, c]));
  const sets = new Map(t.sets.map((s) => [s.name, s]));
  const maps = new Map(t.maps.map((m) => [m.name, m]));
  const src = ipRange(p.src);
  const dst = ipRange(p.dst);
  if (!src || !dst) throw new Error('bad packet');
  const family: Family = src.family;

  const act = (a: NftAction): Outcome | undefined => {
    switch (a.kind) {
      case 'accept':
      case 'drop':
      case 'reject':
        return a.kind;
      case 'return':
        return 'continue';
      case 'goto':
        return exec(a.chain);
      case 'log':
        return undefined;
    }
  };
  const exec = (name: string): Outcome => {
    const chain: NftChain | undefined = chains.get(name);
    if (!chain) throw new Error(`no chain ${name}`);
    for (const r of chain.rules) {
      let out: Outcome | undefined;
      switch (r.kind) {
        case 'ct':
          continue; // every interpreted packet opens a new connection
        case 'always':
          out = act(r.action);
          break;
        case 'lookup': {
          if (r.family !== family) continue;
          const ip = r.field === 'saddr' ? src : dst;
          const set = sets.get(r.set);
          if (!set) throw new Error(`no set ${r.set}`);
          if (set.elements.some((e) => elementMatches(e, ip, p.protocol, p.port))) out = act(r.action);
          break;
        }
        case 'dispatch': {
          if (r.family !== family) continue;
          const key = formatRange(r.field === 'saddr' ? src : dst);
          const verdict = maps.get(r.map)?.elements.find(([k]) => k === key)?.[1];
          if (verdict === undefined) continue;
          const [kind, target] = verdict.split(' ');
          if (kind !== 'jump' || target === undefined) throw new Error(`unexpected verdict ${verdict}`);
          const o = exec(target);
          if (o !== 'continue') out = o;
          break;
        }
      }
      if (out !== undefined && out !== 'continue') return out;
      if (out === 'continue' && r.kind !== 'dispatch') return 'continue';
    }
    return 'continue';
  };
  const base = t.chains.find((c) => c.hook?.hook === hook);
  if (!base) return 'accept';
  const o = exec(base.name);
  return o === 'continue' ? (base.hook?.policy ?? 'accept') : o;
}

/**
 * Whether a new connection src → dst passes every hook it crosses, given each node's table: the
 * source's node (forward, or input when the destination is that node itself) and the destination's node
 * (forward for a pod, input for the node). Traffic from a node (host network) leaves through output,
 * which Palisade does not filter.
 */
export function connectionAllowed(
  tables: ReadonlyMap<string, NftTable>,
  src: Endpoint,
  dst: Endpoint,
  protocol: Protocol,
  port: number,
): boolean {
  if (src === dst) return true;
  const p: Packet = { src: src.ips[0] ?? '', dst: dst.ips[0] ?? '', protocol, port };
  const hops: [string | undefined, string][] = [];
  if (!src.hostNetwork) hops.push([src.node, dst.hostNetwork && dst.node === src.node ? 'input' : 'forward']);
  if (dst.node !== src.node) hops.push([dst.node, dst.hostNetwork ? 'input' : 'forward']);
  return hops.every(([node, hook]) => {
    const t = node === undefined ? undefined : tables.get(node);
    return t === undefined || hookVerdict(t, hook, p) === 'accept';
  });
}
