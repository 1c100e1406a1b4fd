/**
 * Address intervals: what a resolved peer is. CIDRs with `except` holes, pod IPs and "everything but the
 * cluster" all reduce to sorted, disjoint [lo, hi] intervals per family, which nftables interval sets and
 * iptables CIDR lists can both express. Pure.
 */
import type { Family } from '../../ir/cidr.js';
import { cidrLast, formatIp, parseCidr, parseIp } from '../../ir/cidr.js';

export interface AddrRange {
  readonly family: Family;
  readonly lo: bigint;
  readonly hi: bigint;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

export function fullRange(family: Family): AddrRange {
  return { family, lo: 0n, hi: (1n << BigInt(BITS[family])) - 1n };
}

/** The single-address range of an IP text; undefined when it does not parse. */
export function ipRange(text: string): AddrRange | undefined {
  const ip = parseIp(text);
  return ip && { family: ip.family, lo: ip.value, hi: ip.value };
}

export function cidrRange(text: string): AddrRange | undefined {
  const c = parseCidr(text);
  return c && { family: c.family, lo: c.base, hi: cidrLast(c) };
}

function compare(a: AddrRange, b: AddrRange): number {
  return a.family - b.family || (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0);
}

/** Sorted, disjoint, with touching intervals joined: the canonical form every other function returns. */
export function normalizeRanges(ranges: readonly AddrRange[]): AddrRange[] {
  const sorted = [...ranges].sort(compare);
  const out: AddrRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && last.family === r.family && r.lo <= last.hi + 1n) {
      if (r.hi > last.hi) out[out.length - 1] = { ...last, hi: r.hi };
    } else {
      out.push(r);
    }
  }
  return out;
}

/** `from` minus every address of `holes`. */
export function subtractRanges(from: readonly AddrRange[], holes: readonly AddrRange[]): AddrRange[] {
  let current = normalizeRanges(from);
  for (const h of normalizeRanges(holes)) {
    const next: AddrRange[] = [];
    for (const r of current) {
      if (r.family !== h.family || h.hi < r.lo || h.lo > r.hi) {
        next.push(r);
        continue;
      }
      if (h.lo > r.lo) next.push({ ...r, hi: h.lo - 1n });
      if (h.hi < r.hi) next.push({ ...r, lo: h.hi + 1n });
    }
    current = next;
  }
  return current;
}

export function rangeContains(ranges: readonly AddrRange[], family: Family, value: bigint): boolean {
  return ranges.some((r) => r.family === family && r.lo <= value && value <= r.hi);
}

/** The prefix length when [lo, hi] is exactly one CIDR block, else undefined. */
export function prefixOf(r: AddrRange): number | undefined {
  const size = r.hi - r.lo + 1n;
  if ((size & (size - 1n)) !== 0n || r.lo % size !== 0n) return undefined;
  return BITS[r.family] - (size.toString(2).length - 1);
}

/** Minimal list of CIDR blocks covering exactly the range (iptables has no generic ranges without iprange). */
export function rangeToCidrs(r: AddrRange): string[] {
  const out: string[] = [];
  let lo = r.lo;
  const bits = BITS[r.family];
  while (lo <= r.hi) {
    // Largest aligned block starting at lo that does not run past hi.
    let size = lo === 0n ? 1n << BigInt(bits) : lo & -lo;
    while (lo + size - 1n > r.hi) size >>= 1n;
    const prefix = bits - (size.toString(2).length - 1);
    out.push(`${formatIp({ family: r.family, value: lo })}/${prefix}`);
    lo += size;
  }
  return out;
}

/** nft text of a range: `a.b.c.d`, `a.b.c.d/n` or `a-b`. */
export function formatRange(r: AddrRange): string {
  const lo = formatIp({ family: r.family, value: r.lo });
  if (r.lo === r.hi) return lo;
  const prefix = prefixOf(r);
  if (prefix !== undefined) return `${lo}/${prefix}`;
  return `${lo}-${formatIp({ family: r.family, value: r.hi })}`;
}
