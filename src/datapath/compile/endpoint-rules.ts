/**
 * IR + cluster → the rules each endpoint of one node must enforce, with every selector, CIDR and named
 * port resolved to concrete addresses and ports. This is the first datapath shape: the nftables and the
 * iptables compilers both start from it, so they cannot disagree about what a policy means. Pure.
 *
 * Order follows src/engine/pipeline.ts: tiers in model order; inside a first-match tier, policies in
 * model order and rules as written; inside a union tier (Kubernetes NetworkPolicy) Deny/Reject first (they
 * win over any allow), then Log (it must be seen before an allow ends the walk), then the allows.
 */
import type { Family } from '../../ir/cidr.js';
import type { Endpoint, Protocol } from '../../ir/endpoint.js';
import { endpointKey } from '../../ir/endpoint.js';
import type { Peer, PortMatch } from '../../ir/peer.js';
import type { Action, Direction, Policy, PolicyRef, Rule } from '../../ir/policy.js';
import { policyId } from '../../ir/policy.js';
import type { Tier } from '../../ir/tier.js';
import type { PolicyModel } from '../../engine/model.js';
import { participants, rulesOf } from '../../engine/pipeline.js';
import { scopeMatches, selectorMatches, subjectSelects } from '../../engine/selector.js';
import type { AddrRange } from './ranges.js';
import { cidrRange, fullRange, ipRange, normalizeRanges, rangeContains, subtractRanges } from './ranges.js';

/** A concrete port match: one protocol, an inclusive port range (0-65535 for "every port"). */
export interface PortEntry {
  readonly protocol: Protocol;
  readonly from: number;
  readonly to: number;
}

/** Peers × ports. `'any'` peers means every address of both families; `'any'` ports every protocol. */
export interface MatchTerm {
  readonly peers: 'any' | readonly AddrRange[];
  readonly ports: 'any' | readonly PortEntry[];
}

export interface RuleSource {
  readonly tier: string;
  readonly policy: PolicyRef;
  readonly direction: Direction;
  readonly rule: number;
}

/** One IR rule as it applies to one endpoint. A rule matches when any of its terms does. */
export interface ResolvedRule {
  readonly action: Action;
  readonly source: RuleSource;
  readonly terms: readonly MatchTerm[];
  /**
   * Everything that makes this rule's addresses and ports what they are for this endpoint: the rule's
   * identity plus subject-dependent resolutions (ingress named ports). Endpoints whose rules have equal
   * definitions get equal match sets, so compilers may share them.
   */
  readonly definition: string;
}

export interface TierRules {
  readonly tier: Tier;
  /** A selected endpoint with no deciding rule is denied at the end of this tier. */
  readonly isolated: boolean;
  readonly rules: readonly ResolvedRule[];
}

/** Only tiers where at least one policy takes part, in pipeline order. */
export interface DirectionRules {
  readonly direction: Direction;
  readonly tiers: readonly TierRules[];
}

export interface EndpointRules {
  /** "namespace/name". */
  readonly key: string;
  /** Canonical pod IPs that dispatch to this endpoint's rules. */
  readonly ips: readonly AddrRange[];
  /** Absent when no policy applies in the direction (default allow). */
  readonly ingress?: DirectionRules;
  readonly egress?: DirectionRules;
}

export interface NodeRules {
  readonly node: string;
  /** Pod-network endpoints hosted on the node, sorted by key. */
  readonly endpoints: readonly EndpointRules[];
}

interface Context {
  readonly model: PolicyModel;
  readonly node: string;
  /** Every pod-network endpoint of the cluster with its addresses (selectors never match host-network). */
  readonly pods: readonly { readonly endpoint: Endpoint; readonly ranges: readonly AddrRange[] }[];
  readonly podRanges: readonly AddrRange[];
  /** Resolved rules by definition: endpoints selected by the same policy resolve its rules once. */
  readonly memo: Map<string, ResolvedRule>;
  readonly nodeRanges: ReadonlyMap<string, readonly AddrRange[]>;
  readonly clusterRanges: readonly AddrRange[];
}

const FAMILIES: readonly Family[] = [4, 6];

function addrs(ips: readonly string[]): AddrRange[] {
  return normalizeRanges(ips.map(ipRange).filter((r): r is AddrRange => r !== undefined));
}

function context(model: PolicyModel, node: string): Context {
  const pods = model.cluster.endpoints
    .filter((e) => !e.hostNetwork)
    .map((endpoint) => ({ endpoint, ranges: addrs(endpoint.ips) }));
  const podRanges = normalizeRanges(pods.flatMap((p) => p.ranges));
  const nodeRanges = new Map(model.cluster.nodes.map((n) => [n.name, addrs(n.ips)]));
  const clusterRanges = normalizeRanges([...podRanges, ...[...nodeRanges.values()].flat()]);
  return { model, node, pods, podRanges, memo: new Map(), nodeRanges, clusterRanges };
}

function resolvePeer(ctx: Context, peer: Peer): 'any' | AddrRange[] {
  switch (peer.kind) {
    case 'endpoints':
      return ctx.pods
        .filter(
          ({ endpoint: e }) =>
            scopeMatches(peer.namespaces, e.namespace, e.namespaceLabels) &&
            selectorMatches(peer.pods, e.labels),
        )
        .flatMap((p) => p.ranges);
    case 'cidr': {
      const block = cidrRange(peer.cidr);
      if (!block) return [];
      const holes = peer.except.map(cidrRange).filter((r): r is AddrRange => r !== undefined);
      // Dialects whose CIDR rules do not select managed pods (Cilium) leave pod addresses out.
      if (!peer.matchesPods) holes.push(...ctx.podRanges);
      return subtractRanges([block], holes);
    }
    case 'nodes':
      return ctx.model.cluster.nodes
        .filter((n) => selectorMatches(peer.selector, n.labels))
        .flatMap((n) => ctx.nodeRanges.get(n.name) ?? []);
    case 'fqdn':
      // Needs DNS snooping (src/l7); never matches at L3, as in the engine.
      return [];
    case 'entity':
      switch (peer.entity) {
        case 'all':
          return 'any';
        case 'world':
          return subtractRanges(FAMILIES.map(fullRange), ctx.clusterRanges);
        case 'cluster':
          return [...ctx.clusterRanges];
        case 'host':
          return [...(ctx.nodeRanges.get(ctx.node) ?? [])];
        case 'remote-node':
          return [...ctx.nodeRanges].filter(([name]) => name !== ctx.node).flatMap(([, r]) => r);
        case 'kube-apiserver':
          return [];
      }
  }
}

function resolvePeers(ctx: Context, rule: Rule): 'any' | AddrRange[] {
  if (rule.peers === 'any') return 'any';
  const out: AddrRange[] = [];
  for (const peer of rule.peers) {
    const r = resolvePeer(ctx, peer);
    if (r === 'any') return 'any';
    out.push(...r);
  }
  return normalizeRanges(out);
}

/** Named ports resolve against the destination's container ports, by name and protocol. */
function resolvePort(pm: PortMatch, dst: Endpoint | undefined): PortEntry[] {
  switch (pm.kind) {
    case 'icmp':
      // Not compiled yet: the dialects that produce ICMP matches are refused by the datapath's callers.
      throw new Error('ICMP port matches are not supported by the nftables compiler yet');
    case 'protocol':
      return [{ protocol: pm.protocol, from: 0, to: 65535 }];
    case 'range':
      return [{ protocol: pm.protocol, from: pm.from, to: pm.to }];
    case 'named':
      return (dst?.ports ?? [])
        .filter((p) => p.name === pm.name && p.protocol === pm.protocol)
        .map((p) => ({ protocol: p.protocol, from: p.port, to: p.port }));
  }
}

function portsKey(ports: readonly PortEntry[]): string {
  return ports.map((p) => `${p.protocol}:${p.from}-${p.to}`).join(',');
}

function intersect(peers: 'any' | readonly AddrRange[], ips: readonly AddrRange[]): AddrRange[] {
  if (peers === 'any') return [...ips];
  return ips.filter((r) => rangeContains(peers, r.family, r.lo));
}

/**
 * Egress named ports depend on who receives: expand them per destination pod (its addresses × its
 * resolved ports), grouping destinations that resolve to the same ports into one term.
 */
function egressNamedTerms(
  ctx: Context,
  peers: 'any' | readonly AddrRange[],
  named: readonly PortMatch[],
): MatchTerm[] {
  const byPorts = new Map<string, { ports: PortEntry[]; peers: AddrRange[] }>();
  for (const pod of ctx.pods) {
    const ports = named.flatMap((pm) => resolvePort(pm, pod.endpoint));
    if (ports.length === 0) continue;
    const hit = intersect(peers, pod.ranges);
    if (hit.length === 0) continue;
    const key = portsKey(ports);
    const group = byPorts.get(key) ?? { ports, peers: [] };
    group.peers.push(...hit);
    byPorts.set(key, group);
  }
  return [...byPorts.values()].map((g) => ({ peers: normalizeRanges(g.peers), ports: g.ports }));
}

function resolveRule(
  ctx: Context,
  tier: Tier,
  policy: Policy,
  direction: Direction,
  rule: Rule,
  subject: Endpoint,
): ResolvedRule {
  const named = rule.ports === 'any' ? [] : rule.ports.filter((pm) => pm.kind === 'named');
  // Ingress named ports are the only part that depends on the subject (they resolve against it).
  const subjectPorts = direction === 'Ingress' ? named.flatMap((pm) => resolvePort(pm, subject)) : [];
  let definition = `${tier.name}|${policyId(policy.ref)}|${direction}|${rule.index}`;
  if (direction === 'Ingress' && named.length > 0) definition += `|named=${portsKey(subjectPorts)}`;
  const cached = ctx.memo.get(definition);
  if (cached) return cached;

  const source: RuleSource = { tier: tier.name, policy: policy.ref, direction, rule: rule.index };
  const peers = resolvePeers(ctx, rule);
  const terms: MatchTerm[] = [];
  if (rule.ports === 'any') {
    terms.push({ peers, ports: 'any' });
  } else {
    const plain = rule.ports.filter((pm) => pm.kind !== 'named').flatMap((pm) => resolvePort(pm, undefined));
    if (plain.length > 0) terms.push({ peers, ports: plain });
    if (direction === 'Ingress' && subjectPorts.length > 0) terms.push({ peers, ports: subjectPorts });
    if (direction === 'Egress' && named.length > 0) terms.push(...egressNamedTerms(ctx, peers, named));
  }
  const resolved: ResolvedRule = { action: rule.action, source, definition, terms };
  ctx.memo.set(definition, resolved);
  return resolved;
}

/** Deny/Reject, then Log, then Allow: the union stage's deny-wins order as a first-match list. */
const UNION_RANK: Record<Action, number> = { Deny: 0, Reject: 0, Log: 1, Allow: 2, Pass: 3 };

function directionRules(ctx: Context, e: Endpoint, direction: Direction): DirectionRules | undefined {
  const tiers: TierRules[] = [];
  for (const t of ctx.model.tiers) {
    const policies = participants(t, direction, (p) => subjectSelects(p.subject, e));
    if (policies.length === 0) continue;
    let rules = policies.flatMap((p) =>
      rulesOf(p, direction).map((r) => resolveRule(ctx, t.tier, p, direction, r, e)),
    );
    if (t.tier.semantics === 'union') {
      // Pass means nothing in a union stage (engine ignores it); stable sort keeps written order per rank.
      rules = rules
        .filter((r) => r.action !== 'Pass')
        .sort((a, b) => UNION_RANK[a.action] - UNION_RANK[b.action]);
    }
    const isolated = t.tier.semantics === 'union' || policies.some((p) => p.isolates.includes(direction));
    tiers.push({ tier: t.tier, isolated, rules });
  }
  return tiers.length > 0 ? { direction, tiers } : undefined;
}

/**
 * The rules of every pod-network endpoint hosted on `node`. Endpoints without a usable IP are left out:
 * nothing could dispatch to them.
 */
export function resolveNodeRules(model: PolicyModel, node: string): NodeRules {
  const ctx = context(model, node);
  const endpoints: EndpointRules[] = [];
  for (const { endpoint: e, ranges } of ctx.pods) {
    if (e.node !== node || ranges.length === 0) continue;
    const ingress = directionRules(ctx, e, 'Ingress');
    const egress = directionRules(ctx, e, 'Egress');
    endpoints.push({
      key: endpointKey(e),
      ips: ranges,
      ...(ingress ? { ingress } : {}),
      ...(egress ? { egress } : {}),
    });
  }
  endpoints.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { node, endpoints };
}
