/**
 * The lab's desired state (cluster + policies + tiers, as loaded, with labels as edited) and every edit of
 * it, as pure functions over plain data: the daemon keeps one DesiredState and re-enforces after each edit;
 * `palisade demo` applies its steps with the same functions. Problems come back as diagnostics naming
 * file, document and field path, like every other input error of Palisade, because a user who wrote a
 * podIP outside the node's pod CIDR should be pointed at that line, not at a pod key.
 */
import { parseAllDocuments } from 'yaml';
import type { Loaded, Source } from '../../dialects/index.js';
import {
  DEFAULT_NAMESPACE,
  labelValueErrors,
  parseSources,
  qualifiedNameErrors,
} from '../../dialects/index.js';
import type { Diagnostic } from '../../ir/diagnostics.js';
import { hasErrors } from '../../ir/diagnostics.js';
import type { Cluster, ClusterNode, Endpoint, Namespace } from '../../ir/endpoint.js';
import { endpointKey } from '../../ir/endpoint.js';
import type { Labels } from '../../ir/labels.js';
import type { Outcome } from '../../ir/outcome.js';
import { failure, success } from '../../ir/outcome.js';
import { NAMESPACE_NAME_LABEL } from '../../ir/labels.js';
import type { Policy } from '../../ir/policy.js';
import { policyId } from '../../ir/policy.js';
import type { Tier } from '../../ir/tier.js';
import type { LabInput, LabPlan, PlanProblem, Routing } from '../topology.js';
import { tryPlanLab } from '../topology.js';
import type { LabelChange } from './protocol.js';

export interface DesiredState {
  readonly cluster: Cluster;
  readonly policies: readonly Policy[];
  readonly tiers: readonly Tier[];
}

export type Prepared<T> =
  | { readonly ok: true; readonly value: T; readonly warnings: readonly Diagnostic[] }
  | { readonly ok: false; readonly error: string; readonly diagnostics: readonly Diagnostic[] };

export type LabInputErrorCode =
  /** `--nodes` out of range. */
  | 'bad-node-count'
  /** `--nodes` given although the input names its nodes. */
  | 'nodes-already-named'
  | 'no-label-changes'
  /** A label argument that is neither KEY=VALUE nor KEY-. */
  | 'bad-label-syntax'
  | 'bad-label-key'
  | 'bad-label-value'
  /** A label Kubernetes sets itself (kubernetes.io/metadata.name). */
  | 'immutable-label'
  | 'unknown-namespace'
  | 'unknown-pod';

/** A lab input or edit that cannot be taken as it stands: the user's to fix (exit 1). */
export class LabInputError extends Error {
  override readonly name = 'LabInputError';
  constructor(
    readonly code: LabInputErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const refuse = (code: LabInputErrorCode, message: string) => failure(new LabInputError(code, message));

/** Generated nodes are named `node-1` … `node-N`. */
export const DEFAULT_NODE_COUNT = 1;
export const MAX_NODE_COUNT = 253;

// ---------------------------------------------------------------------------------------------------------
// Where objects sit in the sources, for diagnostics.

export interface Place {
  readonly file: string;
  readonly doc: number;
  /** `items[3].` inside a List, '' otherwise: the prefix of every field path of the object. */
  readonly base: string;
}

/** `Pod/ns/name`, `Node/name` or `Namespace/name` → where it was (last) written. */
export function locateObjects(sources: readonly Source[]): Map<string, Place> {
  const out = new Map<string, Place>();
  const visit = (obj: unknown, place: Place): void => {
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return;
    const o = obj as Record<string, unknown>;
    const kind = o['kind'];
    if (typeof kind === 'string' && kind.endsWith('List') && Array.isArray(o['items'])) {
      (o['items'] as unknown[]).forEach((item, i) => visit(item, { ...place, base: `items[${i}].` }));
      return;
    }
    const meta = o['metadata'] as Record<string, unknown> | undefined;
    const name = meta?.['name'];
    if (typeof name !== 'string') return;
    if (kind === 'Pod') {
      const ns =
        typeof meta?.['namespace'] === 'string' && meta['namespace'] !== '' ? meta['namespace'] : null;
      out.set(`Pod/${ns ?? DEFAULT_NAMESPACE}/${name}`, place);
    } else if (kind === 'Node' || kind === 'Namespace') out.set(`${kind}/${name}`, place);
  };
  for (const s of sources) {
    parseAllDocuments(s.text).forEach((doc, i) => {
      if (doc.errors.length > 0) return;
      try {
        visit(doc.toJS({ maxAliasCount: 1000 }), { file: s.file, doc: i, base: '' });
      } catch {
        // parseSources reports it
      }
    });
  }
  return out;
}

function diagnostic(
  places: ReadonlyMap<string, Place>,
  object: string,
  field: string,
  message: string,
  fallback: string,
): Diagnostic {
  const at = places.get(object);
  return at
    ? { code: 'invalid-value', severity: 'error', file: at.file, doc: at.doc, path: at.base + field, message }
    : { code: 'invalid-value', severity: 'error', file: fallback, doc: 0, path: '', message };
}

/** The field a plan problem is about, so the diagnostic points at the line to fix. */
const PROBLEM_FIELD: Readonly<Record<PlanProblem['code'], string>> = {
  'bad-lab-id': '',
  'no-nodes': '',
  'too-many-nodes': '',
  'duplicate-node': 'metadata.name',
  'bad-pod-cidr': 'spec.podCIDR',
  'overlapping-pod-cidr': 'spec.podCIDR',
  'duplicate-pod': 'metadata.name',
  'unknown-node': 'spec.nodeName',
  'ip-outside-pod-cidr': 'status.podIP',
  'reserved-ip': 'status.podIP',
  'duplicate-ip': 'status.podIP',
  'host-network-ip': 'status.podIP',
  'pod-cidr-exhausted': 'metadata.name',
  'name-collision': 'metadata.name',
};

const NODE_PROBLEMS = new Set<PlanProblem['code']>([
  'duplicate-node',
  'bad-pod-cidr',
  'overlapping-pod-cidr',
]);

export function planDiagnostics(problems: readonly PlanProblem[], sources: readonly Source[]): Diagnostic[] {
  const places = locateObjects(sources);
  const fallback = sources[0]?.file ?? '-';
  return problems.map((p) =>
    diagnostic(
      places,
      NODE_PROBLEMS.has(p.code) ? `Node/${p.subject}` : `Pod/${p.subject}`,
      PROBLEM_FIELD[p.code],
      p.message,
      fallback,
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------
// lab up: sources → LabInput + desired state + plan.

export interface LabSpec {
  readonly input: LabInput;
  readonly desired: DesiredState;
  readonly plan: LabPlan;
}

export interface PrepareOptions {
  readonly id: string;
  readonly routing: Routing;
  /** Only when the input names no node at all. */
  readonly nodes?: number;
}

const bareNode = (name: string): ClusterNode => ({ name, labels: {}, ips: [], podCIDRs: [] });

/**
 * The lab's nodes: the Node objects; else the spec.nodeName values of the pods; else `count` generated
 * ones. A `count` alongside named nodes is a mistake worth saying, not a silent override.
 */
export function labNodes(cluster: Cluster, count: number | undefined): Outcome<ClusterNode[], LabInputError> {
  if (count !== undefined && (!Number.isInteger(count) || count < 1 || count > MAX_NODE_COUNT))
    return refuse('bad-node-count', `--nodes ${count}: between 1 and ${MAX_NODE_COUNT}`);
  const named = [...new Set(cluster.endpoints.flatMap((e) => (e.node === undefined ? [] : [e.node])))].sort();
  if (cluster.nodes.length > 0 || named.length > 0) {
    if (count !== undefined) {
      const which = cluster.nodes.length > 0 ? 'Node objects' : 'spec.nodeName values';
      const names = (cluster.nodes.length > 0 ? cluster.nodes.map((n) => n.name) : named).join(', ');
      return refuse(
        'nodes-already-named',
        `--nodes ${count}: the input already names its nodes in ${which} (${names})`,
      );
    }
    return success(cluster.nodes.length > 0 ? [...cluster.nodes] : named.map(bareNode));
  }
  return success(Array.from({ length: count ?? DEFAULT_NODE_COUNT }, (_, i) => bareNode(`node-${i + 1}`)));
}

function loadErrors(diagnostics: readonly Diagnostic[]): Prepared<never> {
  const n = diagnostics.filter((d) => d.severity === 'error').length;
  return {
    ok: false,
    error: `${n} error${n === 1 ? '' : 's'} in the input; nothing was changed`,
    diagnostics,
  };
}

/** Parses and plans without touching the kernel: `lab up` runs it before starting anything. */
export function prepareLab(sources: readonly Source[], opts: PrepareOptions): Prepared<LabSpec> {
  const { value: loaded, diagnostics } = parseSources(sources);
  if (hasErrors(diagnostics)) return loadErrors(diagnostics);
  const counted = labNodes(loaded.cluster, opts.nodes);
  if (!counted.ok) return { ok: false, error: counted.error.message, diagnostics: [] };
  const nodes = counted.value;
  const cluster: Cluster = { ...loaded.cluster, nodes };
  const input: LabInput = {
    nodes,
    endpoints: cluster.endpoints,
    namespaces: cluster.namespaces,
    routing: opts.routing,
  };
  const planned = tryPlanLab(input, opts.id);
  if (!planned.ok) {
    const ds = planDiagnostics(planned.problems, sources);
    return {
      ok: false,
      error: `${ds.length} problem${ds.length === 1 ? '' : 's'} in the input; the lab was not built`,
      diagnostics: ds,
    };
  }
  return {
    ok: true,
    value: {
      input,
      plan: planned.plan,
      desired: { cluster, policies: loaded.policies, tiers: loaded.tiers },
    },
    warnings: diagnostics,
  };
}

// ---------------------------------------------------------------------------------------------------------
// lab apply / lab delete.

const policyLabel = (p: Policy): string =>
  `${p.ref.kind} ${p.ref.namespace === undefined ? '' : `${p.ref.namespace}/`}${p.ref.name}`;

/**
 * Adds or replaces (by kind, namespace and name) the policies and tiers of `loaded`, and takes the labels
 * of its Pods and Namespaces, as `kubectl apply` would. Pods and nodes are fixed when the lab is built:
 * one the lab lacks is an error naming where it was written.
 */
export function applyLoaded(
  desired: DesiredState,
  loaded: Loaded,
  sources: readonly Source[],
): Prepared<{ desired: DesiredState; edits: string[] }> {
  const places = locateObjects(sources);
  const pods = new Map(desired.cluster.endpoints.map((e) => [endpointKey(e), e]));
  const nodes = new Set(desired.cluster.nodes.map((n) => n.name));
  const fallback = sources[0]?.file ?? '-';
  const problems: Diagnostic[] = [];
  for (const e of loaded.cluster.endpoints) {
    if (!pods.has(endpointKey(e)))
      problems.push(
        diagnostic(
          places,
          `Pod/${endpointKey(e)}`,
          'metadata.name',
          `the lab has no pod ${endpointKey(e)}: pods are fixed when the lab is built (lab down, then lab up)`,
          fallback,
        ),
      );
  }
  for (const n of loaded.cluster.nodes) {
    if (!nodes.has(n.name))
      problems.push(
        diagnostic(places, `Node/${n.name}`, 'metadata.name', `the lab has no node ${n.name}`, fallback),
      );
  }
  if (problems.length > 0)
    return {
      ok: false,
      error: 'the input does not fit the running lab; nothing was changed',
      diagnostics: problems,
    };

  const edits: string[] = [];
  let cluster = desired.cluster;
  const declaredNs = new Set(
    [...places.keys()].filter((k) => k.startsWith('Namespace/')).map((k) => k.slice('Namespace/'.length)),
  );
  for (const ns of loaded.cluster.namespaces) {
    const current = cluster.namespaces.find((n) => n.name === ns.name);
    if (current === undefined) {
      cluster = { ...cluster, namespaces: [...cluster.namespaces, ns] };
      edits.push(`created Namespace ${ns.name}`);
    } else if (declaredNs.has(ns.name) && !sameLabels(current.labels, ns.labels)) {
      cluster = setNamespaceLabels(cluster, ns.name, ns.labels);
      edits.push(`relabeled Namespace ${ns.name}`);
    }
  }
  for (const e of loaded.cluster.endpoints) {
    const current = pods.get(endpointKey(e));
    if (current && !sameLabels(current.labels, e.labels)) {
      cluster = setPodLabels(cluster, endpointKey(e), e.labels);
      edits.push(`relabeled Pod ${endpointKey(e)}`);
    }
  }
  const policies = new Map(desired.policies.map((p) => [policyId(p.ref), p]));
  for (const p of loaded.policies) {
    const id = policyId(p.ref);
    const before = policies.get(id);
    // Re-inserted at the end, as the loader orders a later duplicate.
    policies.delete(id);
    policies.set(id, p);
    if (before === undefined) edits.push(`created ${policyLabel(p)}`);
    else edits.push(`${samePolicy(before, p) ? 'unchanged' : 'configured'} ${policyLabel(p)}`);
  }
  const tiers = new Map(desired.tiers.map((t) => [t.name, t]));
  for (const t of loaded.tiers) {
    if (!tiers.has(t.name)) edits.push(`created tier ${t.name}`);
    tiers.set(t.name, t);
  }
  return {
    ok: true,
    value: { desired: { cluster, policies: [...policies.values()], tiers: [...tiers.values()] }, edits },
    warnings: [],
  };
}

/** Removes the policies (and declared tiers) of `loaded`; pods and namespaces stay, as the lab needs them. */
export function deleteLoaded(
  desired: DesiredState,
  loaded: Loaded,
): { desired: DesiredState; edits: string[] } {
  const edits: string[] = [];
  const policies = new Map(desired.policies.map((p) => [policyId(p.ref), p]));
  for (const p of loaded.policies) {
    edits.push(`${policies.delete(policyId(p.ref)) ? 'deleted' : 'not found:'} ${policyLabel(p)}`);
  }
  const remaining = [...policies.values()];
  const used = new Set(remaining.map((p) => p.tier));
  const drop = new Set(loaded.tiers.filter((t) => !used.has(t.name)).map((t) => t.name));
  for (const name of drop) edits.push(`deleted tier ${name}`);
  const skipped = loaded.cluster.endpoints.length;
  if (skipped > 0) edits.push(`kept ${skipped} pod(s): pods live as long as the lab`);
  return {
    desired: { ...desired, policies: remaining, tiers: desired.tiers.filter((t) => !drop.has(t.name)) },
    edits,
  };
}

function sameLabels(a: Labels, b: Labels): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

function samePolicy(a: Policy, b: Policy): boolean {
  // file, doc and lines say where it was written, not what it means
  const strip = (p: Policy) => ({
    ...p,
    ref: { ...p.ref, file: undefined, doc: undefined },
    lines: undefined,
  });
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}

// ---------------------------------------------------------------------------------------------------------
// lab label.

/** `k=v` sets, `k-` removes; keys and values checked as the API server would. */
export function parseLabelChanges(args: readonly string[]): Outcome<LabelChange[], LabInputError> {
  if (args.length === 0) return refuse('no-label-changes', 'no label changes: pass KEY=VALUE or KEY-');
  const out: LabelChange[] = [];
  for (const a of args) {
    const eq = a.indexOf('=');
    const key = eq >= 0 ? a.slice(0, eq) : a.endsWith('-') ? a.slice(0, -1) : undefined;
    if (key === undefined) return refuse('bad-label-syntax', `"${a}": expected KEY=VALUE or KEY-`);
    const keyErrors = qualifiedNameErrors(key);
    if (keyErrors.length > 0) return refuse('bad-label-key', `"${a}": label key: ${keyErrors.join('; ')}`);
    if (eq < 0) {
      out.push({ key });
      continue;
    }
    const value = a.slice(eq + 1);
    const valueErrors = labelValueErrors(value);
    if (valueErrors.length > 0)
      return refuse('bad-label-value', `"${a}": label value: ${valueErrors.join('; ')}`);
    out.push({ key, value });
  }
  return success(out);
}

function edit(labels: Labels, changes: readonly LabelChange[]): Labels {
  const out: Record<string, string> = { ...labels };
  for (const c of changes) {
    if (c.value === undefined) delete out[c.key];
    else out[c.key] = c.value;
  }
  return out;
}

function setPodLabels(cluster: Cluster, key: string, labels: Labels): Cluster {
  return {
    ...cluster,
    endpoints: cluster.endpoints.map((e): Endpoint => (endpointKey(e) === key ? { ...e, labels } : e)),
  };
}

/** A namespace's labels live twice: on the namespace, and copied onto each of its pods for selectors. */
function setNamespaceLabels(cluster: Cluster, name: string, labels: Labels): Cluster {
  return {
    ...cluster,
    namespaces: cluster.namespaces.map((n): Namespace => (n.name === name ? { ...n, labels } : n)),
    endpoints: cluster.endpoints.map((e): Endpoint =>
      e.namespace === name ? { ...e, namespaceLabels: labels } : e,
    ),
  };
}

export function labelObject(
  desired: DesiredState,
  kind: 'ns' | 'pod',
  name: string,
  changes: readonly LabelChange[],
): Outcome<{ desired: DesiredState; edits: string[] }, LabInputError> {
  const describe = (before: Labels, after: Labels): string => {
    const parts = changes.map((c) =>
      c.value === undefined
        ? before[c.key] === undefined
          ? `${c.key} (not set)`
          : `-${c.key}`
        : before[c.key] === c.value
          ? `${c.key}=${c.value} (unchanged)`
          : `${c.key}=${c.value}`,
    );
    return `${sameLabels(before, after) ? 'unchanged' : 'labeled'} ${parts.join(' ')}`;
  };
  if (kind === 'ns') {
    if (changes.some((c) => c.key === NAMESPACE_NAME_LABEL))
      return refuse('immutable-label', `${NAMESPACE_NAME_LABEL} is set by Kubernetes and cannot be changed`);
    const ns = desired.cluster.namespaces.find((n) => n.name === name);
    if (!ns) return refuse('unknown-namespace', `no namespace ${name} in the lab`);
    const labels = edit(ns.labels, changes);
    return success({
      desired: { ...desired, cluster: setNamespaceLabels(desired.cluster, name, labels) },
      edits: [`Namespace ${name} ${describe(ns.labels, labels)}`],
    });
  }
  const pod = desired.cluster.endpoints.find((e) => endpointKey(e) === name);
  if (!pod) return refuse('unknown-pod', `no pod ${name} in the lab`);
  const labels = edit(pod.labels, changes);
  return success({
    desired: { ...desired, cluster: setPodLabels(desired.cluster, name, labels) },
    edits: [`Pod ${name} ${describe(pod.labels, labels)}`],
  });
}
