import type { Direction, Peer, Policy, Rule, Selector } from '../ir/index.js';
import { KUBERNETES_POLICY_PRIORITY, KUBERNETES_TIER, SELECT_ALL } from '../ir/index.js';
import {
  isAbsent,
  objectItems,
  readArray,
  readObject,
  stringItems,
  warnUnknownFields,
  type Obj,
} from './fields.js';
import { DEFAULT_NAMESPACE, readMetadata } from './k8s-meta.js';
import { labelSelectorToIr } from './k8s-selector.js';
import { ipBlockToIr, portToIr } from './k8s-netpol-fields.js';
import { at, type Origin, type Reporter } from './report.js';

const TOP_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];
const SPEC_FIELDS = ['podSelector', 'ingress', 'egress', 'policyTypes'];
const PEER_FIELDS = ['podSelector', 'namespaceSelector', 'ipBlock'];
const POLICY_TYPES: readonly Direction[] = ['Ingress', 'Egress'];

/** The two directions differ only in the name of their peer list. */
const DIRECTIONS = [
  { direction: 'Ingress', list: 'ingress', peers: 'from' },
  { direction: 'Egress', list: 'egress', peers: 'to' },
] as const;

/**
 * networking.k8s.io/v1 NetworkPolicy → IR, validated as the API server's ValidateNetworkPolicy and
 * defaulted as SetDefaults_NetworkPolicy. Undefined when any error was reported.
 */
export function networkPolicyToIr(obj: Obj, r: Reporter, origin: Origin): Policy | undefined {
  const before = r.errorCount;
  warnUnknownFields(obj, TOP_FIELDS, '', r);
  const meta = readMetadata(obj, { namespaced: true, name: 'dns-subdomain' }, r);
  const namespace = meta?.namespace ?? DEFAULT_NAMESPACE;
  const spec = readObject(obj, 'spec', '', r) ?? {};
  warnUnknownFields(spec, SPEC_FIELDS, 'spec', r);

  let pods: Selector | undefined;
  if (isAbsent(spec, 'podSelector')) {
    // The API server decodes a missing or null podSelector to the empty selector and accepts it (the
    // upstream ANP conformance manifests rely on that), so it selects every pod of the namespace.
    r.warn(
      'missing-field',
      'spec.podSelector',
      'podSelector is missing; like the API server, Palisade reads it as `{}`, which selects every pod in the namespace',
    );
    pods = SELECT_ALL;
  } else {
    pods = labelSelectorToIr(spec['podSelector'], 'spec.podSelector', r);
  }

  const rules = { Ingress: [] as Rule[], Egress: [] as Rule[] };
  const written = { Ingress: 0, Egress: 0 };
  for (const d of DIRECTIONS) {
    const list = readArray(spec, d.list, 'spec', r) ?? [];
    written[d.direction] = list.length;
    for (const { item, path, i } of objectItems(list, at('spec', d.list), r)) {
      const rule = ruleToIr(item, path, i, d.peers, namespace, r);
      if (rule !== undefined) rules[d.direction].push(rule);
    }
  }

  const explicit = readPolicyTypes(spec, r);
  const isolates = explicit ?? defaultPolicyTypes(written.Egress);
  if (explicit === undefined && Array.isArray(spec['egress']) && written.Egress === 0) {
    r.warn(
      'invalid-value',
      'spec.egress',
      'an empty `egress` without `policyTypes` does not isolate egress: the API server defaults policyTypes to ' +
        '["Ingress"] because the list is empty; add `policyTypes: [Ingress, Egress]` to deny all egress',
    );
  }
  for (const d of DIRECTIONS) {
    if (written[d.direction] > 0 && !isolates.includes(d.direction)) {
      r.warn(
        'invalid-value',
        at('spec', d.list),
        `policyTypes does not include "${d.direction}", so these ${d.list} rules have no effect`,
      );
    }
  }

  if (meta === undefined || pods === undefined || r.errorCount !== before) return undefined;
  return {
    ref: {
      dialect: 'kubernetes',
      kind: 'NetworkPolicy',
      namespace,
      name: meta.name,
      file: origin.file,
      doc: origin.doc,
    },
    tier: KUBERNETES_TIER,
    priority: KUBERNETES_POLICY_PRIORITY,
    subject: { namespaces: { kind: 'names', names: [namespace] }, pods },
    isolates,
    ingress: isolates.includes('Ingress') ? rules.Ingress : [],
    egress: isolates.includes('Egress') ? rules.Egress : [],
  };
}

/** SetDefaults_NetworkPolicy: Ingress always, Egress only when `egress` has at least one rule. */
function defaultPolicyTypes(egressRules: number): Direction[] {
  return egressRules > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
}

/** The explicit list, deduplicated; undefined when absent or empty (then the default applies). */
function readPolicyTypes(spec: Obj, r: Reporter): Direction[] | undefined {
  const raw = readArray(spec, 'policyTypes', 'spec', r);
  if (raw === undefined || raw.length === 0) return undefined;
  if (raw.length > POLICY_TYPES.length) {
    r.error('invalid-value', 'spec.policyTypes', 'may not specify more than two policyTypes');
    return undefined;
  }
  const out: Direction[] = [];
  stringItems(raw, 'spec.policyTypes', r).forEach((t, i) => {
    const path = `spec.policyTypes[${i}]`;
    const d = POLICY_TYPES.find((p) => p === t);
    if (d === undefined) r.error('unsupported-value', path, `"${t}": supported values: "Ingress", "Egress"`);
    // The API server accepts a repeated type; it changes nothing, so it is worth a warning only.
    else if (out.includes(d)) r.warn('duplicate', path, `Duplicate value: "${t}"`);
    else out.push(d);
  });
  return out;
}

function ruleToIr(
  o: Obj,
  path: string,
  i: number,
  peersKey: 'from' | 'to',
  namespace: string,
  r: Reporter,
): Rule | undefined {
  const before = r.errorCount;
  warnUnknownFields(o, ['ports', peersKey], path, r);
  const rawPorts = readArray(o, 'ports', path, r) ?? [];
  const ports = objectItems(rawPorts, at(path, 'ports'), r).map(({ item, path: p }) => portToIr(item, p, r));
  const rawPeers = readArray(o, peersKey, path, r) ?? [];
  const peers = objectItems(rawPeers, at(path, peersKey), r).map(({ item, path: p }) =>
    peerToIr(item, p, namespace, r),
  );
  if (r.errorCount !== before) return undefined;
  return {
    action: 'Allow',
    // Missing and empty lists both mean "no restriction" in Kubernetes.
    peers: peers.length === 0 ? 'any' : peers.filter((p) => p !== undefined),
    ports: ports.length === 0 ? 'any' : ports.filter((p) => p !== undefined),
    index: i,
  };
}

function peerToIr(o: Obj, path: string, namespace: string, r: Reporter): Peer | undefined {
  warnUnknownFields(o, PEER_FIELDS, path, r);
  const hasPods = !isAbsent(o, 'podSelector');
  const hasNamespaces = !isAbsent(o, 'namespaceSelector');
  const hasIpBlock = !isAbsent(o, 'ipBlock');
  const pods = hasPods ? labelSelectorToIr(o['podSelector'], at(path, 'podSelector'), r) : undefined;
  const namespaces = hasNamespaces
    ? labelSelectorToIr(o['namespaceSelector'], at(path, 'namespaceSelector'), r)
    : undefined;
  const block = hasIpBlock ? ipBlockToIr(o['ipBlock'], at(path, 'ipBlock'), r) : undefined;

  const count = [hasPods, hasNamespaces, hasIpBlock].filter(Boolean).length;
  if (count === 0) {
    r.error('missing-field', path, 'must specify a peer (podSelector, namespaceSelector or ipBlock)');
    return undefined;
  }
  if (hasIpBlock) {
    if (count > 1) r.error('invalid-value', path, 'may not specify both ipBlock and another peer');
    return count > 1 ? undefined : block;
  }
  if (namespaces !== undefined)
    return {
      kind: 'endpoints',
      namespaces: { kind: 'selector', selector: namespaces },
      pods: pods ?? SELECT_ALL,
    };
  if (hasNamespaces || pods === undefined) return undefined;
  return { kind: 'endpoints', namespaces: { kind: 'names', names: [namespace] }, pods };
}
