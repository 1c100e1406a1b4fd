import { canonicalIp, parseCidr } from '../ir/cidr.js';
import type { Cidr } from '../ir/cidr.js';
import { endpointKey } from '../ir/endpoint.js';
import type { Cluster, ClusterNode, Endpoint } from '../ir/endpoint.js';
import type { Policy } from '../ir/policy.js';
import type { Tier } from '../ir/tier.js';
import { DEFAULT_TIERS } from './pipeline.js';

/** A tier with its policies in evaluation order (priority, then name). */
export interface TierModel {
  readonly tier: Tier;
  readonly policies: readonly Policy[];
}

/**
 * Everything evaluation looks up, indexed once. Built by `buildModel`; never mutated afterwards, so one model
 * can serve any number of evaluations.
 */
export interface PolicyModel {
  readonly cluster: Cluster;
  /** Tiers in pipeline order (by `order`, ties by position in the list given). */
  readonly tiers: readonly TierModel[];
  /** Policies whose tier is not in the tier list: never evaluated, kept so callers can warn about them. */
  readonly untiered: readonly Policy[];
  readonly endpointsByKey: ReadonlyMap<string, Endpoint>;
  /** Pod-network endpoints by canonical IP; host-network endpoints are found through their node. */
  readonly endpointsByIp: ReadonlyMap<string, Endpoint>;
  readonly nodesByName: ReadonlyMap<string, ClusterNode>;
  /** Nodes by canonical IP. */
  readonly nodesByIp: ReadonlyMap<string, ClusterNode>;
  /** Every CIDR text a peer mentions, parsed; undefined when it does not parse (matches nothing). */
  readonly cidrs: ReadonlyMap<string, Cidr | undefined>;
}

function comparePolicies(a: Policy, b: Policy): number {
  return (
    a.priority - b.priority ||
    cmp(a.ref.name, b.ref.name) ||
    cmp(a.ref.namespace ?? '', b.ref.namespace ?? '') ||
    cmp(a.ref.kind, b.ref.kind)
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function indexCidrs(policies: readonly Policy[]): Map<string, Cidr | undefined> {
  const out = new Map<string, Cidr | undefined>();
  for (const p of policies) {
    for (const rule of [...p.ingress, ...p.egress]) {
      if (rule.peers === 'any') continue;
      for (const peer of rule.peers) {
        if (peer.kind !== 'cidr') continue;
        for (const text of [peer.cidr, ...peer.except]) if (!out.has(text)) out.set(text, parseCidr(text));
      }
    }
  }
  return out;
}

export function buildModel(
  cluster: Cluster,
  policies: readonly Policy[],
  tiers: readonly Tier[] = DEFAULT_TIERS,
): PolicyModel {
  const orderedTiers = tiers
    .map((tier, position) => ({ tier, position }))
    .sort((a, b) => a.tier.order - b.tier.order || a.position - b.position)
    .map(({ tier }) => tier);
  const byTier = new Map<string, Policy[]>(orderedTiers.map((t) => [t.name, []]));
  const untiered: Policy[] = [];
  for (const p of policies) {
    const bucket = byTier.get(p.tier);
    if (bucket) bucket.push(p);
    else untiered.push(p);
  }

  const endpointsByKey = new Map<string, Endpoint>();
  const endpointsByIp = new Map<string, Endpoint>();
  for (const e of cluster.endpoints) {
    endpointsByKey.set(endpointKey(e), e);
    if (e.hostNetwork) continue;
    for (const ip of e.ips) {
      const canonical = canonicalIp(ip);
      if (canonical !== undefined && !endpointsByIp.has(canonical)) endpointsByIp.set(canonical, e);
    }
  }
  const nodesByName = new Map<string, ClusterNode>();
  const nodesByIp = new Map<string, ClusterNode>();
  for (const n of cluster.nodes) {
    nodesByName.set(n.name, n);
    for (const ip of n.ips) {
      const canonical = canonicalIp(ip);
      if (canonical !== undefined && !nodesByIp.has(canonical)) nodesByIp.set(canonical, n);
    }
  }

  return {
    cluster,
    tiers: orderedTiers.map((tier) => ({
      tier,
      policies: [...(byTier.get(tier.name) ?? [])].sort(comparePolicies),
    })),
    untiered,
    endpointsByKey,
    endpointsByIp,
    nodesByName,
    nodesByIp,
    cidrs: indexCidrs(policies),
  };
}
