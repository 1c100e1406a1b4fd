/**
 * Resolved rules → the boxes their nft sets hold. Two set shapes per family, because ICMP has no ports:
 * `l4` keys are address . L4 protocol . destination port, `icmp` keys are address . ICMP type . ICMP code.
 * A rule's "every port" covers every protocol: in `l4` boxes all protocols but the family's ICMP, whose
 * packets `icmp` boxes answer for (where type and code can be excluded exactly); `stepBoxes` folds what
 * needs no ICMP detail back into the `l4` set. Pure.
 */
import type { Family } from '../../ir/cidr.js';
import type { Box, Interval } from './boxes.js';
import { difference, disjointUnion } from './boxes.js';
import type { MatchTerm, ResolvedRule } from './endpoint-rules.js';
import type { PlanEntry } from './tier-plan.js';
import type { AddrRange } from './ranges.js';
import { fullRange } from './ranges.js';

export type KeyKind = 'l4' | 'icmp';

export const PROTO_NUMBER = { TCP: 6, UDP: 17, SCTP: 132 } as const;
/** The ICMP protocol of each family: `icmp` sets answer for it, `l4` sets leave it out. */
export const ICMP_PROTO: Record<Family, number> = { 4: 1, 6: 58 };

const ANY_PORT: Interval = [0n, 65535n];
const ANY_BYTE: Interval = [0n, 255n];

function anyProtoBut(p: number): Interval[] {
  const n = BigInt(p);
  return [
    [0n, n - 1n],
    [n + 1n, 255n],
  ];
}

/** The (protocol, port) or (type, code) pairs of one term in one family and key kind. */
function services(term: MatchTerm, family: Family, kind: KeyKind): (readonly [Interval, Interval])[] {
  if (term.ports === 'any') {
    return kind === 'l4'
      ? anyProtoBut(ICMP_PROTO[family]).map((proto) => [proto, ANY_PORT] as const)
      : [[ANY_BYTE, ANY_BYTE]];
  }
  const out: (readonly [Interval, Interval])[] = [];
  for (const p of term.ports) {
    if (p.protocol === 'ICMP') {
      if (kind !== 'icmp' || p.family !== family) continue;
      const t = p.type === undefined ? ANY_BYTE : ([BigInt(p.type), BigInt(p.type)] as const);
      const c = p.code === undefined ? ANY_BYTE : ([BigInt(p.code), BigInt(p.code)] as const);
      out.push([t, c]);
    } else if (kind === 'l4') {
      const n = BigInt(PROTO_NUMBER[p.protocol]);
      out.push([
        [n, n],
        [BigInt(p.from), BigInt(p.to)],
      ]);
    }
  }
  return out;
}

export function termBoxes(term: MatchTerm, family: Family, kind: KeyKind): Box[] {
  const svc = services(term, family, kind);
  if (svc.length === 0) return [];
  const peers: readonly AddrRange[] =
    term.peers === 'any' ? [fullRange(family)] : term.peers.filter((r) => r.family === family);
  return peers.flatMap((a) => svc.map(([x, y]): Box => [[a.lo, a.hi], x, y]));
}

/** Boxes per rule, family and kind, computed once per rule definition. */
export class BoxCache {
  private readonly memo = new Map<string, Box[]>();

  /** The flows the rule matches (terms minus its negations); may overlap each other. */
  rule(rule: ResolvedRule, family: Family, kind: KeyKind): Box[] {
    const key = `${family}|${kind}|${rule.definition}`;
    let boxes = this.memo.get(key);
    if (boxes === undefined) {
      const pos = rule.terms.flatMap((t) => termBoxes(t, family, kind));
      boxes =
        rule.exclude.length === 0 || pos.length === 0
          ? pos
          : difference(
              pos,
              rule.exclude.flatMap((t) => termBoxes(t, family, kind)),
            );
      this.memo.set(key, boxes);
    }
    return boxes;
  }

  /** The flows an entry holds: its rule minus every rule of `unless`. */
  entry(e: PlanEntry, family: Family, kind: KeyKind): Box[] {
    const pos = this.rule(e.rule, family, kind);
    if (e.unless.length === 0 || pos.length === 0) return pos;
    return difference(
      pos,
      e.unless.flatMap((u) => this.rule(u, family, kind)),
    );
  }
}

const isAnyByte = ([lo, hi]: Interval): boolean => lo === 0n && hi === 255n;

/**
 * The canonical boxes of a step's `l4` and `icmp` sets in one family. ICMP boxes that cover every type and
 * code say nothing about ICMP beyond the protocol, so they move into the `l4` set as "this address, the
 * ICMP protocol, every port" (which holds whatever checksum `th dport` reads): a step without ICMP detail
 * then costs one lookup, and the `icmp` set only exists where types or codes are told apart.
 */
export function stepBoxes(
  cache: BoxCache,
  entries: readonly PlanEntry[],
  family: Family,
): Record<KeyKind, Box[]> {
  const icmp = disjointUnion(entries.flatMap((e) => cache.entry(e, family, 'icmp')));
  const p = BigInt(ICMP_PROTO[family]);
  const folded: Box[] = [];
  const partial: Box[] = [];
  for (const box of icmp) {
    const [addr, type, code] = box as [Interval, Interval, Interval];
    if (isAnyByte(type) && isAnyByte(code)) folded.push([addr, [p, p], ANY_PORT]);
    else partial.push(box);
  }
  const l4 = disjointUnion([...entries.flatMap((e) => cache.entry(e, family, 'l4')), ...folded]);
  return { l4, icmp: partial };
}
