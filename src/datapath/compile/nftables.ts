/**
 * Resolved endpoint rules → the desired nftables table (ARCHITECTURE.md "Datapath: nftables first"). Pure.
 *
 * Layout of `table inet palisade`:
 * - base chains `forward` and `input`: drop of connections strict mode cut (`STRICT_CUT_MARK`),
 *   established/related accept, invalid drop, then dispatch by source IP to the egress chain of a local
 *   pod and (forward) by destination IP to the ingress chain of one;
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
 * - with L7 steering (NodeRules.l7), sets `l7_ingress4/6` and `l7_egress4/6` of address . TCP port and a
 *   base chain `l7_prerouting` (priority mangle) that hands their packets to the node's L7 proxy with
 *   TPROXY, fails closed when no proxy listens, and marks them for the policy routing that delivers them
 *   locally; `input` then runs the destination's ingress dispatch for marked packets (l7-steering.ts);
 * - a set is named by the hash of its definition (the rules it merges and subtracts, and any
 *   subject-dependent port resolution), so endpoints selected by the same policies share one set, and
 *   pods coming and going change elements rather than names.
 * `createNftCompiler` keeps what it compiled last time, per endpoint (keyed by the EndpointRules object,
 * which createNodeResolver keeps for an unchanged endpoint, else by a fingerprint of its resolved rules)
 * and per set (keyed by the content of the rules it merges), so a change to one policy recompiles only the
 * endpoints whose rules changed; its output is exactly `compileNftables`'.
 * No output hook: traffic from the node itself is never filtered, which is what "ingress from the pod's
 * own node is always allowed" requires (see `baseChains`).
 */
import type { Family } from '../../ir/cidr.js';
import type { Direction, PolicyRef } from '../../ir/policy.js';
import { policyId } from '../../ir/policy.js';
import { L7_MARK, L7_PROXY_PORT } from '../l7-steering.js';
import type { Box, Interval } from './boxes.js';
import { disjointUnion } from './boxes.js';
import type {
  DirectionRules,
  EndpointRules,
  L7Steering,
  MatchTerm,
  NodeRules,
  ResolvedRule,
  SteerEntry,
  TierRules,
} from './endpoint-rules.js';
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
import { DISPATCH_TYPE, ICMP_SET_TYPE, SET_TYPE, STEER_SET_TYPE, shortHash } from './nft-state.js';
import { formatRange } from './ranges.js';
import { portsKey } from './resolve.js';
import type { PlanStep } from './tier-plan.js';
import { tierPlan } from './tier-plan.js';

export const TABLE_NAME = 'palisade';
export const BASE_CHAIN = 'forward';
export const INPUT_CHAIN = 'input';
/** Steers (endpoint, port) pairs that carry L7 rules to the node's L7 proxy (l7-steering.ts). */
export const L7_CHAIN = 'l7_prerouting';
/** Where the agent reads matched Log rules. */
export const NFLOG_GROUP = 100;
/** Where the agent reads denials (Deny, Reject, end-of-tier isolation). */
export const DENY_NFLOG_GROUP = 101;
/** The shared chain a Reject goes to: TCP reset for TCP, ICMP admin-prohibited for the rest. */
export const REJECT_CHAIN = 'pal_reject';
/**
 * The conntrack mark bit of a connection strict mode cut (src/agent/strict.ts): the base chains drop its
 * packets before `ct state established` would accept them. Cutting by mark rather than by deleting the
 * entry keeps the kernel from picking the stream up again mid-flow, with no sysctl to change. One bit,
 * tested and set under its own mask, because other software on the node keeps its own state in other
 * bits of the same 32-bit ct mark (kube-proxy, Calico, Cilium, service meshes restoring packet marks).
 */
export const STRICT_CUT_MARK = 0x00100000;

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

/** What compiling one endpoint produced: a pure function of its resolved rules and the options. */
interface EndpointOutput {
  readonly chains: readonly NftChain[];
  /** Every set its chains look up. */
  readonly sets: readonly NftSet[];
  /** Dispatch map name, key, verdict. */
  readonly dispatch: readonly (readonly [string, string, string])[];
  readonly rejectUsed: boolean;
}

/** Set elements by key kind, for one family and one list of entries. */
type StepElements = Readonly<Record<KeyKind, readonly string[]>>;

/** Shared by every endpoint compiled in one call. */
interface Builder {
  /** Sets built in this call, by name (endpoints selected by the same policies share them). */
  readonly sets: Map<string, NftSet>;
  readonly boxes: BoxCache;
  readonly logGroup: number;
  readonly denyGroup: number;
  /** Content hash of each resolved rule (the resolver shares rule objects between endpoints). */
  readonly ruleHashes: Map<ResolvedRule, string>;
  /** Step elements by family and entry contents: last call's, and this call's. */
  readonly previousElements: ReadonlyMap<string, StepElements>;
  readonly elements: Map<string, StepElements>;
}

/** What one endpoint's compile is building. */
interface EndpointBuild {
  readonly chains: NftChain[];
  readonly sets: Map<string, NftSet>;
  readonly dispatch: [string, string, string][];
  rejectUsed: boolean;
}

function rangesText(peers: MatchTerm['peers']): string {
  return peers === 'any'
    ? 'any'
    : peers.map((r) => `${r.family}:${r.lo.toString(16)}-${r.hi.toString(16)}`).join(',');
}

/** The addresses and ports a rule matches, as text: what its boxes, and so set elements, depend on. */
function ruleHash(b: Builder, rule: ResolvedRule): string {
  let h = b.ruleHashes.get(rule);
  if (h === undefined) {
    const term = (t: MatchTerm): string =>
      `${rangesText(t.peers)}|${t.ports === 'any' ? 'any' : portsKey(t.ports)}`;
    h = shortHash(`${rule.terms.map(term).join(';')}\n-${rule.exclude.map(term).join(';')}`, 32);
    b.ruleHashes.set(rule, h);
  }
  return h;
}

/** The elements of a step's sets in one family, reused from the last call when the contents are equal. */
function stepElements(b: Builder, step: PlanStep, family: Family): StepElements {
  const key = [
    family,
    ...step.entries.map((e) => [e.rule, ...e.unless].map((r) => ruleHash(b, r)).join('-')),
  ].join('|');
  let els = b.elements.get(key) ?? b.previousElements.get(key);
  if (els === undefined) {
    const boxes = stepBoxes(b.boxes, step.entries, family);
    els = {
      l4: boxes.l4.map((box) => elementText(family, box)),
      icmp: boxes.icmp.map((box) => elementText(family, box)),
    };
  }
  b.elements.set(key, els);
  return els;
}

/** The sets of a step in one family, registered in the builder; empty sets are left out. */
function stepSets(
  b: Builder,
  e: EndpointBuild,
  step: PlanStep,
  family: Family,
): { key: KeyKind; set: string }[] {
  const all = stepElements(b, step, family);
  const out: { key: KeyKind; set: string }[] = [];
  for (const key of KEYS) {
    const elements = all[key];
    if (elements.length === 0) continue;
    const definition = [
      step.verdict,
      family,
      key,
      ...step.entries.map((e) => [e.rule.definition, ...e.unless.map((u) => u.definition)].join(' - ')),
    ].join('\n');
    const name = `${step.verdict}${family === 6 ? '6' : ''}${key === 'icmp' ? '_icmp' : ''}_${shortHash(definition)}`;
    let set = b.sets.get(name);
    if (set) {
      // Same definition must mean same elements; anything else is a bug in how definitions are built.
      if (set.elements !== elements && set.elements.join('\n') !== elements.join('\n'))
        throw new Error(`internal: set ${name} resolved to different elements for two endpoints`);
    } else {
      const type = key === 'l4' ? SET_TYPE[family] : ICMP_SET_TYPE[family];
      set = { name, type, flags: ['interval'], elements };
      b.sets.set(name, set);
    }
    e.sets.set(name, set);
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

function stepAction(b: Builder, e: EndpointBuild, c: ChainContext, step: PlanStep): NftAction {
  const prefix = (tag: string): string => logPrefix(tag, c.direction, c.tier.tier.name, step.policies);
  switch (step.verdict) {
    case 'allow':
      return { verdict: allow(c.direction) };
    case 'deny':
      return { log: { group: b.denyGroup, prefix: prefix('deny') }, verdict: { kind: 'drop' } };
    case 'reject':
      e.rejectUsed = true;
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

function tierChain(b: Builder, e: EndpointBuild, c: ChainContext): NftRule[] {
  const peerField = DISPATCH[c.direction].peerField;
  const rules: NftRule[] = [];
  for (const step of tierPlan(c.tier)) {
    const action = stepAction(b, e, c, step);
    for (const family of FAMILIES) {
      for (const { key, set } of stepSets(b, e, step, family))
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

function directionChains(
  b: Builder,
  e: EndpointBuild,
  ep: EndpointRules,
  epId: string,
  d: DirectionRules,
): void {
  const chains = d.tiers.map((t) => ({ index: t.index, name: chainName(d.direction, epId, t.tier.name) }));
  d.tiers.forEach((tier, i) => {
    const rules = tierChain(b, e, { direction: d.direction, tier, chains });
    e.chains.push({ name: (chains[i] as { name: string }).name, rules });
  });
  const entry = (chains[0] as { name: string }).name;
  for (const ip of ep.ips)
    e.dispatch.push([dispatchMapName(d.direction, ip.family), formatRange(ip), `jump ${entry}`]);
}

function compileEndpoint(b: Builder, ep: EndpointRules): EndpointOutput {
  const e: EndpointBuild = { chains: [], sets: new Map(), dispatch: [], rejectUsed: false };
  const id = endpointId(ep.key);
  if (ep.ingress) directionChains(b, e, ep, id, ep.ingress);
  if (ep.egress) directionChains(b, e, ep, id, ep.egress);
  return { chains: e.chains, sets: [...e.sets.values()], dispatch: e.dispatch, rejectUsed: e.rejectUsed };
}

/**
 * Everything compileEndpoint reads of an endpoint: its key and addresses, and per direction the tiers
 * (whole), their placement and isolation, the policies' ids and priorities, and per rule its action,
 * continuation, definition (set names) and content (set elements).
 */
function endpointFingerprint(b: Builder, ep: EndpointRules): string {
  const parts: string[] = [ep.key, rangesText(ep.ips)];
  for (const d of [ep.ingress, ep.egress]) {
    parts.push(d === undefined ? '-' : d.direction);
    for (const t of d?.tiers ?? []) {
      parts.push(`T${JSON.stringify(t.tier)}|${t.index}|${t.isolated}`);
      for (const p of t.policies) {
        parts.push(`P${JSON.stringify(p.policy)}|${p.priority}`);
        for (const r of p.rules)
          parts.push(`R${r.action}|${r.continueAt ?? ''}|${r.definition}|${ruleHash(b, r)}`);
      }
    }
  }
  return shortHash(parts.join('\n'), 32);
}

/** A dispatch of the base chain; `mark`: only of packets whose meta mark has that bit. */
interface DispatchStep {
  readonly direction: Direction;
  readonly mark?: number;
}

function hooked(name: string, hook: NftHook['hook'], steps: readonly DispatchStep[]): NftChain {
  const rules: NftRule[] = [
    // First: a cut connection is established, and the next rule would accept it.
    { kind: 'ctmark', bit: STRICT_CUT_MARK, action: { verdict: { kind: 'drop' } } },
    { kind: 'ct', states: ['established', 'related'], action: { verdict: { kind: 'accept' } } },
    { kind: 'ct', states: ['invalid'], action: { verdict: { kind: 'drop' } } },
  ];
  for (const { direction, mark } of steps) {
    for (const family of FAMILIES) {
      rules.push({
        kind: 'dispatch',
        family,
        field: DISPATCH[direction].field,
        map: dispatchMapName(direction, family),
        ...(mark === undefined ? {} : { mark }),
      });
    }
  }
  return { name, hook: { type: 'filter', hook, priority: 0, policy: 'accept' }, rules };
}

/**
 * `forward` sees pod-to-pod and pod-to-remote traffic; egress dispatch comes first because its allow
 * returns here so that the destination's ingress chain still runs. `input` sees a pod talking to its own
 * node's addresses (a host-network pod there), which egress policy governs as well; ingress runs there
 * only with L7 steering, for the packets steered to the proxy (`L7_MARK`): policy routing delivers them
 * locally, so `forward` never sees them, and the destination's L3/L4 policy must still hold before the
 * proxy gets the connection. No `output` chain: traffic from the node is always allowed, which includes
 * the proxy's own connections upstream (their L3/L4 policy was decided here, on the client's connection).
 */
function baseChains(steering: boolean): NftChain[] {
  const input: DispatchStep[] = [{ direction: 'Egress' }];
  if (steering) input.push({ direction: 'Ingress', mark: L7_MARK });
  return [
    hooked(BASE_CHAIN, 'forward', [{ direction: 'Egress' }, { direction: 'Ingress' }]),
    hooked(INPUT_CHAIN, 'input', input),
  ];
}

const STEER = {
  Ingress: { set: 'l7_ingress', field: 'daddr' },
  Egress: { set: 'l7_egress', field: 'saddr' },
} as const;

/** `l7_ingress4`, `l7_egress6`, …: address . TCP port of the packets steered to the L7 proxy. */
export function steerSetName(direction: Direction, family: Family): string {
  return `${STEER[direction].set}${family}`;
}

/** One family's steered pairs as disjoint set elements (entries of endpoints sharing an IP may overlap). */
function steerElements(entries: readonly SteerEntry[], family: Family): string[] {
  const boxes = entries
    .filter((e) => e.addr.family === family)
    .map((e): Box => [
      [e.addr.lo, e.addr.hi],
      [BigInt(e.from), BigInt(e.to)],
    ]);
  return disjointUnion(boxes).map((box) => {
    const [addr, port] = box as [Interval, Interval];
    return `${formatRange({ family, lo: addr[0], hi: addr[1] })} . ${interval(port)}`;
  });
}

/**
 * The steering sets (only non-empty ones) and the prerouting chain that hands their packets to the L7
 * proxy with TPROXY (l7-steering.ts has the whole path). Priority mangle (-150): after conntrack, before
 * the routing decision the mark changes. Per set, the tproxy rule and then a drop of the same match: when
 * no proxy listens, tproxy ends its rule without a verdict and the packet would go on (to a TCP reset
 * from the node's stack, the mark being set); the drop makes a dead proxy look like a dropped SYN, as any
 * other denial does, and nothing passes unchecked.
 */
function steeringChain(steering: L7Steering): { sets: NftSet[]; chain: NftChain } {
  const sets: NftSet[] = [];
  const rules: NftRule[] = [{ kind: 'transparentSocket', mark: L7_MARK }];
  for (const family of FAMILIES) {
    for (const direction of ['Ingress', 'Egress'] as const) {
      const elements = steerElements(direction === 'Ingress' ? steering.ingress : steering.egress, family);
      if (elements.length === 0) continue;
      const name = steerSetName(direction, family);
      sets.push({ name, type: STEER_SET_TYPE[family], flags: ['interval'], elements });
      const field = STEER[direction].field;
      rules.push(
        { kind: 'tproxy', family, field, set: name, mark: L7_MARK, port: L7_PROXY_PORT },
        { kind: 'tcpLookup', family, field, set: name, action: { verdict: { kind: 'drop' } } },
      );
    }
  }
  const hook: NftHook = { type: 'filter', hook: 'prerouting', priority: -150, policy: 'accept' };
  return { sets, chain: { name: L7_CHAIN, hook, rules } };
}

/** The families whose packets the table steers to the L7 proxy: they need the policy routing. */
export function steeredFamilies(t: Pick<NftTable, 'sets'>): Family[] {
  return FAMILIES.filter((f) =>
    t.sets.some((s) => s.name === steerSetName('Ingress', f) || s.name === steerSetName('Egress', f)),
  );
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

/** Compiles node rules into tables, reusing what the previous call compiled. Not safe to share between nodes' option sets. */
export interface NftCompiler {
  /** The same table `compileNftables(rules, options)` returns. */
  compile(rules: NodeRules): NftTable;
}

/**
 * A compiler that remembers, per endpoint fingerprint, the chains and sets it compiled, and per set
 * contents the elements. The memo only ever holds what the last call used, so it does not grow with
 * history; the function stays pure from the outside (same rules in, same table out).
 */
export function createNftCompiler(options: NftCompileOptions = {}): NftCompiler {
  let endpoints = new Map<string, EndpointOutput>();
  let elements = new Map<string, StepElements>();
  // What the last call compiled each EndpointRules object to: a resolver that keeps unchanged endpoints'
  // objects (createNodeResolver) saves their fingerprints too. Rules are never mutated, so the same
  // object always compiles to the same output.
  let byObject = new Map<EndpointRules, { fp: string; out: EndpointOutput }>();
  let last: { rules: NodeRules; table: NftTable } | undefined;
  return {
    compile(rules: NodeRules): NftTable {
      if (last?.rules === rules) return last.table;
      const b: Builder = {
        sets: new Map(),
        boxes: new BoxCache(),
        logGroup: options.logGroup ?? NFLOG_GROUP,
        denyGroup: options.denyGroup ?? DENY_NFLOG_GROUP,
        ruleHashes: new Map(),
        previousElements: elements,
        elements: new Map(),
      };
      const used = new Map<string, EndpointOutput>();
      const seen = new Map<EndpointRules, { fp: string; out: EndpointOutput }>();
      const outputs: EndpointOutput[] = [];
      for (const ep of rules.endpoints) {
        const known = byObject.get(ep);
        const fp = known?.fp ?? endpointFingerprint(b, ep);
        let out = used.get(fp) ?? known?.out ?? endpoints.get(fp);
        if (out === undefined) {
          out = compileEndpoint(b, ep);
        } else {
          // Reused sets still count as built in this call: a recompiled endpoint sharing one must agree.
          for (const set of out.sets) {
            const have = b.sets.get(set.name);
            if (have === undefined) b.sets.set(set.name, set);
            else if (have.elements !== set.elements && have.elements.join('\n') !== set.elements.join('\n'))
              throw new Error(`internal: set ${set.name} resolved to different elements for two endpoints`);
          }
        }
        used.set(fp, out);
        seen.set(ep, { fp, out });
        outputs.push(out);
      }
      // Only a successful call replaces the memo: one that throws leaves the last good one.
      endpoints = used;
      elements = b.elements;
      byObject = seen;
      const table = assemble(outputs, b.sets, rules.l7, options);
      last = { rules, table };
      return table;
    },
  };
}

function assemble(
  outputs: readonly EndpointOutput[],
  sets: ReadonlyMap<string, NftSet>,
  steering: L7Steering | undefined,
  options: NftCompileOptions,
): NftTable {
  const dispatchNames = (['Ingress', 'Egress'] as const).flatMap((d) =>
    FAMILIES.map((f) => dispatchMapName(d, f)),
  );
  const dispatch = new Map<string, [string, string][]>(dispatchNames.map((n) => [n, []]));
  const chains: NftChain[] = [];
  let rejectUsed = false;
  for (const out of outputs) {
    chains.push(...out.chains);
    for (const [map, key, verdict] of out.dispatch) dispatch.get(map)?.push([key, verdict]);
    rejectUsed ||= out.rejectUsed;
  }
  if (rejectUsed) chains.push(rejectChain());
  const maps: NftMap[] = dispatchNames.map((name) => ({
    name,
    type: DISPATCH_TYPE[name.endsWith('6') ? 6 : 4],
    elements: [...(dispatch.get(name) ?? [])].sort(([a], [c]) => (a < c ? -1 : a > c ? 1 : 0)),
  }));
  const steer = steering === undefined ? undefined : steeringChain(steering);
  const base = baseChains(steer !== undefined);
  if (steer !== undefined) base.push(steer.chain);
  return {
    family: 'inet',
    name: options.table ?? TABLE_NAME,
    sets: [...sets.values(), ...(steer?.sets ?? [])].sort(byName),
    maps: maps.sort(byName),
    chains: [...base, ...chains.sort(byName)],
  };
}

/** Resolved rules → the desired table, from scratch. */
export function compileNftables(rules: NodeRules, options: NftCompileOptions = {}): NftTable {
  return createNftCompiler(options).compile(rules);
}
