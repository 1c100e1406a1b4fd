/**
 * Resolved endpoint rules → the desired nftables table (ARCHITECTURE.md "Datapath: nftables first"). Pure.
 *
 * Layout of `table inet palisade`:
 * - base chains `forward` and `input`: established/related accept, invalid drop, then dispatch by source
 *   IP to the egress chain of a local pod and (forward) by destination IP to the ingress chain of one;
 * - one chain per endpoint, direction and tier (`ing_<id>_<tier>`, `egr_<id>_<tier>`), in pipeline order.
 *   The dispatch map jumps into the first; every other move is a `goto`, so a `return` anywhere goes
 *   straight back to the base chain. Each chain is the tier's plan (tier-plan.ts): one lookup per step,
 *   then the end of the tier (isolation drop, or goto the next tier's chain);
 * - verdicts: an egress allow is `return` (the ingress dispatch must still run), an ingress allow
 *   `accept`; Pass is `goto` the chain of the tier the walk continues at (past the last: allow); Log is an
 *   nflog copy to `logGroup` and goes on; Deny drops and Reject goes to `pal_reject` (TCP reset, else
 *   ICMP admin-prohibited), both with an nflog copy to `denyGroup` so the agent sees every denial;
 * - a step's flows are one concatenated interval set per family (`ip saddr . meta l4proto . th dport`,
 *   and `ip saddr . icmp type . icmp code` when ICMP is involved): negations and the shadowing inside a
 *   policy are subtracted at compile time (boxes.ts `difference`), so the kernel needs no negation;
 * - a set is named by the hash of its definition (the rules it merges and subtracts, and any
 *   subject-dependent port resolution), so endpoints selected by the same policies share one set, and
 *   pods coming and going change elements rather than names.
 * No output hook: traffic from the node itself is never filtered, which is what "ingress from the pod's
 * own node is always allowed" requires (see `baseChains`).
 */
import type { Family } from '../../ir/cidr.js';
import type { Direction, PolicyRef } from '../../ir/policy.js';
import { policyId } from '../../ir/policy.js';
import type { Box, Interval } from './boxes.js';
import type { DirectionRules, EndpointRules, NodeRules, TierRules } from './endpoint-rules.js';
import type { KeyKind } from './match-boxes.js';
import { BoxCache, stepBoxes } from './match-boxes.js';
import type {
  NftAction,
  NftChain,
  NftHook,
  NftMap,
  NftRule,
  NftSet,
  NftTable,
  NftVerdict,
} from './nft-state.js';
import { DISPATCH_TYPE, ICMP_SET_TYPE, SET_TYPE, shortHash } from './nft-state.js';
import { formatRange } from './ranges.js';
import type { PlanStep } from './tier-plan.js';
import { tierPlan } from './tier-plan.js';

export const TABLE_NAME = 'palisade';
export const BASE_CHAIN = 'forward';
export const INPUT_CHAIN = 'input';
/** Where the agent reads matched Log rules. */
export const NFLOG_GROUP = 100;
/** Where the agent reads denials (Deny, Reject, end-of-tier isolation). */
export const DENY_NFLOG_GROUP = 101;
/** The shared chain a Reject goes to: TCP reset for TCP, ICMP admin-prohibited for the rest. */
export const REJECT_CHAIN = 'pal_reject';

export interface NftCompileOptions {
  readonly table?: string;
  readonly logGroup?: number;
  readonly denyGroup?: number;
}

const FAMILIES: readonly Family[] = [4, 6];
const KEYS: readonly KeyKind[] = ['l4', 'icmp'];
/** nflog prefixes are at most 127 bytes in the kernel. */
const PREFIX_MAX = 127;

const DISPATCH = {
  Ingress: { map: 'ingress_dispatch', field: 'daddr', peerField: 'saddr', prefix: 'ing', letter: 'I' },
  Egress: { map: 'egress_dispatch', field: 'saddr', peerField: 'daddr', prefix: 'egr', letter: 'E' },
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

function interval([lo, hi]: Interval): string {
  return lo === hi ? `${lo}` : `${lo}-${hi}`;
}

function elementText(family: Family, box: Box): string {
  const [addr, a, b] = box as [Interval, Interval, Interval];
  return `${formatRange({ family, lo: addr[0], hi: addr[1] })} . ${interval(a)} . ${interval(b)}`;
}

interface Builder {
  readonly sets: Map<string, NftSet>;
  readonly chains: NftChain[];
  readonly dispatch: Map<string, [string, string][]>;
  readonly boxes: BoxCache;
  readonly logGroup: number;
  readonly denyGroup: number;
  rejectUsed: boolean;
}

/** The sets of a step in one family, registered in the builder; empty sets are left out. */
function stepSets(b: Builder, step: PlanStep, family: Family): { key: KeyKind; set: string }[] {
  const boxes = stepBoxes(b.boxes, step.entries, family);
  const out: { key: KeyKind; set: string }[] = [];
  for (const key of KEYS) {
    if (boxes[key].length === 0) continue;
    const elements = boxes[key].map((box) => elementText(family, box));
    const definition = [
      step.verdict,
      family,
      key,
      ...step.entries.map((e) => [e.rule.definition, ...e.unless.map((u) => u.definition)].join(' - ')),
    ].join('\n');
    const name = `${step.verdict}${family === 6 ? '6' : ''}${key === 'icmp' ? '_icmp' : ''}_${shortHash(definition)}`;
    const existing = b.sets.get(name);
    if (existing) {
      // Same definition must mean same elements; anything else is a bug in how definitions are built.
      if (existing.elements.join('\n') !== elements.join('\n'))
        throw new Error(`internal: set ${name} resolved to different elements for two endpoints`);
    } else {
      const type = key === 'l4' ? SET_TYPE[family] : ICMP_SET_TYPE[family];
      b.sets.set(name, { name, type, flags: ['interval'], elements });
    }
    out.push({ key, set: name });
  }
  return out;
}

/** nflog prefix: verdict, direction, tier and the policy (or how many) — printable, bounded. */
function logPrefix(tag: string, direction: Direction, tier: string, policies: readonly PolicyRef[]): string {
  const who =
    policies.length === 0
      ? ''
      : policies.length === 1
        ? policyId(policies[0] as PolicyRef)
        : `${policyId(policies[0] as PolicyRef)}+${policies.length - 1}`;
  const text = `pal ${tag} ${DISPATCH[direction].letter} ${tier} ${who}`.trim();
  return text.replace(/[^A-Za-z0-9_./:+ -]/g, '_').slice(0, PREFIX_MAX);
}

interface ChainContext {
  readonly direction: Direction;
  readonly tier: TierRules;
  /** Chain name of each tier the endpoint has, in order, with its model index. */
  readonly chains: readonly { readonly index: number; readonly name: string }[];
}

function allow(direction: Direction): NftVerdict {
  return { kind: direction === 'Ingress' ? 'accept' : 'return' };
}

/** Where a Pass (or the end of a non-isolating tier) continues: a later tier's chain, or the default allow. */
function continueVerdict(c: ChainContext, at: number): NftVerdict {
  const target = c.chains.find((ch) => ch.index >= at);
  return target ? { kind: 'goto', chain: target.name } : allow(c.direction);
}

function stepAction(b: Builder, c: ChainContext, step: PlanStep): NftAction {
  const prefix = (tag: string): string => logPrefix(tag, c.direction, c.tier.tier.name, step.policies);
  switch (step.verdict) {
    case 'allow':
      return { verdict: allow(c.direction) };
    case 'deny':
      return { log: { group: b.denyGroup, prefix: prefix('deny') }, verdict: { kind: 'drop' } };
    case 'reject':
      b.rejectUsed = true;
      return {
        log: { group: b.denyGroup, prefix: prefix('reject') },
        verdict: { kind: 'goto', chain: REJECT_CHAIN },
      };
    case 'log':
      return { log: { group: b.logGroup, prefix: prefix('log') } };
    case 'pass':
      return { verdict: continueVerdict(c, step.continueAt ?? c.tier.index + 1) };
  }
}

function tierChain(b: Builder, c: ChainContext): NftRule[] {
  const peerField = DISPATCH[c.direction].peerField;
  const rules: NftRule[] = [];
  for (const step of tierPlan(c.tier)) {
    const action = stepAction(b, c, step);
    for (const family of FAMILIES) {
      for (const { key, set } of stepSets(b, step, family))
        rules.push({ kind: 'lookup', family, field: peerField, key, set, action });
    }
  }
  if (c.tier.isolated) {
    const log = { group: b.denyGroup, prefix: logPrefix('isolated', c.direction, c.tier.tier.name, []) };
    rules.push({ kind: 'always', action: { log, verdict: { kind: 'drop' } } });
  } else {
    const next = continueVerdict(c, c.tier.index + 1);
    // Falling off the last chain returns to the base chain: the same as the default allow.
    if (next.kind === 'goto') rules.push({ kind: 'always', action: { verdict: next } });
  }
  return rules;
}

function directionChains(b: Builder, ep: EndpointRules, epId: string, d: DirectionRules): void {
  const chains = d.tiers.map((t) => ({ index: t.index, name: chainName(d.direction, epId, t.tier.name) }));
  d.tiers.forEach((tier, i) => {
    const rules = tierChain(b, { direction: d.direction, tier, chains });
    b.chains.push({ name: (chains[i] as { name: string }).name, rules });
  });
  const entry = (chains[0] as { name: string }).name;
  for (const ip of ep.ips) {
    const map = dispatchMapName(d.direction, ip.family);
    b.dispatch.get(map)?.push([formatRange(ip), `jump ${entry}`]);
  }
}

function hooked(name: string, hook: NftHook['hook'], directions: readonly Direction[]): NftChain {
  const rules: NftRule[] = [
    { kind: 'ct', states: ['established', 'related'], action: { verdict: { kind: 'accept' } } },
    { kind: 'ct', states: ['invalid'], action: { verdict: { kind: 'drop' } } },
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

/** TCP gets a reset (the client sees "connection refused" at once); everything else ICMP admin-prohibited. */
function rejectChain(): NftChain {
  return {
    name: REJECT_CHAIN,
    rules: [
      { kind: 'l4proto', proto: 'tcp', action: { verdict: { kind: 'reject', with: 'tcp reset' } } },
      { kind: 'always', action: { verdict: { kind: 'reject', with: 'icmpx admin-prohibited' } } },
    ],
  };
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
    boxes: new BoxCache(),
    logGroup: options.logGroup ?? NFLOG_GROUP,
    denyGroup: options.denyGroup ?? DENY_NFLOG_GROUP,
    rejectUsed: false,
  };
  for (const ep of rules.endpoints) {
    const id = endpointId(ep.key);
    if (ep.ingress) directionChains(b, ep, id, ep.ingress);
    if (ep.egress) directionChains(b, ep, id, ep.egress);
  }
  if (b.rejectUsed) b.chains.push(rejectChain());
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
