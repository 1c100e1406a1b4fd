/**
 * Cilium EndpointSelectors: Kubernetes LabelSelectors whose keys may carry a label source (`k8s:app`,
 * `any:app`, `reserved:host`) and whose special keys name a pod's namespace, its namespace's labels,
 * its service account or its cluster (docs.cilium.io "Using Kubernetes Constructs in Policy").
 */
import type { Entity, NamespaceScope, Requirement, Selector } from '../ir/index.js';
import { NAMESPACE_NAME_LABEL, SELECT_ALL } from '../ir/index.js';
import { isObj, typeName, type Obj } from './fields.js';
import { labelSelectorToIr } from './k8s-selector.js';
import { at, index, type Reporter } from './report.js';

/** Label holding a pod's namespace name (io.kubernetes.pod.namespace, pkg/k8s/apis/cilium.io). */
const POD_NAMESPACE = 'io.kubernetes.pod.namespace';
/** Prefix under which Cilium copies the labels of a pod's namespace onto the pod's identity. */
const NAMESPACE_LABELS = 'io.cilium.k8s.namespace.labels.';
/** Identity labels Palisade's IR cannot select on: selectors cover pod and namespace labels only. */
const UNMODELLED_KEYS: Readonly<Record<string, string>> = {
  'io.cilium.k8s.policy.serviceaccount': 'service-account selection is not represented in the IR',
  'io.cilium.k8s.policy.cluster': 'Cluster Mesh cluster names are not modelled',
};
/** Sources that mean "a Kubernetes label": `any` matches every source, `k8s` the pod's own labels. */
const LABEL_SOURCES = ['k8s', 'any'];

/** Cilium entities (api.Entity) and the IR entity each one is; `undefined` marks those the IR lacks. */
export const CILIUM_ENTITIES: Readonly<Record<string, Entity | 'none' | undefined>> = {
  all: 'all',
  world: 'world',
  cluster: 'cluster',
  host: 'host',
  'remote-node': 'remote-node',
  'kube-apiserver': 'kube-apiserver',
  // Selects no identity by definition, so it adds no peer.
  none: 'none',
  init: undefined,
  health: undefined,
  unmanaged: undefined,
  ingress: undefined,
  'world-ipv4': undefined,
  'world-ipv6': undefined,
};

/** What a Cilium EndpointSelector selects once its special keys are sorted out. */
export type CiliumSelection =
  | {
      readonly kind: 'endpoints';
      /** Requirements on the namespace's labels (`kubernetes.io/metadata.name` for the name). */
      readonly namespaceRequirements: readonly Requirement[];
      /** True when a requirement names the namespace itself (not only its labels). */
      readonly namesNamespace: boolean;
      readonly pods: Selector;
    }
  | { readonly kind: 'reserved'; readonly name: string };

interface Key {
  readonly source: string;
  readonly key: string;
}

function splitSource(raw: string): Key {
  const colon = raw.indexOf(':');
  return colon < 0 ? { source: 'any', key: raw } : { source: raw.slice(0, colon), key: raw.slice(colon + 1) };
}

/**
 * Reads a Cilium EndpointSelector at `path`. `reserved:` labels are only accepted as the whole selector
 * (`matchLabels: {reserved:host: ""}`), the form Cilium's own entity selectors take. Undefined when an
 * error was reported.
 */
export function ciliumSelectorToIr(value: unknown, path: string, r: Reporter): CiliumSelection | undefined {
  if (!isObj(value)) {
    r.error('invalid-type', path, `must be an object, got ${typeName(value)}`);
    return undefined;
  }
  const before = r.errorCount;
  const reserved = reservedName(value, path, r);
  if (reserved !== undefined)
    return r.errorCount === before ? { kind: 'reserved', name: reserved } : undefined;

  const stripped = stripSources(value, path, r);
  const selector = labelSelectorToIr(stripped, path, r);
  if (selector === undefined || r.errorCount !== before) return undefined;

  const requirements = selector.kind === 'match' ? selector.requirements : [];
  const namespaceRequirements: Requirement[] = [];
  const podRequirements: Requirement[] = [];
  let namesNamespace = false;
  for (const req of requirements) {
    if (req.key === POD_NAMESPACE) {
      namespaceRequirements.push({ ...req, key: NAMESPACE_NAME_LABEL });
      namesNamespace = true;
    } else if (req.key.startsWith(NAMESPACE_LABELS)) {
      namespaceRequirements.push({ ...req, key: req.key.slice(NAMESPACE_LABELS.length) });
    } else podRequirements.push(req);
  }
  return {
    kind: 'endpoints',
    namespaceRequirements,
    namesNamespace,
    pods: podRequirements.length === 0 ? SELECT_ALL : { kind: 'match', requirements: podRequirements },
  };
}

/** A scope over namespaces from label requirements: none means every namespace. */
export function namespaceScope(requirements: readonly Requirement[]): NamespaceScope {
  return {
    kind: 'selector',
    selector: requirements.length === 0 ? SELECT_ALL : { kind: 'match', requirements },
  };
}

/** The reserved label a selector consists of, or undefined when it has none (errors when mixed). */
function reservedName(o: Obj, path: string, r: Reporter): string | undefined {
  const labels = isObj(o['matchLabels']) ? Object.keys(o['matchLabels']) : [];
  const exprs = Array.isArray(o['matchExpressions']) ? (o['matchExpressions'] as unknown[]) : [];
  const exprKeys = exprs.map((e) => (isObj(e) && typeof e['key'] === 'string' ? e['key'] : ''));
  const reservedLabel = labels.find((k) => splitSource(k).source === 'reserved');
  const reservedExpr = exprKeys.findIndex((k) => splitSource(k).source === 'reserved');
  if (reservedLabel === undefined && reservedExpr < 0) return undefined;
  if (reservedLabel === undefined || labels.length !== 1 || exprs.length > 0) {
    r.error(
      'unsupported-value',
      reservedLabel === undefined ? at(index(at(path, 'matchExpressions'), reservedExpr), 'key') : path,
      'a selector with a `reserved:` label can only be `matchLabels: {reserved:<entity>: ""}`; ' +
        'use fromEntities/toEntities instead',
    );
    return '';
  }
  return splitSource(reservedLabel).key;
}

/**
 * A copy of the selector with `k8s:`/`any:` removed from its keys, so the Kubernetes validation applies to
 * the label key itself. Other sources and the unmodelled special keys are reported here, where the
 * path of the offending key is still known. Shape errors are left to `labelSelectorToIr`, which reports
 * them once.
 */
function stripSources(o: Obj, path: string, r: Reporter): Obj {
  const out: Record<string, unknown> = { ...o };
  const check = (raw: string, p: string): string => {
    const { source, key } = splitSource(raw);
    if (!LABEL_SOURCES.includes(source)) {
      r.error(
        'unsupported-value',
        p,
        `"${raw}": label source "${source}" is not modelled (supported: k8s, any)`,
      );
    } else {
      const why = Object.hasOwn(UNMODELLED_KEYS, key) ? UNMODELLED_KEYS[key] : undefined;
      if (why !== undefined) r.error('unsupported-value', p, `"${raw}": ${why}`);
    }
    return key;
  };
  const labels = o['matchLabels'];
  if (isObj(labels)) {
    const labelsPath = at(path, 'matchLabels');
    const renamed: Record<string, unknown> = {};
    for (const [raw, v] of Object.entries(labels)) {
      const key = check(raw, labelsPath);
      if (Object.hasOwn(renamed, key) && renamed[key] !== v) {
        r.error('invalid-value', labelsPath, `"${raw}": conflicts with another label for key "${key}"`);
      }
      renamed[key] = v;
    }
    out['matchLabels'] = renamed;
  }
  const exprs = o['matchExpressions'];
  if (Array.isArray(exprs)) {
    out['matchExpressions'] = (exprs as unknown[]).map((item, i) => {
      if (!isObj(item) || typeof item['key'] !== 'string') return item;
      return { ...item, key: check(item['key'], at(index(at(path, 'matchExpressions'), i), 'key')) };
    });
  }
  return out;
}
