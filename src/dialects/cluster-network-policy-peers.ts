/**
 * Subjects and peers of ClusterNetworkPolicy (v1alpha2) and AdminNetworkPolicy /
 * BaselineAdminNetworkPolicy (v1alpha1) → IR. Both versions share the shapes: `namespaces` is a label
 * selector, `pods` a NamespacedPod, and egress adds `nodes`, `networks` and `domainNames`.
 */
import type { Peer, Selector, Subject } from '../ir/index.js';
import { SELECT_ALL, parseCidr, parseIp, formatCidr } from '../ir/index.js';
import { isAbsent, isObj, readObject, typeName, warnUnknownFields, type Obj } from './fields.js';
import { oneOf, readBoundedList, reportSetDuplicates } from './cluster-network-policy-fields.js';
import { labelSelectorToIr } from './k8s-selector.js';
import { at, type Reporter } from './report.js';

export type PeerField = 'namespaces' | 'pods' | 'nodes' | 'networks' | 'domainNames';

/** A written peer: one field, possibly several IR peers (each CIDR or domain name is one). */
export interface WrittenPeer {
  readonly field: PeerField;
  readonly path: string;
  readonly peers: readonly Peer[];
}

/** What differs between the API versions for subjects and peers. */
export interface PeerRules {
  /** v1alpha1 NamespacedPod requires `namespaceSelector`; v1alpha2 makes it optional (empty = all). */
  readonly namespaceSelectorRequired: boolean;
  readonly egressFields: readonly PeerField[];
}

const INGRESS_FIELDS: readonly PeerField[] = ['namespaces', 'pods'];
/** `networks` and `domainNames` share MinItems=1, MaxItems=25 in both versions. */
const MAX_NETWORKS = 25;
/** DomainName's +kubebuilder:validation:Pattern, as written (its `A-z` ranges included). */
const DOMAIN_NAME =
  /^(\*\.)?([a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$/;
/** CIDR's MaxLength=43. */
const MAX_CIDR_LENGTH = 43;

/**
 * The pre-v0.1.3 v1alpha1 peer shape (`namespaces: {namespaceSelector | sameLabels | notSameLabels}`,
 * `pods: {namespaces: …, podSelector}`) uses the same apiVersion. A current CRD prunes those fields, which
 * would leave an empty selector matching every namespace; and sameLabels/notSameLabels compare label
 * values with the subject's namespace, which the IR cannot express. Either way: refuse, never widen.
 */
function refuseOldShape(o: Obj, keys: readonly string[], path: string, r: Reporter): boolean {
  let refused = false;
  for (const key of keys.filter((k) => !isAbsent(o, k))) {
    refused = true;
    const message =
      key === 'sameLabels' || key === 'notSameLabels'
        ? `"${key}" (AdminNetworkPolicy before v0.1.3) selects namespaces by comparing their label values ` +
          "with the subject's namespace; Palisade cannot express that comparison, so the policy is not loaded"
        : `"${key}" is the pre-v0.1.3 AdminNetworkPolicy peer shape; a current CRD prunes it, leaving a ` +
          'selector that matches every namespace. Write the label selector directly under `namespaces` ' +
          '(or use `pods.namespaceSelector`)';
    r.error('unsupported-value', at(path, key), message);
  }
  return refused;
}

/** `namespaces`: a plain LabelSelector over namespace labels. */
function namespacesSelector(value: unknown, path: string, r: Reporter): Selector | undefined {
  if (isObj(value)) {
    const oldKeys = ['namespaceSelector', 'sameLabels', 'notSameLabels'];
    if (refuseOldShape(value, oldKeys, path, r)) return undefined;
  }
  return labelSelectorToIr(value, path, r);
}

/** NamespacedPod {namespaceSelector, podSelector}: namespaces AND pods. */
function namespacedPod(
  value: unknown,
  path: string,
  rules: PeerRules,
  r: Reporter,
): { namespaces: Selector; pods: Selector } | undefined {
  if (!isObj(value)) {
    r.error('invalid-type', path, `must be an object, got ${typeName(value)}`);
    return undefined;
  }
  if (refuseOldShape(value, ['namespaces'], path, r)) return undefined;
  warnUnknownFields(value, ['namespaceSelector', 'podSelector'], path, r);
  let namespaces: Selector | undefined = SELECT_ALL;
  if (isAbsent(value, 'namespaceSelector')) {
    if (rules.namespaceSelectorRequired)
      r.error('missing-field', at(path, 'namespaceSelector'), 'namespaceSelector is required');
  } else {
    namespaces = labelSelectorToIr(value['namespaceSelector'], at(path, 'namespaceSelector'), r);
  }
  let pods: Selector | undefined;
  if (isAbsent(value, 'podSelector')) {
    r.error('missing-field', at(path, 'podSelector'), 'podSelector is required; `{}` selects every pod');
  } else {
    pods = labelSelectorToIr(value['podSelector'], at(path, 'podSelector'), r);
  }
  return namespaces === undefined || pods === undefined ? undefined : { namespaces, pods };
}

/**
 * spec.subject: exactly one of `namespaces` (every pod of the selected namespaces) or `pods`. Host-network
 * pods are never subjects (the API says so; the engine never applies pod policy to them).
 */
export function subjectToIr(spec: Obj, rules: PeerRules, r: Reporter): Subject | undefined {
  if (isAbsent(spec, 'subject')) {
    r.error('missing-field', 'spec.subject', 'subject is required');
    return undefined;
  }
  const subject = readObject(spec, 'subject', 'spec', r);
  if (subject === undefined) return undefined;
  const path = 'spec.subject';
  warnUnknownFields(subject, INGRESS_FIELDS, path, r);
  const field = oneOf(subject, INGRESS_FIELDS, path, r);
  if (field === 'namespaces') {
    const selector = namespacesSelector(subject[field], at(path, field), r);
    return selector && { namespaces: { kind: 'selector', selector }, pods: SELECT_ALL };
  }
  if (field !== 'pods') return undefined;
  const np = namespacedPod(subject[field], at(path, field), rules, r);
  return np && { namespaces: { kind: 'selector', selector: np.namespaces }, pods: np.pods };
}

/**
 * One element of `from` / `to`. Exactly one field; undefined when anything is wrong (reported).
 */
export function peerToIr(
  o: Obj,
  path: string,
  direction: 'Ingress' | 'Egress',
  rules: PeerRules,
  r: Reporter,
): WrittenPeer | undefined {
  const fields = direction === 'Ingress' ? INGRESS_FIELDS : rules.egressFields;
  warnUnknownFields(o, fields, path, r);
  const field = oneOf(o, fields, path, r) as PeerField | undefined;
  if (field === undefined) return undefined;
  const p = at(path, field);
  const before = r.errorCount;
  const peers = fieldPeers(o, field, p, path, rules, r);
  return peers === undefined || r.errorCount !== before ? undefined : { field, path: p, peers };
}

function fieldPeers(
  o: Obj,
  field: PeerField,
  p: string,
  parent: string,
  rules: PeerRules,
  r: Reporter,
): Peer[] | undefined {
  switch (field) {
    case 'namespaces': {
      const selector = namespacesSelector(o[field], p, r);
      return (
        selector && [{ kind: 'endpoints', namespaces: { kind: 'selector', selector }, pods: SELECT_ALL }]
      );
    }
    case 'pods': {
      const np = namespacedPod(o[field], p, rules, r);
      return (
        np && [
          { kind: 'endpoints', namespaces: { kind: 'selector', selector: np.namespaces }, pods: np.pods },
        ]
      );
    }
    case 'nodes': {
      // "It selects the nodeIPs … present in the node.Status.Addresses field of the node."
      const selector = labelSelectorToIr(o[field], p, r);
      return selector && [{ kind: 'nodes', selector }];
    }
    case 'networks':
      return networksToIr(o, parent, r);
    case 'domainNames':
      return domainNamesToIr(o, parent, r);
  }
}

/**
 * `networks`: CIDRs. The API doc (ClusterNetworkPolicyEgressPeer.networks) says they are "intended for
 * representing entities that live outside the cluster … but note that cluster-internal traffic will be
 * checked against the rule as well. So if you Accept or Deny traffic to "0.0.0.0/0", that will allow or
 * deny all IPv4 pod-to-pod traffic as well" — hence `matchesPods: true`.
 */
function networksToIr(o: Obj, parent: string, r: Reporter): Peer[] | undefined {
  const path = at(parent, 'networks');
  const raw = readBoundedList(o, 'networks', parent, { min: 1, max: MAX_NETWORKS }, r);
  if (raw === undefined) return undefined;
  reportSetDuplicates(raw, path, r);
  const peers: Peer[] = [];
  raw.forEach((text, i) => {
    const p = `${path}[${i}]`;
    if (typeof text !== 'string') {
      r.error('invalid-type', p, `must be a string, got ${typeName(text)}`);
      return;
    }
    const cidr = cidrText(text, p, r);
    if (cidr !== undefined) peers.push({ kind: 'cidr', cidr, except: [], matchesPods: true });
  });
  return peers;
}

/**
 * CIDR: MaxLength=43 and CEL `isCIDR(self)`. Kubernetes' isCIDR accepts host bits (they are cleared here)
 * but refuses leading zeros and IPv4-mapped IPv6 addresses.
 */
function cidrText(text: string, path: string, r: Reporter): string | undefined {
  if (text.length > MAX_CIDR_LENGTH) {
    r.error('invalid-value', path, `Too long: may not be more than ${MAX_CIDR_LENGTH} bytes`);
    return undefined;
  }
  const cidr = parseCidr(text);
  const address = parseIp(text.slice(0, text.indexOf('/')));
  const mapped = address !== undefined && address.family === 6 && address.value >> 32n === 0xffffn;
  if (cidr === undefined || mapped) {
    r.error('invalid-value', path, `"${text}": Invalid CIDR format provided`);
    return undefined;
  }
  return formatCidr(cidr);
}

/**
 * `domainNames`: exact names or `*.`-prefixed wildcards, kept as written; the engine reads them as the
 * DomainName type says (`network-policy-api` semantics). They match pods too: NPEP-133 supports "Selecting
 * Pods using their generated DNS record [...] analogous to selecting the Pod by its IP address using the
 * Network selector" (whose `networks` match pods as well).
 */
function domainNamesToIr(o: Obj, parent: string, r: Reporter): Peer[] | undefined {
  const path = at(parent, 'domainNames');
  const raw = readBoundedList(o, 'domainNames', parent, { min: 1, max: MAX_NETWORKS }, r);
  if (raw === undefined) return undefined;
  reportSetDuplicates(raw, path, r);
  const peers: Peer[] = [];
  raw.forEach((name, i) => {
    const p = `${path}[${i}]`;
    if (typeof name !== 'string') r.error('invalid-type', p, `must be a string, got ${typeName(name)}`);
    else if (!DOMAIN_NAME.test(name)) {
      r.error('invalid-value', p, `"${name}": must be a domain name, optionally prefixed by "*."`);
    } else peers.push({ kind: 'fqdn', pattern: name, semantics: 'network-policy-api', matchesPods: true });
  });
  return peers;
}
