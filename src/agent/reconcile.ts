/**
 * The agent's pure core: the datastore's objects → per-object validation (a bad object falls back to its
 * last good version) → model → the node's resolved rules → the datapath's desired state (nftables unless
 * the agent runs another backend). No I/O, no clock: the agent hands it the objects it holds and applies
 * what comes back with its datapath, whose diff is what makes a change incremental (nftables: one policy
 * edit rewrites only the chains and sets of the endpoints it selects; see test/agent/reconcile.test.ts).
 *
 * Work is kept between calls so that a sync costs what changed, not what the datastore holds: each
 * object's parse result lives in its ObjectState (only changed texts are parsed, and the merge of all
 * of them is `assembleSources`, cheap next to YAML parsing); a model builder and a node resolver passed in
 * the options rebuild only the parts of the model and the endpoints' rules a change reaches, and the
 * agent's datapath recompiles only endpoints whose rules changed. All give exactly what a from-scratch
 * call would.
 */
import type { ParsedSource } from '../dialects/index.js';
import { assembleSources, parseSource } from '../dialects/index.js';
import { nftablesBackend, resolveNodeRules } from '../datapath/index.js';
import type { NftTable, NodeDatapath, NodeResolver, NodeRules, Unsupported } from '../datapath/index.js';
import { DEFAULT_TIERS, buildModel } from '../engine/index.js';
import type { ModelBuilder, PolicyModel } from '../engine/index.js';
import type { Diagnostic } from '../ir/index.js';
import { endpointKey, hasErrors } from '../ir/index.js';
import type { Cluster } from '../ir/index.js';
import type { Tier } from '../ir/index.js';

/** What the datastore holds: object id (file path or etcd key) → text (YAML or JSON). */
export type DesiredObjects = ReadonlyMap<string, string>;

/** One object as last validated: its current text, and the text enforced for it (absent: nothing). */
export interface ObjectState {
  readonly text: string;
  readonly good?: string;
  /** What `good` parses to on its own (reused until it changes); absent when there is no good text. */
  readonly parsed?: ParsedSource;
  /** Errors and warnings of the current text. */
  readonly diagnostics: readonly Diagnostic[];
}

export type ObjectStates = ReadonlyMap<string, ObjectState>;

export type AgentEvent =
  | {
      readonly type: 'object-rejected';
      readonly id: string;
      /** `last-good`: the previous valid version stays enforced; `nothing`: the object is skipped. */
      readonly kept: 'last-good' | 'nothing';
      readonly diagnostics: readonly Diagnostic[];
    }
  | { readonly type: 'object-recovered'; readonly id: string };

export interface Counts {
  /** Pod-network endpoints of this node with rules programmed. */
  readonly endpoints: number;
  /** Policies the datastore holds (valid ones, with last-good versions). */
  readonly policies: number;
  /** Policies that apply to at least one endpoint of this node. */
  readonly policiesOnNode: number;
  /** Resolved rules across the node's endpoints, both directions. */
  readonly rules: number;
  /** Elements of every set and map of the table. */
  readonly setElements: number;
  readonly chains: number;
  readonly sets: number;
}

export interface Reconciled<D = NftTable> {
  /** The datapath's desired state (nftables: the table). */
  readonly table: D;
  /** Parts of the rules the datapath cannot express, left out (backend.ts). */
  readonly unsupported: readonly Unsupported[];
  /** What the table was compiled from: for flow attribution and strict mode (engine verdicts). */
  readonly model: PolicyModel;
  readonly rules: NodeRules;
  readonly objects: ObjectStates;
  readonly events: readonly AgentEvent[];
  /** Warnings across objects (duplicates, unknown kinds), for the log. */
  readonly warnings: readonly Diagnostic[];
  readonly counts: Counts;
}

export interface ReconcileOptions {
  readonly node: string;
  /**
   * Pod key → IPs the CNI plugin registered on this node (endpoints-registry.ts). They win over the
   * datastore's status.podIP for this node's pods: kubelet writes podIP only after ADD returned, and ADD
   * waits for the pod's rules, so the interface's address must be enforced before the datastore has it.
   */
  readonly registered?: ReadonlyMap<string, readonly string[]>;
  /**
   * The agent's long-lived model builder (`createModelBuilder`) and the resolver of `node`
   * (`createNodeResolver(node)`), so a change rebuilds only what it reaches; absent: from scratch. Same
   * model and rules either way.
   */
  readonly models?: ModelBuilder;
  readonly resolver?: NodeResolver;
}

/** What reconcile needs of the agent's datapath: its (pure) compile. */
export type DatapathCompiler<D> = Pick<NodeDatapath<D>, 'compile'>;

export interface ReconcileWith<D> extends ReconcileOptions {
  /**
   * The node's long-lived datapath, whose compile may remember the last one (nftables: unchanged
   * endpoints are not recompiled); absent: nftables, from scratch. Same result either way.
   */
  readonly compiler: DatapathCompiler<D>;
}

/** `cluster` with this node's registered pods at their registered IPs. */
function withRegistered(cluster: Cluster, opts: ReconcileOptions): Cluster {
  const registered = opts.registered;
  if (registered === undefined || registered.size === 0) return cluster;
  return {
    ...cluster,
    endpoints: cluster.endpoints.map((e) => {
      const ips = e.hostNetwork || e.node !== opts.node ? undefined : registered.get(endpointKey(e));
      return ips === undefined || ips.length === 0 ? e : { ...e, ips };
    }),
  };
}

/**
 * Validates each object on its own, reusing the previous verdict when its text has not changed: an object
 * with errors keeps its last good text (or none), and says so once per change.
 */
export function validateObjects(
  desired: DesiredObjects,
  previous: ObjectStates,
): { objects: ObjectStates; events: AgentEvent[] } {
  const objects = new Map<string, ObjectState>();
  const events: AgentEvent[] = [];
  for (const [id, text] of [...desired].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const prev = previous.get(id);
    if (prev !== undefined && prev.text === text) {
      objects.set(id, prev);
      continue;
    }
    const parsed = parseSource({ file: id, text });
    const { diagnostics } = parsed;
    if (hasErrors(diagnostics)) {
      const good = prev?.good;
      const parsedGood = prev?.parsed;
      objects.set(
        id,
        good === undefined
          ? { text, diagnostics }
          : { text, good, ...(parsedGood === undefined ? {} : { parsed: parsedGood }), diagnostics },
      );
      events.push({
        type: 'object-rejected',
        id,
        kept: good === undefined ? 'nothing' : 'last-good',
        diagnostics: diagnostics.filter((d) => d.severity === 'error'),
      });
    } else {
      if (prev !== undefined && prev.good !== prev.text) events.push({ type: 'object-recovered', id });
      objects.set(id, { text, good: text, parsed, diagnostics });
    }
  }
  return { objects, events };
}

function tiersOf(declared: readonly Tier[]): Tier[] {
  const names = new Set(declared.map((t) => t.name));
  return [...DEFAULT_TIERS.filter((t) => !names.has(t.name)), ...declared];
}

function countRules(rules: NodeRules): { rules: number; policies: number } {
  let n = 0;
  const policies = new Set<string>();
  for (const ep of rules.endpoints) {
    for (const d of [ep.ingress, ep.egress]) {
      for (const t of d?.tiers ?? []) {
        for (const p of t.policies) {
          n += p.rules.length;
          policies.add(JSON.stringify(p.policy));
        }
      }
    }
  }
  return { rules: n, policies: policies.size };
}

function resolved(resolver: NodeResolver, model: PolicyModel): NodeRules {
  const r = resolver.resolve(model);
  if (!r.ok) throw r.error;
  return r.value;
}

/** The whole pure pipeline for one node. */
export function reconcile<D>(
  desired: DesiredObjects,
  previous: ObjectStates,
  opts: ReconcileWith<D>,
): Reconciled<D>;
export function reconcile(
  desired: DesiredObjects,
  previous: ObjectStates,
  opts: ReconcileOptions,
): Reconciled;
export function reconcile(
  desired: DesiredObjects,
  previous: ObjectStates,
  opts: ReconcileOptions & { readonly compiler?: DatapathCompiler<unknown> },
): Reconciled<unknown> {
  const { objects, events } = validateObjects(desired, previous);
  const parsed: ParsedSource[] = [];
  for (const [id, state] of objects) {
    if (state.good === undefined) continue;
    parsed.push(state.parsed ?? parseSource({ file: id, text: state.good }));
  }
  // Each source is valid on its own; together they can only add warnings (e.g. duplicates).
  const loaded = assembleSources(parsed);
  const warnings = loaded.diagnostics;
  const { policies, tiers } = loaded.value;
  const cluster = withRegistered(loaded.value.cluster, opts);
  const model = opts.models
    ? opts.models.build(cluster, policies, tiersOf(tiers))
    : buildModel(cluster, policies, tiersOf(tiers));
  // The model follows the default `kubernetes` semantics, the only one the datapath enforces.
  const rules = opts.resolver ? resolved(opts.resolver, model) : resolveNodeRules(model, opts.node);
  const compiled = (opts.compiler ?? nftablesBackend.create()).compile(rules);
  const r = countRules(rules);
  const size = compiled.size;
  return {
    table: compiled.desired,
    unsupported: compiled.unsupported,
    model,
    rules,
    objects,
    events,
    warnings,
    counts: {
      endpoints: rules.endpoints.length,
      policies: policies.length,
      policiesOnNode: r.policies,
      rules: r.rules,
      setElements: size.elements,
      chains: size.chains,
      sets: size.sets + size.maps,
    },
  };
}
