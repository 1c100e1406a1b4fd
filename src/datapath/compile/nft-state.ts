/**
 * The desired kernel state of the nftables datapath, as plain data: one table of sets, verdict maps and
 * chains. The compiler produces it, the diff compares it with what the kernel holds, and the renderer
 * turns either into `nft -f` text. Set elements and map keys are canonical nft text, so comparing two
 * states is comparing strings.
 */
import { createHash } from 'node:crypto';
import type { Family } from '../../ir/cidr.js';

/** Key type of the `l4` match sets: address . L4 protocol . destination port, all as intervals. */
export const SET_TYPE: Record<Family, readonly string[]> = {
  4: ['ipv4_addr', 'inet_proto', 'inet_service'],
  6: ['ipv6_addr', 'inet_proto', 'inet_service'],
};
/** Key type of the `icmp` match sets: address . ICMP type . ICMP code (ICMP has no ports). */
export const ICMP_SET_TYPE: Record<Family, readonly string[]> = {
  4: ['ipv4_addr', 'icmp_type', 'icmp_code'],
  6: ['ipv6_addr', 'icmpv6_type', 'icmpv6_code'],
};
/** Key type of the L7 steering sets: an endpoint's address . TCP port (src/datapath/l7-steering.ts). */
export const STEER_SET_TYPE: Record<Family, readonly string[]> = {
  4: ['ipv4_addr', 'inet_service'],
  6: ['ipv6_addr', 'inet_service'],
};
export const DISPATCH_TYPE: Record<Family, readonly string[]> = { 4: ['ipv4_addr'], 6: ['ipv6_addr'] };

export interface NftSet {
  readonly name: string;
  readonly type: readonly string[];
  readonly flags: readonly string[];
  /** Canonical element text, e.g. `10.0.0.0/8 . 6 . 80-81`; sorted, pairwise disjoint. */
  readonly elements: readonly string[];
}

/** A verdict map: canonical key text → verdict text (`jump ing_1a2b3c4d_kubernetes`). */
export interface NftMap {
  readonly name: string;
  readonly type: readonly string[];
  readonly elements: readonly (readonly [string, string])[];
}

export interface NftHook {
  readonly type: 'filter';
  readonly hook: 'prerouting' | 'forward' | 'input' | 'output';
  readonly priority: number;
  readonly policy: 'accept' | 'drop';
}

/** An nflog copy of the packet; the agent reads the group (ARCHITECTURE.md, flows). */
export interface NftLog {
  readonly group: number;
  readonly prefix: string;
}

export type NftVerdict =
  | { readonly kind: 'accept' | 'drop' | 'return' }
  | { readonly kind: 'goto' | 'jump'; readonly chain: string }
  | { readonly kind: 'reject'; readonly with: 'tcp reset' | 'icmpx admin-prohibited' };

/** What a matching rule does: an optional nflog copy, then an optional verdict (none: go on). */
export interface NftAction {
  readonly log?: NftLog;
  readonly verdict?: NftVerdict;
}

export type Field = 'saddr' | 'daddr';

/** Which concatenation a lookup builds its key from (see SET_TYPE and ICMP_SET_TYPE). */
export type LookupKey = 'l4' | 'icmp';

export type NftRule =
  | { readonly kind: 'ct'; readonly states: readonly string[]; readonly action: NftAction }
  /** `ct mark & <bit> == <bit> <action>`: connections whose conntrack mark has this one bit set. */
  | { readonly kind: 'ctmark'; readonly bit: number; readonly action: NftAction }
  /**
   * `ip daddr vmap @ingress_dispatch`: jump to the chain of the endpoint the packet enters or leaves; with
   * `mark`, `meta mark & <mark> == <mark> ip daddr vmap …`: only for packets whose meta mark has that bit.
   */
  | {
      readonly kind: 'dispatch';
      readonly family: Family;
      readonly field: Field;
      readonly map: string;
      readonly mark?: number;
    }
  /**
   * `meta l4proto tcp socket transparent 1 meta mark set meta mark | <mark> accept`: a packet of a
   * connection a transparent socket (the L7 proxy) already owns gets the mark that routes it locally.
   */
  | { readonly kind: 'transparentSocket'; readonly mark: number }
  /**
   * `meta l4proto tcp ip daddr . tcp dport @set meta mark set meta mark | <mark> tproxy ip to :<port>
   * accept`: hands the packet to the socket listening on `port` (unchanged, with the mark that routes it
   * locally). When no socket listens the tproxy statement ends the rule, marked but not accepted: the
   * next rule must decide (see `tcpLookup`).
   */
  | {
      readonly kind: 'tproxy';
      readonly family: Family;
      readonly field: Field;
      readonly set: string;
      readonly mark: number;
      readonly port: number;
    }
  /** `meta l4proto tcp ip daddr . tcp dport @set <action>`: a set of address . TCP port. */
  | {
      readonly kind: 'tcpLookup';
      readonly family: Family;
      readonly field: Field;
      readonly set: string;
      readonly action: NftAction;
    }
  /**
   * `ip saddr . meta l4proto . th dport @set <action>` (l4) or `ip saddr . icmp type . icmp code @set`
   * (icmp): one lookup for a whole step of same-verdict rules.
   */
  | {
      readonly kind: 'lookup';
      readonly family: Family;
      readonly field: Field;
      readonly key: LookupKey;
      readonly set: string;
      readonly action: NftAction;
    }
  /** `meta l4proto tcp <action>` (the reject chain answers TCP with a reset). */
  | { readonly kind: 'l4proto'; readonly proto: 'tcp'; readonly action: NftAction }
  | { readonly kind: 'always'; readonly action: NftAction };

export interface NftChain {
  readonly name: string;
  /** Base chains only. */
  readonly hook?: NftHook;
  readonly rules: readonly NftRule[];
}

export interface NftTable {
  readonly family: 'inet';
  readonly name: string;
  readonly sets: readonly NftSet[];
  readonly maps: readonly NftMap[];
  readonly chains: readonly NftChain[];
}

/**
 * What the diff compares for a chain: its hook and the ids of its rules. The kernel hands rules back as
 * expression trees; instead of parsing those, every rule carries its id (a hash of its text) as its
 * comment, and a chain whose id list differs is replaced whole.
 */
export interface ChainFingerprint {
  readonly name: string;
  readonly hook?: NftHook;
  readonly ruleIds: readonly string[];
}

export interface TableFingerprint {
  readonly sets: readonly NftSet[];
  readonly maps: readonly NftMap[];
  readonly chains: readonly ChainFingerprint[];
}

export function shortHash(text: string, length = 12): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

function verdictText(v: NftVerdict): string {
  switch (v.kind) {
    case 'goto':
    case 'jump':
      return `${v.kind} ${v.chain}`;
    case 'reject':
      return v.with === 'tcp reset' ? 'reject with tcp reset' : 'reject with icmpx type admin-prohibited';
    default:
      return v.kind;
  }
}

function actionText(a: NftAction): string {
  const parts: string[] = [];
  if (a.log) parts.push(`log prefix "${a.log.prefix}" group ${a.log.group}`);
  if (a.verdict) parts.push(verdictText(a.verdict));
  return parts.join(' ');
}

const IP: Record<Family, string> = { 4: 'ip', 6: 'ip6' };
const ICMP_KEY: Record<Family, string> = { 4: 'icmp type . icmp code', 6: 'icmpv6 type . icmpv6 code' };

const hex = (bit: number): string => `0x${bit.toString(16).padStart(8, '0')}`;
/** Sets the bit, keeping the others: other software keeps its own state in the other bits. */
const setMark = (bit: number): string => `meta mark set meta mark | ${hex(bit)}`;
const tcpKey = (family: Family, field: Field): string =>
  `meta l4proto tcp ${IP[family]} ${field} . tcp dport`;

/** The rule's text without its id comment. */
export function ruleBody(r: NftRule): string {
  switch (r.kind) {
    case 'ct':
      return `ct state ${r.states.join(',')} ${actionText(r.action)}`;
    case 'ctmark': {
      const bit = hex(r.bit);
      return `ct mark & ${bit} == ${bit} ${actionText(r.action)}`;
    }
    case 'dispatch': {
      const dispatch = `${IP[r.family]} ${r.field} vmap @${r.map}`;
      return r.mark === undefined ? dispatch : `meta mark & ${hex(r.mark)} == ${hex(r.mark)} ${dispatch}`;
    }
    case 'transparentSocket':
      return `meta l4proto tcp socket transparent 1 ${setMark(r.mark)} accept`;
    case 'tproxy':
      return `${tcpKey(r.family, r.field)} @${r.set} ${setMark(r.mark)} tproxy ${IP[r.family]} to :${r.port} accept`;
    case 'tcpLookup':
      return `${tcpKey(r.family, r.field)} @${r.set} ${actionText(r.action)}`;
    case 'lookup': {
      const rest = r.key === 'l4' ? 'meta l4proto . th dport' : ICMP_KEY[r.family];
      return `${IP[r.family]} ${r.field} . ${rest} @${r.set} ${actionText(r.action)}`;
    }
    case 'l4proto':
      return `meta l4proto ${r.proto} ${actionText(r.action)}`;
    case 'always':
      return actionText(r.action);
  }
}

export function ruleId(r: NftRule): string {
  return shortHash(ruleBody(r), 10);
}

/** The full rule text as `add rule` takes it. */
export function ruleText(r: NftRule): string {
  return `${ruleBody(r)} comment "${ruleId(r)}"`;
}

export function fingerprint(t: NftTable): TableFingerprint {
  return {
    sets: t.sets,
    maps: t.maps,
    chains: t.chains.map((c) => ({
      name: c.name,
      ...(c.hook ? { hook: c.hook } : {}),
      ruleIds: c.rules.map(ruleId),
    })),
  };
}
