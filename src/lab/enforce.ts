/**
 * Enforces a policy set on a running lab: per node, the engine's model → the node's resolved rules → the
 * chosen datapath, applied inside the node's netns. Every pod's traffic crosses its node's netns: between
 * two pods of one node it is forwarded from veth to veth (egress and ingress both checked there); between
 * nodes the source node checks egress on the way out and the destination node ingress on the way in; a
 * host-network pod lives in the node netns, so what it sends leaves through the output hook, which no
 * datapath filters (ingress from a pod's own node is always allowed), and what pods send to it is checked
 * as egress at the input hook of its node.
 *
 * The datapath is any backend of the registry (src/datapath/registry.ts), picked by name; each node keeps
 * one instance per backend, whose memories (nftables: an incremental compiler, and an applier that diffs
 * against what it applied, so with `verify: false` a change skips reading the kernel back) make a change
 * cheap. `none` is no backend: it tears down whatever a backend left, and everything is allowed. Whatever
 * the datapath, the lab keeps a model builder and each node a resolver (createNodeResolver), so model and
 * resolved rules are recomputed only where a change reaches.
 */
import { performance } from 'node:perf_hooks';
import { BACKEND_NAMES, createNodeResolver, getBackend } from '../datapath/index.js';
import type {
  BackendName,
  NodeDatapath,
  NodeResolver,
  NodeRules,
  Touched,
  Unsupported,
} from '../datapath/index.js';
import { DEFAULT_TIERS, createModelBuilder } from '../engine/index.js';
import type { ModelBuilder, PolicyModel } from '../engine/index.js';
import type { Cluster } from '../ir/endpoint.js';
import type { Policy } from '../ir/policy.js';
import type { Tier } from '../ir/tier.js';
import { LabBindError, bindCluster } from './cluster.js';
import { mapLimit } from './netns.js';
import type { LabPlan } from './topology.js';

/** A backend of the registry, or `none`: nothing enforced. */
export type DatapathKind = BackendName | 'none';

/** What the dialects load (`parseSources(...).value`); `tiers` are those the input declares. */
export interface PolicyInput {
  readonly cluster: Cluster;
  readonly policies: readonly Policy[];
  readonly tiers?: readonly Tier[];
}

export interface EnforceOptions {
  readonly datapath: DatapathKind;
  /**
   * Compare against each node's kernel, read back (repairs hand edits; ApplyOptions.verify). Default
   * true; false compares against what this process last applied there (what a change at scale needs: the
   * read-back costs more than the write), still reading back after a failure or a datapath switch.
   */
  readonly verify?: boolean;
}

/** What enforceLab needs of a lab; a running Lab is one. */
export interface EnforceableLab {
  readonly plan: LabPlan;
  readonly cluster: Cluster;
}

export interface NodeEnforcement {
  readonly node: string;
  readonly netns: string;
  /** Wall time for this node: tear down a previous datapath, resolve, compile, (read back,) apply. */
  readonly ms: number;
  /** Whether the kernel was written to. */
  readonly changed: boolean;
  /**
   * The backend's ApplyResult.summary (nftables: the changeset's counts of sets/chains added, replaced,
   * deleted and elements added, deleted; iptables: rules restored per family); none: tables removed.
   */
  readonly changes: Readonly<Record<string, number>>;
  /**
   * The kernel objects the apply wrote, by name (ApplyResult.touched), in every backend's terms alike;
   * none: nothing (what a teardown removed is in `changes`).
   */
  readonly touched: Touched;
  /** Parts of the policy the datapath cannot express and left out, each naming the capability it lacks. */
  readonly unsupported: readonly Unsupported[];
}

export interface EnforceReport {
  readonly datapath: DatapathKind;
  readonly ms: number;
  /** The cluster the engine was given: the input's, at the lab's addresses, plus the lab's other pods. */
  readonly cluster: Cluster;
  /** The model enforced; `computeMatrix(report.model, …)` is what the probes must measure. */
  readonly model: PolicyModel;
  readonly nodes: readonly NodeEnforcement[];
}

/**
 * The datapath last applied to each lab (none for a fresh one): switching tears the previous one down
 * first. `unknown` after a failed enforce: then every other backend is torn down.
 */
type Applied = DatapathKind | 'unknown';
const applied = new WeakMap<LabPlan, Applied>();

/** Per lab, node netns and backend: the instance, whose memory makes a change cheap. */
const instances = new WeakMap<LabPlan, Map<string, NodeDatapath>>();

function instance(plan: LabPlan, netns: string, name: BackendName): NodeDatapath {
  let nodes = instances.get(plan);
  if (!nodes) instances.set(plan, (nodes = new Map<string, NodeDatapath>()));
  const key = `${name} ${netns}`;
  let dp = nodes.get(key);
  if (!dp) nodes.set(key, (dp = getBackend(name).create({ netns })));
  return dp;
}

/**
 * Per lab: the model builder and each node's resolver, whose memories make a change cost what it touches
 * (a one-policy edit at 10k rules rebuilt every endpoint's rules before).
 */
interface LabMemory {
  readonly models: ModelBuilder;
  readonly resolvers: Map<string, NodeResolver>;
}
const memory = new WeakMap<LabPlan, LabMemory>();

function labMemory(plan: LabPlan): LabMemory {
  let m = memory.get(plan);
  if (!m) memory.set(plan, (m = { models: createModelBuilder(), resolvers: new Map() }));
  return m;
}

/** What resolveNodeRules(model, node) gives, from the node's long-lived resolver. */
function nodeRules(mem: LabMemory, model: PolicyModel, node: string): NodeRules {
  let resolver = mem.resolvers.get(node);
  if (!resolver) mem.resolvers.set(node, (resolver = createNodeResolver(node)));
  const r = resolver.resolve(model);
  if (!r.ok) throw r.error;
  return r.value;
}

/** The built-in tiers plus those the input declares (a declared tier replaces a built-in of its name). */
function tiersOf(input: PolicyInput): Tier[] {
  const declared = input.tiers ?? [];
  const names = new Set(declared.map((t) => t.name));
  return [...DEFAULT_TIERS.filter((t) => !names.has(t.name)), ...declared];
}

/** The backends that may hold state on a node, other than the one about to be applied. */
function stale(previous: Applied, next: DatapathKind): BackendName[] {
  if (previous === 'unknown') return BACKEND_NAMES.filter((b) => b !== next);
  return previous === 'none' || previous === next ? [] : [previous];
}

const NOTHING_TOUCHED: Touched = { chains: [], sets: [] };

async function enforceNode(
  plan: LabPlan,
  model: PolicyModel,
  mem: LabMemory,
  node: { readonly name: string; readonly netns: string },
  opts: EnforceOptions,
  previous: Applied,
): Promise<NodeEnforcement> {
  const started = performance.now();
  let removed = 0;
  for (const name of stale(previous, opts.datapath))
    removed += Number(await instance(plan, node.netns, name).teardown());
  const done = (
    changed: boolean,
    changes: Readonly<Record<string, number>>,
    touched: Touched = NOTHING_TOUCHED,
    unsupported: readonly Unsupported[] = [],
  ): NodeEnforcement => ({
    node: node.name,
    netns: node.netns,
    ms: Math.round((performance.now() - started) * 10) / 10,
    changed,
    changes,
    touched,
    unsupported,
  });
  if (opts.datapath === 'none') return done(removed > 0, { tablesRemoved: removed });
  const dp = instance(plan, node.netns, opts.datapath);
  const compiled = dp.compile(nodeRules(mem, model, node.name));
  // After a switch or a failure the kernel may not be what the instance last applied: read it back.
  const verify = (opts.verify ?? true) || previous !== opts.datapath;
  const result = await dp.apply(compiled.desired, { verify });
  return done(result.changed, result.summary, result.touched, compiled.unsupported);
}

/**
 * Builds the model of `input` on the lab's addresses and enforces it on every node of the lab, nodes in
 * parallel. Throws LabBindError when the input names pods or nodes the lab does not have, and
 * CommandError when the kernel refuses a change. Assumes nothing but Palisade writes the nodes'
 * filter tables (a fresh lab has none).
 */
export async function enforceLab(
  lab: EnforceableLab,
  input: PolicyInput,
  opts: EnforceOptions,
): Promise<EnforceReport> {
  const started = performance.now();
  const bound = bindCluster(input.cluster, lab.cluster);
  if (!bound.ok) throw new LabBindError(bound.problems);
  const mem = labMemory(lab.plan);
  const model = mem.models.build(bound.cluster, input.policies, tiersOf(input));
  const previous = applied.get(lab.plan) ?? 'none';
  // Until every node has succeeded the kernel state is unknown: the next call tears everything down first.
  applied.set(lab.plan, 'unknown');
  const nodes = await mapLimit(lab.plan.nodes, 8, (n) =>
    enforceNode(lab.plan, model, mem, n, opts, previous),
  );
  applied.set(lab.plan, opts.datapath);
  return {
    datapath: opts.datapath,
    ms: Math.round(performance.now() - started),
    cluster: bound.cluster,
    model,
    nodes,
  };
}
