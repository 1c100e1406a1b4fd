import { canonicalIp, parseCidr } from '../ir/cidr.js';
import type { Cidr } from '../ir/cidr.js';
import { endpointKey } from '../ir/endpoint.js';
import type { Cluster, ClusterNode, Endpoint } from '../ir/endpoint.js';
import type { Policy } from '../ir/policy.js';
import type { Tier } from '../ir/tier.js';
import { rulePeers } from './match.js';
import { DEFAULT_TIERS, comparePolicies, compareTiers } from './pipeline.js';
import type { SemanticsProfile } from './pipeline.js';

/** A tier with its policies in evaluation order (priority, then name). */
export interface TierModel {
  readonly tier: Tier;
  readonly policies: readonly Policy[];
}

/** Two tiers declared with one name but different order or semantics; the first one is kept. */
export interface TierConflict {
  readonly name: string;
  readonly kept: Tier;
  readonly dropped: Tier;
}

export interface ModelOptions {
  /** How the pipeline is ordered (see PROFILES in pipeline.ts); default `kubernetes`. */
  readonly semantics?: SemanticsProfile;
}

/**
 * Everything evaluation looks up, indexed once. Built by `buildModel`; never mutated afterwards, so one model
 * can serve any number of evaluations.
 */
export interface PolicyModel {
  readonly cluster: Cluster;
  /** The built-in tiers merged with the declared ones, in pipeline order (by `order`, ties by name). */
  readonly tiers: readonly TierModel[];
  /** Policies whose tier is not in the tier list: never evaluated, kept so callers can warn about them. */
  readonly untiered: readonly Policy[];
  /** Tier names declared more than once with different definitions. */
  readonly tierConflicts: readonly TierConflict[];
  /** The semantic profile `pipelineFor`, `evaluate`, `explain` and the matrix follow. */
  readonly semantics: SemanticsProfile;
  readonly endpointsByKey: ReadonlyMap<string, Endpoint>;
  /** Pod-network endpoints by canonical IP; host-network endpoints are found through their node. */
  readonly endpointsByIp: ReadonlyMap<string, Endpoint>;
  readonly nodesByName: ReadonlyMap<string, ClusterNode>;
  /** Nodes by canonical IP. */
  readonly nodesByIp: ReadonlyMap<string, ClusterNode>;
  /** Every CIDR text a peer mentions, parsed; undefined when it does not parse (matches nothing). */
  readonly cidrs: ReadonlyMap<string, Cidr | undefined>;
}

function indexCidrs(policies: readonly Policy[]): Map<string, Cidr | undefined> {
  const out = new Map<string, Cidr | undefined>();
  for (const p of policies) {
    for (const rule of [...p.ingress, ...p.egress]) {
      for (const peer of rulePeers(rule)) {
        if (peer.kind !== 'cidr') continue;
        for (const text of [peer.cidr, ...peer.except]) if (!out.has(text)) out.set(text, parseCidr(text));
      }
    }
  }
  return out;
}

/** DEFAULT_TIERS then `declared`, one tier per name (the first wins), in pipeline order. */
function mergeTiers(declared: readonly Tier[]): { tiers: Tier[]; conflicts: TierConflict[] } {
  const byName = new Map<string, Tier>();
  const conflicts: TierConflict[] = [];
  for (const tier of [...DEFAULT_TIERS, ...declared]) {
    const kept = byName.get(tier.name);
    if (kept === undefined) byName.set(tier.name, tier);
    else if (kept.order !== tier.order || kept.semantics !== tier.semantics)
      conflicts.push({ name: tier.name, kept, dropped: tier });
  }
  return { tiers: [...byName.values()].sort(compareTiers), conflicts };
}

/**
 * Indexes a cluster and its policies. `tiers` are the tiers the input declares (Loaded.tiers); they are
 * merged with the built-in DEFAULT_TIERS, which win a name conflict.
 */
export function buildModel(
  cluster: Cluster,
  policies: readonly Policy[],
  tiers: readonly Tier[] = [],
  options: ModelOptions = {},
): PolicyModel {
  const { tiers: orderedTiers, conflicts } = mergeTiers(tiers);
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
    tierConflicts: conflicts,
    semantics: options.semantics ?? 'kubernetes',
    endpointsByKey,
    endpointsByIp,
    nodesByName,
    nodesByIp,
    cidrs: indexCidrs(policies),
  };
}
