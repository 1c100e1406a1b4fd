/**
 * Enforces a policy set on a running lab: per node, the engine's model → the node's resolved rules → the
 * chosen datapath, applied inside the node's netns. Every pod's traffic crosses its node's netns: between
 * two pods of one node it is forwarded from veth to veth (egress and ingress both checked there); between
 * nodes the source node checks egress on the way out and the destination node ingress on the way in; a
 * host-network pod lives in the node netns, so what it sends leaves through the output hook, which no
 * datapath filters (ingress from a pod's own node is always allowed), and what pods send to it is checked
 * as egress at the input hook of its node.
 *
 * The datapaths are interchangeable: `nftables` (diff against the kernel, one transaction, so going from
 * one policy set to the next sends only the difference; each node keeps an incremental compiler and an
 * applier that remembers what it applied, so with `verify: false` a change skips reading the kernel back), `iptables` (the baseline: a full restore of the
 * filter table every time) and `none` (tear both down: everything is allowed). Whatever the datapath, the
 * lab keeps a model builder and each node a resolver (createNodeResolver), so model and resolved rules
 * are recomputed only where a change reaches.
 */
import { performance } from 'node:perf_hooks';
import {
  applyIptables,
  changesetSummary,
  compileIptables,
  createNftApplier,
  createNftCompiler,
  createNodeResolver,
  formatUnsupported,
  teardownIptables,
  teardownNftables,
} from '../datapath/index.js';
import type { NftApplier, NftCompiler, NodeResolver, NodeRules } from '../datapath/index.js';
import { DEFAULT_TIERS, createModelBuilder } from '../engine/index.js';
import type { ModelBuilder, PolicyModel } from '../engine/index.js';
import type { Cluster } from '../ir/endpoint.js';
import type { Policy } from '../ir/policy.js';
import type { Tier } from '../ir/tier.js';
import { LabBindError, bindCluster } from './cluster.js';
import { mapLimit } from './netns.js';
import type { LabPlan } from './topology.js';

export type DatapathKind = 'nftables' | 'iptables' | 'none';

/** What the dialects load (`parseSources(...).value`); `tiers` are those the input declares. */
export interface PolicyInput {
  readonly cluster: Cluster;
  readonly policies: readonly Policy[];
  readonly tiers?: readonly Tier[];
}

export interface EnforceOptions {
  readonly datapath: DatapathKind;
  /**
   * nftables: read each node's table back and diff against it (repairs hand edits). Default true; false
   * diffs against what this process last applied there (what a change at scale needs: the read-back
   * costs more than the write), still reading back after a failure or a datapath switch.
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
  /** Wall time for this node: resolve, compile, read back (nftables), apply. */
  readonly ms: number;
  /** Whether the kernel was written to. */
  readonly changed: boolean;
  /**
   * nftables: the changeset's counts (sets/chains added, replaced, deleted; elements added, deleted);
   * iptables: rules restored per family; none: tables removed.
   */
  readonly changes: Readonly<Record<string, number>>;
  /** Parts of the policy the datapath cannot express and left out (see compileIptables' `unsupported`). */
  readonly unsupported: readonly string[];
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
 * first. `unknown` after a failed enforce: then both others are torn down.
 */
type Applied = DatapathKind | 'unknown';
const applied = new WeakMap<LabPlan, Applied>();

/** Per lab and node netns: the nftables compiler and applier, whose memories make a change cheap. */
interface NodeNft {
  readonly compiler: NftCompiler;
  readonly applier: NftApplier;
}
const nftState = new WeakMap<LabPlan, Map<string, NodeNft>>();

function nodeNft(plan: LabPlan, netns: string): NodeNft {
  let nodes = nftState.get(plan);
  if (!nodes) nftState.set(plan, (nodes = new Map<string, NodeNft>()));
  let n = nodes.get(netns);
  if (!n) nodes.set(netns, (n = { compiler: createNftCompiler(), applier: createNftApplier({ netns }) }));
  return n;
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

function countRules(script: string): number {
  return script.split('\n').filter((l) => l.startsWith('-A ')).length;
}

async function enforceNode(
  model: PolicyModel,
  mem: LabMemory,
  node: { readonly name: string; readonly netns: string },
  nft: NodeNft,
  opts: EnforceOptions,
  previous: Applied,
): Promise<NodeEnforcement> {
  const datapath = opts.datapath;
  const started = performance.now();
  const target = { netns: node.netns };
  const done = (
    changed: boolean,
    changes: Record<string, number>,
    unsupported: readonly string[] = [],
  ): NodeEnforcement => ({
    node: node.name,
    netns: node.netns,
    ms: Math.round((performance.now() - started) * 10) / 10,
    changed,
    changes,
    unsupported,
  });
  switch (datapath) {
    case 'nftables': {
      if (previous === 'iptables' || previous === 'unknown') await teardownIptables(target);
      // The table was torn down (or may be in an unknown state) since the applier last wrote it.
      if (previous !== 'nftables') nft.applier.resync();
      const result = await nft.applier.apply(nft.compiler.compile(nodeRules(mem, model, node.name)), {
        verify: opts.verify ?? true,
      });
      return done(result.changed, changesetSummary(result.changeset));
    }
    case 'iptables': {
      if (previous === 'nftables' || previous === 'unknown') await teardownNftables(target);
      const scripts = compileIptables(nodeRules(mem, model, node.name));
      await applyIptables(scripts, target);
      return done(
        true,
        { v4Rules: countRules(scripts.v4), v6Rules: countRules(scripts.v6) },
        scripts.unsupported.map(formatUnsupported),
      );
    }
    case 'none': {
      let removed = 0;
      if (previous === 'nftables' || previous === 'unknown')
        removed += Number(await teardownNftables(target));
      if (previous === 'iptables' || previous === 'unknown') {
        await teardownIptables(target);
        removed += 1;
      }
      return done(removed > 0, { tablesRemoved: removed });
    }
  }
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
    enforceNode(model, mem, n, nodeNft(lab.plan, n.netns), opts, previous),
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
