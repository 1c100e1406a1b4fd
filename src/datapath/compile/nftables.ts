/**
 * Resolved endpoint rules → the desired nftables table (ARCHITECTURE.md "Datapath: nftables first"). Pure.
 *
 * Layout of `table inet palisade`:
 * - base chains `forward` and `input`: established/related accept, invalid drop, then dispatch by source
 *   IP to the egress chain of a local pod and (forward) by destination IP to the ingress chain of one;
 * - one chain per endpoint, direction and tier (`ing_<id>_<tier>`, `egr_<id>_<tier>`); the dispatch map
 *   jumps into the first, and each tier chain `goto`s the next, so a `return` anywhere goes straight back
 *   to the base chain. An egress allow is `return` (the ingress dispatch must still run), an ingress
 *   allow is `accept`; Deny drops, Reject rejects, Pass moves to the next tier, Log logs and goes on;
 * - consecutive rules with the same action are one concatenated interval set
 *   (`ip saddr . meta l4proto . th dport @allow_<hash>`), one lookup per action change;
 * - a set is named by the hash of its definition (the rules it merges and any subject-dependent port
 *   resolution), so endpoints selected by the same policies share one set, and pods coming and going
 *   change elements rather than names.
 * No output hook: traffic from the node itself is never filtered, which is what "ingress from the pod's
 * own node is always allowed" requires (see `baseChains`).
 */
import type { Family } from '../../ir/cidr.js';
import type { Direction } from '../../ir/policy.js';
import type { Action } from '../../ir/policy.js';
import type { Box, Interval } from './boxes.js';
import { disjointUnion } from './boxes.js';
import type { DirectionRules, EndpointRules, MatchTerm, NodeRules, ResolvedRule } from './endpoint-rules.js';
import type { NftAction, NftChain, NftHook, NftMap, NftRule, NftSet, NftTable } from './nft-state.js';
import { DISPATCH_TYPE, SET_TYPE, shortHash } from './nft-state.js';
import type { AddrRange } from './ranges.js';
import { formatRange, fullRange } from './ranges.js';

export const TABLE_NAME = 'palisade';
export const BASE_CHAIN = 'forward';
export const INPUT_CHAIN = 'input';
export const NFLOG_GROUP = 100;

export interface NftCompileOptions {
  readonly table?: string;
  readonly logGroup?: number;
}

const FAMILIES: readonly Family[] = [4, 6];
const PROTO_NUMBER = { TCP: 6, UDP: 17, SCTP: 132 } as const;
const ANY_PROTO: Interval = [0n, 255n];
const ANY_PORT: Interval = [0n, 65535n];

const DISPATCH = {
  Ingress: { map: 'ingress_dispatch', field: 'daddr', peerField: 'saddr', prefix: 'ing' },
  Egress: { map: 'egress_dispatch', field: 'saddr', peerField: 'daddr', prefix: 'egr' },
} as const;

export function dispatchMapName(direction: Direction, family: Family): string {
  return DISPATCH[direction].map + (family === 6 ? '6' : '');
}

/** A short id that stays the same as long as the endpoint's name does. */
export function endpointId(key: string): string {
  return shortHash(key, 8);
}

function chainName(direction: Direction, epId: string, tier: string): string {
  return `${DISPATCH[direction].prefix}_${epId}_${tier.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/** Boxes (address, protocol, port) of one term in one family. */
function termBoxes(term: MatchTerm, family: Family): Box[] {
  const peers: readonly AddrRange[] =
    term.peers === 'any' ? [fullRange(family)] : term.peers.filter((r) => r.family === family);
  const ports: readonly (readonly [Interval, Interval])[] =
    term.ports === 'any'
      ? [[ANY_PROTO, ANY_PORT]]
      : term.ports.map((p) => {
          const n = BigInt(PROTO_NUMBER[p.protocol]);
          return [
            [n, n],
            [BigInt(p.from), BigInt(p.to)],
          ];
        });
  return peers.flatMap((a) => ports.map(([proto, port]): Box => [[a.lo, a.hi], proto, port]));
}

function interval([lo, hi]: Interval): string {
  return lo === hi ? `${lo}` : `${lo}-${hi}`;
}

function elementText(family: Family, box: Box): string {
  const [addr, proto, port] = box as [Interval, Interval, Interval];
  return `${formatRange({ family, lo: addr[0], hi: addr[1] })} . ${interval(proto)} . ${interval(port)}`;
}

/** Runs of consecutive rules with the same action. */
function runs(rules: readonly ResolvedRule[]): ResolvedRule[][] {
  const out: ResolvedRule[][] = [];
  for (const r of rules) {
    const last = out[out.length - 1];
    if (last && last[0]?.action === r.action) last.push(r);
    else out.push([r]);
  }
  return out;
}

interface Builder {
  readonly sets: Map<string, NftSet>;
  readonly chains: NftChain[];
  readonly dispatch: Map<string, [string, string][]>;
  readonly logGroup: number;
}

/** The set of a run in one family, registered in the builder; undefined when it would be empty. */
function runSet(
  b: Builder,
  run: readonly ResolvedRule[],
  action: Action,
  family: Family,
): string | undefined {
  const boxes = run.flatMap((r) => r.terms.flatMap((t) => termBoxes(t, family)));
  const elements = disjointUnion(boxes).map((box) => elementText(family, box));
  if (elements.length === 0) return undefined;
  const definition = [action, family, ...run.map((r) => r.definition)].join('\n');
  const name = `${action.toLowerCase()}${family === 6 ? '6' : ''}_${shortHash(definition)}`;
  const existing = b.sets.get(name);
  if (existing) {
    // Same definition must mean same elements; anything else is a bug in how definitions are built.
    if (existing.elements.join('\n') !== elements.join('\n')) {
      throw new Error(`internal: set ${name} resolved to different elements for two endpoints`);
    }
    return name;
  }
  b.sets.set(name, { name, type: SET_TYPE[family], flags: ['interval'], elements });
  return name;
}

function allowAction(direction: Direction): NftAction {
  return { kind: direction === 'Ingress' ? 'accept' : 'return' };
}

function ruleAction(
  b: Builder,
  run: readonly ResolvedRule[],
  direction: Direction,
  next: string | undefined,
): NftAction {
  const first = run[0] as ResolvedRule;
  switch (first.action) {
    case 'Allow':
      return allowAction(direction);
    case 'Deny':
      return { kind: 'drop' };
    case 'Reject':
      return { kind: 'reject' };
    case 'Pass':
      return next === undefined ? allowAction(direction) : { kind: 'goto', chain: next };
    case 'Log':
      return { kind: 'log', group: b.logGroup, prefix: `${first.source.tier}:${direction[0]}:` };
  }
}

function directionChains(b: Builder, ep: EndpointRules, epId: string, d: DirectionRules): string {
  const names = d.tiers.map((t) => chainName(d.direction, epId, t.tier.name));
  const peerField = DISPATCH[d.direction].peerField;
  d.tiers.forEach((t, i) => {
    const next = names[i + 1];
    const rules: NftRule[] = [];
    for (const run of runs(t.rules)) {
      const action = (run[0] as ResolvedRule).action;
      for (const family of FAMILIES) {
        const set = runSet(b, run, action, family);
        if (set === undefined) continue;
        rules.push({
          kind: 'lookup',
          family,
          field: peerField,
          set,
          action: ruleAction(b, run, d.direction, next),
        });
      }
    }
    if (t.isolated) rules.push({ kind: 'always', action: { kind: 'drop' } });
    else if (next !== undefined) rules.push({ kind: 'always', action: { kind: 'goto', chain: next } });
    b.chains.push({ name: names[i] as string, rules });
  });
  const entry = names[0] as string;
  for (const ip of ep.ips) {
    const map = dispatchMapName(d.direction, ip.family);
    b.dispatch.get(map)?.push([formatRange(ip), `jump ${entry}`]);
  }
  return entry;
}

function hooked(name: string, hook: NftHook['hook'], directions: readonly Direction[]): NftChain {
  const rules: NftRule[] = [
    { kind: 'ct', states: ['established', 'related'], action: { kind: 'accept' } },
    { kind: 'ct', states: ['invalid'], action: { kind: 'drop' } },
  ];
  for (const direction of directions) {
    for (const family of FAMILIES) {
      rules.push({
        kind: 'dispatch',
        family,
        field: DISPATCH[direction].field,
        map: dispatchMapName(direction, family),
      });
    }
  }
  return { name, hook: { type: 'filter', hook, priority: 0, policy: 'accept' }, rules };
}

/**
 * `forward` sees pod-to-pod and pod-to-remote traffic; egress dispatch comes first because its allow
 * returns here so that the destination's ingress chain still runs. `input` sees a pod talking to its own
 * node's addresses (a host-network pod there), which egress policy governs as well; ingress never runs
 * there, the destination being the node. No `output` chain: traffic from the node is always allowed.
 */
function baseChains(): NftChain[] {
  return [hooked(BASE_CHAIN, 'forward', ['Egress', 'Ingress']), hooked(INPUT_CHAIN, 'input', ['Egress'])];
}

const byName = <T extends { readonly name: string }>(a: T, b: T): number =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

export function compileNftables(rules: NodeRules, options: NftCompileOptions = {}): NftTable {
  const dispatchNames = (['Ingress', 'Egress'] as const).flatMap((d) =>
    FAMILIES.map((f) => dispatchMapName(d, f)),
  );
  const b: Builder = {
    sets: new Map(),
    chains: [],
    dispatch: new Map(dispatchNames.map((n) => [n, []])),
    logGroup: options.logGroup ?? NFLOG_GROUP,
  };
  for (const ep of rules.endpoints) {
    const id = endpointId(ep.key);
    if (ep.ingress) directionChains(b, ep, id, ep.ingress);
    if (ep.egress) directionChains(b, ep, id, ep.egress);
  }
  const maps: NftMap[] = dispatchNames.map((name) => ({
    name,
    type: DISPATCH_TYPE[name.endsWith('6') ? 6 : 4],
    elements: [...(b.dispatch.get(name) ?? [])].sort(([a], [c]) => (a < c ? -1 : a > c ? 1 : 0)),
  }));
  return {
    family: 'inet',
    name: options.table ?? TABLE_NAME,
    sets: [...b.sets.values()].sort(byName),
    maps: maps.sort(byName),
    chains: [...baseChains(), ...b.chains.sort(byName)],
  };
}
