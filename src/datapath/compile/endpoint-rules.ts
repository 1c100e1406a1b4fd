/**
 * IR + cluster → the rules each endpoint of one node must enforce, with every selector, CIDR and named
 * port resolved to concrete addresses and ports (resolve.ts). This is the first datapath shape: the
 * nftables and the iptables compilers both start from it, so they cannot disagree about what a policy
 * means. Pure.
 *
 * It keeps the structure src/engine/pipeline.ts evaluates: per direction the tiers in model order (only
 * those where a policy takes part), per tier the participating policies in evaluation order, per policy
 * its rules as written. How a tier combines them is the compilers' business (tier-plan.ts). Only the
 * `kubernetes` semantic profile is compiled: the others describe how other CNIs order policy and exist for
 * analysis (`palisade analyze --semantics`), not for enforcement.
 */
import type { Endpoint } from '../../ir/endpoint.js';
import { endpointKey } from '../../ir/endpoint.js';
import type { Action, Direction, Policy, PolicyRef, Rule } from '../../ir/policy.js';
import { policyId } from '../../ir/policy.js';
import type { Tier } from '../../ir/tier.js';
import type { PolicyModel } from '../../engine/model.js';
import type { SemanticsProfile } from '../../engine/pipeline.js';
import { participants, rulesOf } from '../../engine/pipeline.js';
import { subjectSelects } from '../../engine/selector.js';
import type { AddrRange } from './ranges.js';
import type { Context, MatchTerm } from './resolve.js';
import { context, portsKey, resolvePeers, resolveTerms, subjectPorts } from './resolve.js';

export type { IcmpEntry, L4Entry, MatchTerm, PortEntry } from './resolve.js';

export interface RuleSource {
  readonly tier: string;
  readonly policy: PolicyRef;
  readonly direction: Direction;
  readonly rule: number;
}

/**
 * One IR rule as it applies to one endpoint. It matches a flow when one of `terms` does and none of
 * `exclude` does (the rule's notPeers × every port, and every peer × its notPorts).
 */
export interface ResolvedRule {
  readonly action: Action;
  readonly source: RuleSource;
  readonly terms: readonly MatchTerm[];
  readonly exclude: readonly MatchTerm[];
  /**
   * Pass only: the model tier index where the walk continues — the tier `passTo` names when it comes
   * later, else the next one (pipeline.ts `passStep`). It may name a tier where the endpoint has no
   * policy, or lie past the last tier (the default verdict).
   */
  readonly continueAt?: number;
  /**
   * Everything that makes this rule's addresses and ports what they are for this endpoint: the rule's
   * identity plus subject-dependent resolutions (ingress named ports). Endpoints whose rules have equal
   * definitions get equal match sets, so compilers may share them.
   */
  readonly definition: string;
  /**
   * An Allow that carries HTTP rules (`rule.l7.kind === 'http'`): the flows it allows go through the
   * node's L7 proxy, which decides the requests (see `L7Ports`).
   */
  readonly l7?: 'http';
}

/** A policy taking part in a tier for the endpoint, with its rules for the direction in written order. */
export interface PolicyRules {
  readonly policy: PolicyRef;
  readonly priority: number;
  readonly rules: readonly ResolvedRule[];
}

export interface TierRules {
  readonly tier: Tier;
  /** Position of the tier in the model's tier list (what `continueAt` counts). */
  readonly index: number;
  /**
   * Nothing decided in the tier → deny: a participating policy isolates the direction and the tier's
   * defaultAction is not Pass. Otherwise the walk goes on to the next tier.
   */
  readonly isolated: boolean;
  /** Participating policies in evaluation order (priority, then name). */
  readonly policies: readonly PolicyRules[];
}

/** Only tiers where at least one policy takes part, in pipeline order. */
export interface DirectionRules {
  readonly direction: Direction;
  readonly tiers: readonly TierRules[];
}

/** An inclusive TCP port range. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/**
 * The TCP ports of an endpoint whose connections the datapath steers to the node's L7 proxy
 * (src/datapath/l7-steering.ts): `ingress`, the ports it is reached at where an Allow of its ingress (in
 * any tier it takes part in) carries HTTP rules; `egress`, the destination ports of the Allows of its
 * egress that carry HTTP rules. Ports are the rules' own, named ports resolved as for their L3/L4 match,
 * `ports: 'any'` is every TCP port. Steering is by (address, port) only, so it covers every peer of such a
 * port and ignores the rule's negations: the L3/L4 chains still run on every steered packet, and the proxy
 * forwards what no HTTP rule governs. Each list is sorted, disjoint, touching ranges joined.
 */
export interface L7Ports {
  readonly ingress: readonly PortRange[];
  readonly egress: readonly PortRange[];
}

export interface EndpointRules {
  /** "namespace/name". */
  readonly key: string;
  /** Canonical pod IPs that dispatch to this endpoint's rules. */
  readonly ips: readonly AddrRange[];
  /** Absent when no policy applies in the direction (default allow). */
  readonly ingress?: DirectionRules;
  readonly egress?: DirectionRules;
  /** Absent when no Allow of the endpoint carries HTTP rules. */
  readonly l7?: L7Ports;
}

/** One (address, TCP port range) of a local endpoint that goes to the L7 proxy. */
export interface SteerEntry {
  /** The endpoint's key ("namespace/name"). */
  readonly endpoint: string;
  /** One of the endpoint's IPs: the destination (ingress) or the source (egress) of steered packets. */
  readonly addr: AddrRange;
  readonly from: number;
  readonly to: number;
}

/**
 * Every steered pair of a node: its endpoints' `L7Ports` keyed by their addresses, sorted by family,
 * address, port, then endpoint. Entries of two endpoints may overlap (a shared IP); compilers merge them.
 */
export interface L7Steering {
  readonly ingress: readonly SteerEntry[];
  readonly egress: readonly SteerEntry[];
}

export interface NodeRules {
  readonly node: string;
  /** Pod-network endpoints hosted on the node, sorted by key. */
  readonly endpoints: readonly EndpointRules[];
  /** Absent when no endpoint of the node is steered to the L7 proxy. */
  readonly l7?: L7Steering;
}

/** A model built with a semantic profile the datapath does not enforce. */
export class UnsupportedSemanticsError extends Error {
  override readonly name = 'UnsupportedSemanticsError';
  constructor(readonly semantics: SemanticsProfile) {
    super(
      `the datapath enforces the 'kubernetes' semantics only; '${semantics}' describes how another CNI ` +
        'orders policy and is for analysis (palisade analyze --semantics), not enforcement',
    );
  }
}

export type ResolveOutcome =
  | { readonly ok: true; readonly value: NodeRules }
  | { readonly ok: false; readonly error: UnsupportedSemanticsError };

/**
 * How rules are found for an endpoint: from-scratch (below) or kept between calls (node-resolver.ts). Both
 * run `endpointRules`, so they cannot differ in what a rule means.
 */
export interface Resolver {
  readonly model: PolicyModel;
  /**
   * Identity of each policy in rule definitions: its policyId, plus `#n` for the n-th repeat of an id
   * (loaders reject duplicates, but the model may still hold them, and two policies must never share sets
   * by accident). Unique ids stay bare, so adding a policy never renames another one's sets.
   */
  readonly ids: ReadonlyMap<Policy, string>;
  /** Whether the policy's subject selects the (pod-network) endpoint. */
  selects(policy: Policy, e: Endpoint): boolean;
  /**
   * The rule resolved under `definition` (which names the policy, the rule and any subject-dependent
   * resolution): kept, or made by `make` with a context to resolve against. Endpoints selected by the same
   * policy so resolve its rules once.
   */
  rule(policy: Policy, definition: string, make: (ctx: Context) => ResolvedRule): ResolvedRule;
}

/** pipeline.ts passStep: the named tier when it comes later, else the next one. */
function continueAt(model: PolicyModel, at: number, passTo: string | undefined): number {
  const target = passTo === undefined ? -1 : model.tiers.findIndex((t) => t.tier.name === passTo);
  return target > at ? target : at + 1;
}

function resolveRule(
  r: Resolver,
  at: number,
  tier: Tier,
  policy: Policy,
  direction: Direction,
  rule: Rule,
  subject: Endpoint,
): ResolvedRule {
  const ingress = direction === 'Ingress';
  const named = ingress ? subjectPorts(rule.ports, subject) : [];
  const notNamed = ingress && rule.notPorts ? subjectPorts(rule.notPorts, subject) : [];
  let definition = `${tier.name}|${r.ids.get(policy) ?? policyId(policy.ref)}|${direction}|${rule.index}`;
  if (named.length > 0) definition += `|named=${portsKey(named)}`;
  if (notNamed.length > 0) definition += `|notnamed=${portsKey(notNamed)}`;
  return r.rule(policy, definition, (ctx) => {
    const terms = resolveTerms(ctx, resolvePeers(ctx, rule.peers), rule.ports, ingress, named);
    const exclude: MatchTerm[] = [];
    if (rule.notPeers && rule.notPeers.length > 0)
      exclude.push({ peers: resolvePeers(ctx, rule.notPeers), ports: 'any' });
    if (rule.notPorts && rule.notPorts.length > 0)
      exclude.push(...resolveTerms(ctx, 'any', rule.notPorts, ingress, notNamed));
    return {
      action: rule.action,
      source: { tier: tier.name, policy: policy.ref, direction, rule: rule.index },
      terms,
      exclude,
      ...(rule.action === 'Pass' ? { continueAt: continueAt(r.model, at, rule.passTo) } : {}),
      definition,
      ...(rule.action === 'Allow' && rule.l7?.kind === 'http' ? { l7: 'http' as const } : {}),
    };
  });
}

function directionRules(r: Resolver, e: Endpoint, direction: Direction): DirectionRules | undefined {
  const tiers: TierRules[] = [];
  r.model.tiers.forEach((t, index) => {
    const policies = participants(t, direction, (p) => r.selects(p, e));
    if (policies.length === 0) return;
    tiers.push({
      tier: t.tier,
      index,
      // pipeline.ts endOfStage.
      isolated: t.tier.defaultAction !== 'Pass' && policies.some((p) => p.isolates.includes(direction)),
      policies: policies.map((p) => ({
        policy: p.ref,
        priority: p.priority,
        rules: rulesOf(p, direction).map((rule) => resolveRule(r, index, t.tier, p, direction, rule, e)),
      })),
    });
  });
  return tiers.length > 0 ? { direction, tiers } : undefined;
}

/** Sorted, disjoint, touching ranges joined. */
export function mergePortRanges(ranges: readonly PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((a, b) => a.from - b.from || a.to - b.to);
  const out: { from: number; to: number }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.from <= last.to + 1) last.to = Math.max(last.to, r.to);
    else out.push({ from: r.from, to: r.to });
  }
  return out;
}

/** The TCP ports the HTTP-carrying Allows of one direction match (see L7Ports). */
function steeredPorts(d: DirectionRules | undefined): PortRange[] {
  const ports: PortRange[] = [];
  for (const t of d?.tiers ?? [])
    for (const p of t.policies)
      for (const rule of p.rules) {
        if (rule.l7 !== 'http') continue;
        for (const term of rule.terms) {
          if (term.ports === 'any') ports.push({ from: 0, to: 65535 });
          else for (const e of term.ports) if (e.protocol === 'TCP') ports.push({ from: e.from, to: e.to });
        }
      }
  return mergePortRanges(ports);
}

/** The rules of one pod-network endpoint with addresses `ips`. */
export function endpointRules(r: Resolver, e: Endpoint, ips: readonly AddrRange[]): EndpointRules {
  const ingress = directionRules(r, e, 'Ingress');
  const egress = directionRules(r, e, 'Egress');
  const l7 = { ingress: steeredPorts(ingress), egress: steeredPorts(egress) };
  return {
    key: endpointKey(e),
    ips,
    ...(ingress ? { ingress } : {}),
    ...(egress ? { egress } : {}),
    ...(l7.ingress.length > 0 || l7.egress.length > 0 ? { l7 } : {}),
  };
}

function compareSteer(a: SteerEntry, b: SteerEntry): number {
  return (
    a.addr.family - b.addr.family ||
    (a.addr.lo < b.addr.lo ? -1 : a.addr.lo > b.addr.lo ? 1 : 0) ||
    (a.addr.hi < b.addr.hi ? -1 : a.addr.hi > b.addr.hi ? 1 : 0) ||
    a.from - b.from ||
    a.to - b.to ||
    (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0)
  );
}

/** The node's steered pairs (L7Steering), or undefined when there are none. */
export function nodeSteering(endpoints: readonly EndpointRules[]): L7Steering | undefined {
  const ingress: SteerEntry[] = [];
  const egress: SteerEntry[] = [];
  for (const ep of endpoints) {
    if (ep.l7 === undefined) continue;
    for (const addr of ep.ips) {
      for (const p of ep.l7.ingress) ingress.push({ endpoint: ep.key, addr, from: p.from, to: p.to });
      for (const p of ep.l7.egress) egress.push({ endpoint: ep.key, addr, from: p.from, to: p.to });
    }
  }
  if (ingress.length === 0 && egress.length === 0) return undefined;
  return { ingress: ingress.sort(compareSteer), egress: egress.sort(compareSteer) };
}

/** Node rules of sorted endpoints, with their steering. */
export function nodeRules(node: string, endpoints: readonly EndpointRules[]): NodeRules {
  const l7 = nodeSteering(endpoints);
  return { node, endpoints, ...(l7 ? { l7 } : {}) };
}

export function policyIds(model: PolicyModel): Map<Policy, string> {
  const seen = new Map<string, number>();
  const ids = new Map<Policy, string>();
  for (const t of model.tiers) {
    for (const p of t.policies) {
      const id = policyId(p.ref);
      const n = seen.get(id) ?? 0;
      seen.set(id, n + 1);
      ids.set(p, n === 0 ? id : `${id}#${n}`);
    }
  }
  return ids;
}

export function byKey(a: EndpointRules, b: EndpointRules): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * The rules of every pod-network endpoint hosted on `node`, or an error when the model follows a semantic
 * profile other than `kubernetes`. Endpoints without a usable IP are left out: nothing could dispatch to
 * them.
 */
export function tryResolveNodeRules(model: PolicyModel, node: string): ResolveOutcome {
  if (model.semantics !== 'kubernetes')
    return { ok: false, error: new UnsupportedSemanticsError(model.semantics) };
  const ctx = context(model, node);
  const memo = new Map<string, ResolvedRule>();
  const r: Resolver = {
    model,
    ids: policyIds(model),
    selects: (p, e) => subjectSelects(p.subject, e),
    rule(_policy, definition, make) {
      let resolved = memo.get(definition);
      if (resolved === undefined) memo.set(definition, (resolved = make(ctx)));
      return resolved;
    },
  };
  const endpoints: EndpointRules[] = [];
  for (const { endpoint: e, ranges } of ctx.pods) {
    if (e.node === node && ranges.length > 0) endpoints.push(endpointRules(r, e, ranges));
  }
  endpoints.sort(byKey);
  return { ok: true, value: nodeRules(node, endpoints) };
}

/** `tryResolveNodeRules`, throwing UnsupportedSemanticsError for a non-kubernetes model. */
export function resolveNodeRules(model: PolicyModel, node: string): NodeRules {
  const r = tryResolveNodeRules(model, node);
  if (!r.ok) throw r.error;
  return r.value;
}
