import type { Labels } from '../ir/index.js';
import { isAbsent, isObj, readObject, readString, typeName, type Obj } from './fields.js';
import {
  dns1123LabelErrors,
  dns1123SubdomainErrors,
  labelValueErrors,
  qualifiedNameErrors,
} from './k8s-validation.js';
import { at, type Reporter } from './report.js';

/** The parts of ObjectMeta Palisade uses. `namespace` is set exactly when the kind is namespaced. */
export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly labels: Labels;
}

export interface MetaRules {
  readonly namespaced: boolean;
  /** Namespaces are DNS labels; most other objects (pods, nodes, policies) DNS subdomains. */
  readonly name: 'dns-label' | 'dns-subdomain';
}

/** Where kubectl puts objects whose manifest names no namespace. */
export const DEFAULT_NAMESPACE = 'default';

/**
 * A string→string map whose keys are qualified names and values label values. Errors use the map's own
 * path, as the API server's ValidateLabels does.
 */
export function readLabels(o: Obj, key: string, path: string, r: Reporter): Labels | undefined {
  const raw = readObject(o, key, path, r);
  if (raw === undefined) return isAbsent(o, key) ? {} : undefined;
  const p = at(path, key);
  const out: Record<string, string> = {};
  let ok = true;
  for (const [k, v] of Object.entries(raw)) {
    for (const m of qualifiedNameErrors(k)) {
      r.error('invalid-value', p, `"${k}": ${m}`);
      ok = false;
    }
    if (typeof v !== 'string') {
      r.error('invalid-type', p, `value of "${k}" must be a string, got ${typeName(v)}`);
      ok = false;
      continue;
    }
    for (const m of labelValueErrors(v)) {
      r.error('invalid-value', p, `"${v}": ${m}`);
      ok = false;
    }
    out[k] = v;
  }
  return ok ? out : undefined;
}

export function readMetadata(obj: Obj, rules: MetaRules, r: Reporter): ObjectMeta | undefined {
  const meta = isObj(obj['metadata']) ? obj['metadata'] : undefined;
  if (meta === undefined && !isAbsent(obj, 'metadata')) {
    r.error('invalid-type', 'metadata', `must be an object, got ${typeName(obj['metadata'])}`);
    return undefined;
  }
  const m: Obj = meta ?? {};
  const name = readString(m, 'name', 'metadata', r);
  if (isAbsent(m, 'name') || name === '') r.error('missing-field', 'metadata.name', 'name is required');
  const nameErrors =
    name === undefined || name === ''
      ? []
      : rules.name === 'dns-label'
        ? dns1123LabelErrors(name)
        : dns1123SubdomainErrors(name);
  for (const msg of nameErrors) r.error('invalid-value', 'metadata.name', `"${name}": ${msg}`);

  let namespace: string | undefined;
  if (rules.namespaced) {
    const ns = readString(m, 'namespace', 'metadata', r);
    namespace = ns === undefined || ns === '' ? DEFAULT_NAMESPACE : ns;
    for (const msg of dns1123LabelErrors(namespace)) {
      r.error('invalid-value', 'metadata.namespace', `"${namespace}": ${msg}`);
    }
  }
  const labels = readLabels(m, 'labels', 'metadata', r);
  if (name === undefined || name === '' || nameErrors.length > 0 || labels === undefined) return undefined;
  return namespace === undefined ? { name, labels } : { name, namespace, labels };
}
