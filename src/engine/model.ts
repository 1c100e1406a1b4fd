import { canonicalIp, parseCidr } from '../ir/cidr.js';
import type { Cidr } from '../ir/cidr.js';
import { endpointKey } from '../ir/endpoint.js';
import type { Cluster, ClusterNode, Endpoint } from '../ir/endpoint.js';
import type { Policy } from '../ir/policy.js';
import type { Tier } from '../ir/tier.js';
import { rulePeers } from './match.js';
import { DEFAULT_TIERS, comparePolicies, compareTiers } from './pipeline.js';
import type { SemanticsProfile } from './pipeline.js';
import { NO_LEARNT_NAMES } from './dns-cache.js';
import type { LearntNames } from './dns-cache.js';

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
  /**
   * The names the node's DNS proxy learnt, by address (dns-cache.ts `learntNames`): what FQDN peers cover.
   * Default none, so FQDN peers match nothing. Offline, `analyze --dns NAME=IP` supplies them.
   */
  readonly dns?: LearntNames;
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
  /** Names learnt by the DNS proxy, by canonical address (ModelOptions.dns). */
  readonly dns: LearntNames;
  readonly endpointsByKey: ReadonlyMap<string, Endpoint>;
  /** Pod-network endpoints by canonical IP; host-network endpoints are found through their node. */
  readonly endpointsByIp: ReadonlyMap<string, Endpoint>;
  readonly nodesByName: ReadonlyMap<string, ClusterNode>;
  /** Nodes by canonical IP. */
  readonly nodesByIp: ReadonlyMap<string, ClusterNode>;
  /** Every CIDR text a peer mentions, parsed; undefined when it does not parse (matches nothing). */
  readonly cidrs: ReadonlyMap<string, Cidr | undefined>;
}

/** Every CIDR text of one policy's peers, in written order. */
function cidrTexts(p: Policy): string[] {
  const out: string[] = [];
  for (const rule of [...p.ingress, ...p.egress]) {
    for (const peer of rulePeers(rule)) if (peer.kind === 'cidr') out.push(peer.cidr, ...peer.except);
  }
  return out;
}

function indexCidrs(policies: readonly Policy[]): Map<string, Cidr | undefined> {
  const out = new Map<string, Cidr | undefined>();
  for (const p of policies)
    for (const text of cidrTexts(p)) if (!out.has(text)) out.set(text, parseCidr(text));
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

type PolicyPart = Pick<PolicyModel, 'tiers' | 'untiered' | 'tierConflicts'>;
type ClusterPart = Pick<PolicyModel, 'endpointsByKey' | 'endpointsByIp' | 'nodesByName' | 'nodesByIp'>;

function placePolicies(policies: readonly Policy[], tiers: readonly Tier[]): PolicyPart {
  const { tiers: orderedTiers, conflicts } = mergeTiers(tiers);
  const byTier = new Map<string, Policy[]>(orderedTiers.map((t) => [t.name, []]));
  const untiered: Policy[] = [];
  for (const p of policies) {
    const bucket = byTier.get(p.tier);
    if (bucket) bucket.push(p);
    else untiered.push(p);
  }
  return {
    tiers: orderedTiers.map((tier) => ({
      tier,
      policies: [...(byTier.get(tier.name) ?? [])].sort(comparePolicies),
    })),
    untiered,
    tierConflicts: conflicts,
  };
}

function indexCluster(cluster: Cluster): ClusterPart {
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
  return { endpointsByKey, endpointsByIp, nodesByName, nodesByIp };
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
  return {
    cluster,
    ...placePolicies(policies, tiers),
    semantics: options.semantics ?? 'kubernetes',
    dns: options.dns ?? NO_LEARNT_NAMES,
    ...indexCluster(cluster),
    cidrs: indexCidrs(policies),
  };
}

/** A long-lived `buildModel` (see createModelBuilder). */
export interface ModelBuilder {
  /** A model equal to `buildModel(cluster, policies, tiers, options)`. */
  build(
    cluster: Cluster,
    policies: readonly Policy[],
    tiers?: readonly Tier[],
    options?: ModelOptions,
  ): PolicyModel;
}

/**
 * The CIDR index of a policy list kept up to date by its changes: each policy's texts are counted (a
 * policy may repeat in the list, a text across policies), so a change parses only the policies that came
 * and builds a new index only when a text came or went. The index holds the same entries as
 * `indexCidrs` (its iteration order is not part of the model).
 */
class CidrIndex {
  #counts = new Map<Policy, number>();
  readonly #texts = new Map<string, { readonly cidr: Cidr | undefined; n: number }>();
  readonly #parsed = new WeakMap<Policy, readonly string[]>();
  #index: ReadonlyMap<string, Cidr | undefined> = new Map();

  update(policies: readonly Policy[]): ReadonlyMap<string, Cidr | undefined> {
    const counts = new Map<Policy, number>();
    for (const p of policies) counts.set(p, (counts.get(p) ?? 0) + 1);
    const deltas: [Policy, number][] = [];
    for (const [p, n] of counts)
      if (n !== (this.#counts.get(p) ?? 0)) deltas.push([p, n - (this.#counts.get(p) ?? 0)]);
    for (const [p, n] of this.#counts) if (!counts.has(p)) deltas.push([p, -n]);
    this.#counts = counts;
    // Additions first, so that a text moving from one policy to another is never dropped on the way.
    deltas.sort((a, b) => b[1] - a[1]);
    let changed = false;
    for (const [p, d] of deltas) {
      for (const text of this.#textsOf(p)) {
        const t = this.#texts.get(text);
        if (t === undefined) {
          this.#texts.set(text, { cidr: parseCidr(text), n: d });
          changed = true;
        } else if ((t.n += d) === 0) {
          this.#texts.delete(text);
          changed = true;
        }
      }
    }
    if (changed) this.#index = new Map([...this.#texts].map(([text, t]) => [text, t.cidr]));
    return this.#index;
  }

  /** The distinct CIDR texts of one policy. */
  #textsOf(p: Policy): readonly string[] {
    let texts = this.#parsed.get(p);
    if (texts === undefined) this.#parsed.set(p, (texts = [...new Set(cidrTexts(p))]));
    return texts;
  }
}

/**
 * `buildModel` for a caller that builds one model after another from mostly the same objects (the agent,
 * the lab's enforcer): CIDRs are parsed once per policy that comes (CidrIndex), the tier placement is
 * redone only when the policy or tier list changed, the cluster indexes only when the cluster's lists did.
 * Every model it returns equals what `buildModel` returns for the same arguments (as
 * assert.deepStrictEqual compares), and is never mutated after.
 */
export function createModelBuilder(): ModelBuilder {
  const cidrs = new CidrIndex();
  let placed: { policies: readonly Policy[]; tiers: readonly Tier[]; part: PolicyPart } | undefined;
  let indexed: { cluster: Cluster; part: ClusterPart } | undefined;
  return {
    build(cluster, policies, tiers = [], options = {}) {
      if (placed?.policies !== policies || placed.tiers !== tiers)
        placed = { policies, tiers, part: placePolicies(policies, tiers) };
      if (indexed?.cluster.endpoints !== cluster.endpoints || indexed.cluster.nodes !== cluster.nodes)
        indexed = { cluster, part: indexCluster(cluster) };
      return {
        cluster,
        ...placed.part,
        semantics: options.semantics ?? 'kubernetes',
        dns: options.dns ?? NO_LEARNT_NAMES,
        ...indexed.part,
        cidrs: cidrs.update(policies),
      };
    },
  };
}
