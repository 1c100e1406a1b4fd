/**
 * `tryResolveNodeRules` kept between calls, for callers that resolve one model after another (the agent,
 * the lab's enforcer): a change costs what it touches, not what the cluster holds. Every outcome equals
 * what `tryResolveNodeRules(model, node)` returns for the same model (test/datapath/compile/
 * node-resolver.test.ts checks it over random edit sequences); only the work differs.
 *
 * What it keeps, and what invalidates it (cilium's pkg/policy/selectorcache.go is the model):
 * - each distinct endpoint selector in a SelectorCache (rule peers over every pod, policy subjects over
 *   this node's pods), its selection updated by the pods that changed since the last model (compared by
 *   key, then by content, since loaders and the lab build equal copies);
 * - each resolved rule, under its definition in its policy's entry, with what resolving it read: the
 *   selectors of its endpoint peers and, through a recording Context, the cluster-wide facts (all pod
 *   addresses, named-port owners, nodes, cluster addresses). A rule is resolved again only when one of
 *   those changed or its policy did;
 * - each local endpoint's EndpointRules, recomputed only when the endpoint changed, a policy selecting it
 *   was added, removed or replaced, or one of those policies' rules was resolved again. An unchanged
 *   endpoint keeps its EndpointRules object, and an unaffected node its NodeRules, so the compiler
 *   (createNftCompiler) can skip them by identity.
 * A changed tier list starts over; duplicate endpoint keys or node names (which make the from-scratch
 * answer depend on list order) are resolved from scratch.
 */
import type { ClusterNode, Endpoint } from '../../ir/endpoint.js';
import { endpointKey } from '../../ir/endpoint.js';
import { irEqual } from '../../ir/equal.js';
import type { Policy } from '../../ir/policy.js';
import type { Tier } from '../../ir/tier.js';
import type { PolicyModel } from '../../engine/model.js';
import { SelectorCache } from '../../engine/selector-cache.js';
import type { CachedSelector } from '../../engine/selector-cache.js';
import type { EndpointRules, NodeRules, ResolveOutcome, ResolvedRule, Resolver } from './endpoint-rules.js';
import {
  UnsupportedSemanticsError,
  endpointRules,
  nodeRules,
  policyIds,
  tryResolveNodeRules,
} from './endpoint-rules.js';
import type { AddrRange } from './ranges.js';
import { normalizeRanges } from './ranges.js';
import type { Context, Located } from './resolve.js';
import { addrs, portOwners } from './resolve.js';

export interface NodeResolver {
  /** The same outcome as `tryResolveNodeRules(model, node)`. */
  resolve(model: PolicyModel): ResolveOutcome;
}

/** Cluster-wide facts a rule's resolution may read (see Context); a selector stands for its pods. */
type Fact = 'pods' | 'owners' | 'nodes' | 'cluster';
type Dependency = Fact | CachedSelector;

interface PolicyEntry {
  /** The object the model lists; an equal copy replaces it. */
  policy: Policy;
  /** Its id in rule definitions and its tier's index: a policy whose id or tier moved is a new entry. */
  readonly id: string;
  readonly at: number;
  /** How many times the model lists it (a repeat takes part twice). */
  listed: number;
  /** Its subject, selecting among this node's pods. */
  readonly subject: CachedSelector;
  /** Resolved rules by definition. */
  readonly rules: Map<string, RuleEntry>;
}

interface RuleEntry {
  readonly owner: PolicyEntry;
  /** Local endpoints whose rules hold it; a rule no endpoint holds any more is forgotten. */
  users: number;
  readonly definition: string;
  readonly resolved: ResolvedRule;
  readonly reads: readonly Dependency[];
  /** Selectors acquired for its endpoint peers, released when it is dropped. */
  readonly held: readonly CachedSelector[];
}

interface Facts {
  readonly podRanges: readonly AddrRange[];
  readonly portOwners: readonly Located[];
  readonly nodes: readonly ClusterNode[];
  readonly nodeRanges: ReadonlyMap<string, readonly AddrRange[]>;
  readonly clusterRanges: readonly AddrRange[];
}

/** Input this resolver does not follow incrementally: resolve it from scratch. */
class Untracked extends Error {}

function rangesEqual(a: readonly AddrRange[], b: readonly AddrRange[]): boolean {
  return a.length === b.length && a.every((r, i) => irEqual(r, b[i]));
}

/** Only owners with container ports can resolve a named port; their order is the terms' order. */
function ownersEqual(a: readonly Located[], b: readonly Located[]): boolean {
  const withPorts = (xs: readonly Located[]) => xs.filter((x) => x.endpoint.ports.length > 0);
  const x = withPorts(a);
  const y = withPorts(b);
  return (
    x.length === y.length &&
    x.every((o, i) => {
      const p = y[i] as Located;
      return (
        (o.endpoint === p.endpoint || irEqual(o.endpoint, p.endpoint)) && rangesEqual(o.ranges, p.ranges)
      );
    })
  );
}

function* resolvedRules(ep: EndpointRules): Generator<ResolvedRule> {
  for (const d of [ep.ingress, ep.egress])
    for (const t of d?.tiers ?? []) for (const p of t.policies) yield* p.rules;
}

function tiersOf(model: PolicyModel): Tier[] {
  return model.tiers.map((t) => t.tier);
}

const byKey = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** What one node's resolver keeps for one tier list. */
class NodeState {
  readonly tiers: readonly Tier[];
  readonly #node: string;
  /** Rule peers' selectors, over every pod of the cluster. */
  readonly #selectors = new SelectorCache();
  /** Policy subjects' selectors, over this node's pods only: no other pod's rules are resolved here. */
  readonly #subjects = new SelectorCache();
  /** The lists the last model's cluster had (an identical list is not looked at again). */
  #endpointList: readonly Endpoint[] = [];
  /** Its keys, in order. */
  #order: readonly string[] = [];
  #nodeList: readonly ClusterNode[] = [];
  /** Every endpoint by key, with the addresses of its own IPs. */
  readonly #endpoints = new Map<string, Located>();
  #facts: Facts = { podRanges: [], portOwners: [], nodes: [], nodeRanges: new Map(), clusterRanges: [] };
  readonly #policies = new Map<Policy, PolicyEntry>();
  /** Rule entries by what they read. */
  readonly #readers = new Map<Dependency, Set<RuleEntry>>();
  /** This node's endpoints with their rules; `#localKeys` sorted. */
  readonly #local = new Map<string, EndpointRules>();
  /** The entry of each resolved rule kept, to count the endpoints using it. */
  readonly #entries = new Map<ResolvedRule, RuleEntry>();
  #localKeys: string[] = [];
  #last: NodeRules | undefined;

  constructor(node: string, tiers: readonly Tier[]) {
    this.#node = node;
    this.tiers = tiers;
  }

  update(model: PolicyModel): NodeRules {
    // Endpoints (by key) whose rules must be computed again.
    const dirty = new Set<string>();
    const stale = new Set<Dependency>();
    const endpointsMoved = this.#updateEndpoints(model.cluster.endpoints, dirty, stale);
    const nodesMoved = this.#updateNodes(model.cluster.nodes, stale);
    if (endpointsMoved || nodesMoved) this.#updateFacts(endpointsMoved, stale);

    const replaced = new Set<PolicyEntry>();
    for (const dep of stale)
      for (const entry of [...(this.#readers.get(dep) ?? [])]) this.#drop(entry, replaced);
    const ids = policyIds(model);
    this.#updatePolicies(model, ids, dirty, replaced);
    for (const entry of replaced) this.#markSelected(entry.subject, dirty);

    if (endpointsMoved) this.#updateLocalKeys();
    const r = this.#resolver(model, ids);
    let recomputed = false;
    for (const key of endpointsMoved ? this.#localKeys : [...dirty].filter((k) => this.#local.has(k))) {
      if (this.#local.has(key) && !dirty.has(key)) continue;
      const at = this.#endpoints.get(key) as Located;
      this.#setLocal(key, endpointRules(r, at.endpoint, at.ranges));
      recomputed = true;
    }
    if (!recomputed && !endpointsMoved && this.#last) return this.#last;
    this.#last = nodeRules(
      this.#node,
      this.#localKeys.map((k) => this.#local.get(k) as EndpointRules),
    );
    return this.#last;
  }

  /** Diffs the endpoint list by key; whether an endpoint changed, came, went or moved in the list. */
  #updateEndpoints(list: readonly Endpoint[], dirty: Set<string>, stale: Set<Dependency>): boolean {
    if (list === this.#endpointList) return false;
    this.#endpointList = list;
    const order = list.map(endpointKey);
    const seen = new Set(order);
    if (seen.size !== order.length) throw new Untracked();
    const upsert: Endpoint[] = [];
    list.forEach((e, i) => {
      const key = order[i] as string;
      const old = this.#endpoints.get(key);
      if (old !== undefined && (old.endpoint === e || irEqual(old.endpoint, e))) return;
      this.#endpoints.set(key, { endpoint: e, ranges: addrs(e.ips) });
      upsert.push(e);
      dirty.add(key);
    });
    const remove = [...this.#endpoints.keys()].filter((k) => !seen.has(k));
    for (const k of remove) {
      this.#endpoints.delete(k);
      this.#setLocal(k, undefined);
    }
    for (const sel of this.#selectors.update({ upsert, remove })) stale.add(sel);
    const here = (e: Endpoint) => e.node === this.#node;
    this.#subjects.update({
      upsert: upsert.filter(here),
      remove: [...remove, ...upsert.filter((e) => !here(e)).map(endpointKey)],
    });
    // Named-port owners follow the list's order (#updateFacts), so a reordered list counts as a change.
    const reordered = order.length !== this.#order.length || order.some((k, i) => k !== this.#order[i]);
    this.#order = order;
    return upsert.length > 0 || remove.length > 0 || reordered;
  }

  #updateNodes(list: readonly ClusterNode[], stale: Set<Dependency>): boolean {
    if (list === this.#nodeList) return false;
    const names = new Set(list.map((n) => n.name));
    if (names.size !== list.length) throw new Untracked();
    const changed = !irEqual(list, this.#nodeList);
    this.#nodeList = list;
    if (changed) stale.add('nodes');
    return changed;
  }

  #updateFacts(endpointsMoved: boolean, stale: Set<Dependency>): void {
    const old = this.#facts;
    const nodes = this.#nodeList;
    const nodeRanges = stale.has('nodes')
      ? new Map(nodes.map((n) => [n.name, addrs(n.ips)]))
      : old.nodeRanges;
    const podRanges = endpointsMoved
      ? normalizeRanges(this.#endpointList.flatMap((e) => (e.hostNetwork ? [] : this.#located(e).ranges)))
      : old.podRanges;
    const clusterRanges = normalizeRanges([...podRanges, ...[...nodeRanges.values()].flat()]);
    const owners = portOwners(this.#endpointList, nodeRanges, (e) => this.#located(e).ranges);
    if (!rangesEqual(podRanges, old.podRanges)) stale.add('pods');
    if (!rangesEqual(clusterRanges, old.clusterRanges)) stale.add('cluster');
    if (!ownersEqual(owners, old.portOwners)) stale.add('owners');
    this.#facts = { podRanges, portOwners: owners, nodes, nodeRanges, clusterRanges };
  }

  #located(e: Endpoint): Located {
    return this.#endpoints.get(endpointKey(e)) as Located;
  }

  /**
   * Diffs the model's policies by identity, with their ids and tier positions; a new object equal to a
   * policy no longer listed (at the same id and tier) takes its entry over, as loaders build new objects.
   */
  #updatePolicies(
    model: PolicyModel,
    ids: ReadonlyMap<Policy, string>,
    dirty: Set<string>,
    replaced: Set<PolicyEntry>,
  ): void {
    const seen = new Set<PolicyEntry>();
    const fresh: { p: Policy; id: string; at: number }[] = [];
    const listed = new Map<Policy, number>();
    model.tiers.forEach((t, at) => {
      for (const p of t.policies) {
        listed.set(p, (listed.get(p) ?? 0) + 1);
        const id = ids.get(p) as string;
        const entry = this.#policies.get(p);
        if (entry !== undefined && entry.id === id && entry.at === at) seen.add(entry);
        else fresh.push({ p, id, at });
      }
    });
    const place = (e: PolicyEntry) => `${e.at}|${e.id}`;
    const gone = new Map<string, PolicyEntry>();
    for (const entry of this.#policies.values()) if (!seen.has(entry)) gone.set(place(entry), entry);
    const remove = (entry: PolicyEntry) => {
      gone.delete(place(entry));
      this.#removePolicy(entry, dirty, replaced);
    };
    for (const { p, id, at } of fresh) {
      const current = this.#policies.get(p);
      if (current !== undefined && seen.has(current)) continue; // listed twice
      if (current !== undefined) remove(current);
      const old = gone.get(`${at}|${id}`);
      if (old !== undefined && irEqual(old.policy, p)) {
        gone.delete(place(old));
        this.#policies.delete(old.policy);
        old.policy = p;
        this.#policies.set(p, old);
        seen.add(old);
        continue;
      }
      const subject = this.#subjects.acquire(p.subject.namespaces, p.subject.pods);
      const entry: PolicyEntry = { policy: p, id, at, listed: 0, subject, rules: new Map() };
      this.#policies.set(p, entry);
      replaced.add(entry);
      seen.add(entry);
    }
    for (const entry of [...gone.values()]) remove(entry);
    for (const entry of seen) {
      const n = listed.get(entry.policy) ?? 0;
      if (entry.listed !== n) {
        entry.listed = n;
        replaced.add(entry);
      }
    }
  }

  #removePolicy(entry: PolicyEntry, dirty: Set<string>, replaced: Set<PolicyEntry>): void {
    this.#markSelected(entry.subject, dirty);
    for (const rule of [...entry.rules.values()]) this.#drop(rule, replaced);
    replaced.delete(entry);
    this.#subjects.release(entry.subject);
    this.#policies.delete(entry.policy);
  }

  #markSelected(subject: CachedSelector, dirty: Set<string>): void {
    for (const k of subject.selected) if (this.#local.has(k)) dirty.add(k);
  }

  /** Forgets a resolved rule; when `replaced` is given, its policy's endpoints must be computed again. */
  #drop(entry: RuleEntry, replaced?: Set<PolicyEntry>): void {
    if (entry.owner.rules.get(entry.definition) !== entry) return;
    entry.owner.rules.delete(entry.definition);
    this.#entries.delete(entry.resolved);
    for (const dep of entry.reads) {
      const readers = this.#readers.get(dep);
      readers?.delete(entry);
      if (readers?.size === 0) this.#readers.delete(dep);
    }
    for (const sel of entry.held) this.#selectors.release(sel);
    replaced?.add(entry.owner);
  }

  /**
   * Sets (or, undefined, removes) a local endpoint's rules and counts the rules' users: a rule that was
   * resolved for an endpoint which no longer needs it (its named ports changed, it moved away) is dropped,
   * so what is kept follows what is enforced rather than growing with history.
   */
  #setLocal(key: string, rules: EndpointRules | undefined): void {
    const old = this.#local.get(key);
    if (rules === undefined) this.#local.delete(key);
    else this.#local.set(key, rules);
    // New users first: a rule both hold never drops to zero on the way.
    if (rules !== undefined) for (const r of resolvedRules(rules)) this.#count(r, 1);
    if (old !== undefined) for (const r of resolvedRules(old)) this.#count(r, -1);
  }

  #count(rule: ResolvedRule, delta: number): void {
    const entry = this.#entries.get(rule);
    if (entry !== undefined && (entry.users += delta) === 0) this.#drop(entry);
  }

  #updateLocalKeys(): void {
    const keys: string[] = [];
    for (const [key, { endpoint: e, ranges }] of this.#endpoints)
      if (!e.hostNetwork && e.node === this.#node && ranges.length > 0) keys.push(key);
    this.#localKeys = keys.sort(byKey);
    const local = new Set(keys);
    for (const k of [...this.#local.keys()]) if (!local.has(k)) this.#setLocal(k, undefined);
  }

  #resolver(model: PolicyModel, ids: ReadonlyMap<Policy, string>): Resolver {
    let last: { e: Endpoint; key: string } | undefined;
    const keyOf = (e: Endpoint) => (last?.e === e ? last.key : (last = { e, key: endpointKey(e) }).key);
    return {
      model,
      ids,
      selects: (p, e) => this.#policies.get(p)?.subject.selected.has(keyOf(e)) ?? false,
      rule: (p, definition, make) => {
        const owner = this.#policies.get(p);
        if (owner === undefined) throw new Error(`internal: policy ${definition} resolved but not tracked`);
        const kept = owner.rules.get(definition);
        if (kept !== undefined) return kept.resolved;
        const held: CachedSelector[] = [];
        const facts = new Set<Fact>();
        const resolved = make(this.#recording(held, facts));
        const entry: RuleEntry = { owner, users: 0, definition, resolved, reads: [...facts, ...held], held };
        owner.rules.set(definition, entry);
        this.#entries.set(resolved, entry);
        for (const dep of entry.reads) {
          let readers = this.#readers.get(dep);
          if (readers === undefined) this.#readers.set(dep, (readers = new Set()));
          readers.add(entry);
        }
        return resolved;
      },
    };
  }

  /** A Context that notes which facts and selectors a resolution reads. */
  #recording(held: CachedSelector[], reads: Set<Fact>): Context {
    const facts = this.#facts;
    return {
      node: this.#node,
      selected: (peer) => {
        const sel = this.#selectors.acquire(peer.namespaces, peer.pods);
        held.push(sel);
        return [...sel.selected].flatMap((k) => this.#endpoints.get(k)?.ranges ?? []);
      },
      get podRanges() {
        reads.add('pods');
        return facts.podRanges;
      },
      get portOwners() {
        reads.add('owners');
        return facts.portOwners;
      },
      get nodes() {
        reads.add('nodes');
        return facts.nodes;
      },
      get nodeRanges() {
        reads.add('nodes');
        return facts.nodeRanges;
      },
      get clusterRanges() {
        reads.add('cluster');
        return facts.clusterRanges;
      },
    };
  }
}

/**
 * A resolver for `node` that keeps its work between calls (see the top of this file). Not safe to share
 * between nodes; one per node, like the compiler.
 */
export function createNodeResolver(node: string): NodeResolver {
  let state: NodeState | undefined;
  return {
    resolve(model) {
      if (model.semantics !== 'kubernetes')
        return { ok: false, error: new UnsupportedSemanticsError(model.semantics) };
      const tiers = tiersOf(model);
      if (state === undefined || !irEqual(state.tiers, tiers)) state = new NodeState(node, tiers);
      try {
        return { ok: true, value: state.update(model) };
      } catch (e) {
        // Half-updated memory is worse than none: start over next time.
        state = undefined;
        if (e instanceof Untracked) return tryResolveNodeRules(model, node);
        throw e;
      }
    },
  };
}
