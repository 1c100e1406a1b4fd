import type { Direction, L7Match, Peer, PortMatch, Selector, Subject } from '../ir/index.js';
import { NAMESPACE_NAME_LABEL, SELECT_ALL } from '../ir/index.js';
import {
  isAbsent,
  objectItems,
  readInteger,
  readObject,
  readString,
  warnUnknownFields,
  type Obj,
} from './fields.js';
import { labelSelectorToIr } from './k8s-selector.js';
import { ipBlockToIr, portToIr as k8sPortToIr } from './k8s-netpol-fields.js';
import { at, type Reporter } from './report.js';

/**
 * Selectors, peers and ports shared by Antrea ClusterNetworkPolicy and NetworkPolicy
 * (docs/antrea-network-policy.md, "Behavior of to and from selectors", "Key differences from Antrea
 * ClusterNetworkPolicy"). What differs is where a bare podSelector looks: every namespace for an ACNP,
 * the policy's own namespace for an Antrea NetworkPolicy.
 */
export type AntreaScope =
  { readonly kind: 'cluster' } | { readonly kind: 'namespace'; readonly name: string };

/**
 * A peer as written. `namespaces: {match: Self}` means "the namespace of the subject pod", which the IR
 * can only say once the subject's namespace is known, so it stays a placeholder until `resolvePeers`.
 */
export type DraftPeer = Peer | { readonly kind: 'self'; readonly pods: Selector; readonly path: string };

export const NOT_REPRESENTABLE = 'Palisade cannot represent it yet, so the policy is not loaded';

const APPLIED_TO_FIELDS = [
  'podSelector',
  'namespaceSelector',
  'externalEntitySelector',
  'group',
  'serviceAccount',
  'service',
  'nodeSelector',
];

/** Fields that select something the IR has no subject for. */
const UNSUPPORTED_APPLIED_TO: Readonly<Record<string, string>> = {
  externalEntitySelector: 'ExternalEntities are not Palisade endpoints',
  group: 'ClusterGroup/Group references are not resolved',
  serviceAccount: 'a policy subject cannot select by ServiceAccount',
  service: 'policies applied to NodePort Services are not modelled',
  nodeSelector: 'Node NetworkPolicies (host traffic) are not modelled',
};

function selectorAt(o: Obj, key: string, path: string, r: Reporter): Selector | undefined {
  return isAbsent(o, key) ? undefined : labelSelectorToIr(o[key], at(path, key), r);
}

/** One appliedTo entry → the endpoints it selects. */
function appliedToEntry(o: Obj, path: string, scope: AntreaScope, r: Reporter): Subject | undefined {
  const before = r.errorCount;
  warnUnknownFields(o, APPLIED_TO_FIELDS, path, r);
  for (const [key, why] of Object.entries(UNSUPPORTED_APPLIED_TO)) {
    if (!isAbsent(o, key)) r.error('unsupported-value', at(path, key), `${why}; ${NOT_REPRESENTABLE}`);
  }
  const pods = selectorAt(o, 'podSelector', path, r);
  const namespaces = selectorAt(o, 'namespaceSelector', path, r);
  const written = APPLIED_TO_FIELDS.filter((k) => !isAbsent(o, k));
  if (written.length === 0) {
    r.error('missing-field', path, 'must specify podSelector and/or namespaceSelector');
  }
  if (scope.kind === 'namespace' && !isAbsent(o, 'namespaceSelector')) {
    r.error(
      'invalid-value',
      at(path, 'namespaceSelector'),
      'an Antrea NetworkPolicy applies to its own namespace; namespaceSelector is forbidden in appliedTo',
    );
  }
  if (r.errorCount !== before) return undefined;
  if (scope.kind === 'namespace') {
    return { namespaces: { kind: 'names', names: [scope.name] }, pods: pods ?? SELECT_ALL };
  }
  return {
    namespaces: { kind: 'selector', selector: namespaces ?? SELECT_ALL },
    pods: pods ?? SELECT_ALL,
  };
}

/** An appliedTo list → one subject per entry (the union is merged later). Undefined on error. */
export function appliedToSubjects(
  list: readonly unknown[],
  path: string,
  scope: AntreaScope,
  r: Reporter,
): Subject[] | undefined {
  const before = r.errorCount;
  const out: Subject[] = [];
  for (const { item, path: p } of objectItems(list, path, r)) {
    const s = appliedToEntry(item, p, scope, r);
    if (s !== undefined) out.push(s);
  }
  return r.errorCount === before ? out : undefined;
}

const key = (v: unknown): string => JSON.stringify(v);

function union(selectors: readonly Selector[]): Selector {
  const unique = [...new Map(selectors.map((s) => [key(s), s])).values()];
  if (unique.some((s) => key(s) === key(SELECT_ALL))) return SELECT_ALL;
  return unique.length === 1 ? (unique[0] ?? SELECT_ALL) : { kind: 'or', of: unique };
}

/**
 * The union of appliedTo entries as few IR subjects as possible. An IR subject is one namespace scope ×
 * one pod selector, so entries that share their namespace scope merge into an OR of pod selectors (and
 * the converse); anything else stays one subject per entry and the policy is split (see antrea.ts).
 */
export function mergeSubjects(subjects: readonly Subject[]): Subject[] {
  const distinct = [...new Map(subjects.map((s) => [key(s), s])).values()];
  if (distinct.length <= 1) return distinct;
  const first = distinct[0] as Subject;
  if (distinct.every((s) => key(s.namespaces) === key(first.namespaces))) {
    return [{ namespaces: first.namespaces, pods: union(distinct.map((s) => s.pods)) }];
  }
  const selectors = distinct.flatMap((s) =>
    s.namespaces.kind === 'selector' ? [s.namespaces.selector] : [],
  );
  if (selectors.length === distinct.length && distinct.every((s) => key(s.pods) === key(first.pods))) {
    return [{ namespaces: { kind: 'selector', selector: union(selectors) }, pods: first.pods }];
  }
  return distinct;
}

/** The one namespace a subject lives in, when the IR says so exactly (for `namespaces: {match: Self}`). */
export function singleNamespace(subject: Subject): string | undefined {
  const ns = subject.namespaces;
  if (ns.kind === 'names') return ns.names.length === 1 ? ns.names[0] : undefined;
  const sel = ns.selector;
  if (sel.kind !== 'match' || sel.requirements.length !== 1) return undefined;
  const req = sel.requirements[0];
  return req !== undefined && req.key === NAMESPACE_NAME_LABEL && req.op === 'In' && req.values.length === 1
    ? req.values[0]
    : undefined;
}

/**
 * Placeholders → IR peers for one subject. A Self peer resolves only when the subject lies in exactly one
 * namespace; otherwise its path is returned in `unresolved` (the caller reports each path once).
 */
export function resolvePeers(
  peers: 'any' | readonly DraftPeer[],
  subject: Subject,
): { readonly peers: 'any' | Peer[]; readonly unresolved: readonly string[] } {
  if (peers === 'any') return { peers, unresolved: [] };
  const ns = singleNamespace(subject);
  const unresolved: string[] = [];
  const out = peers.flatMap((p): Peer[] => {
    if (p.kind !== 'self') return [p];
    if (ns === undefined) {
      unresolved.push(at(p.path, 'match'));
      return [];
    }
    return [{ kind: 'endpoints', namespaces: { kind: 'names', names: [ns] }, pods: p.pods }];
  });
  return { peers: out, unresolved };
}

export const SELF_UNSUPPORTED =
  '"Self" selects the namespace of each subject pod; the IR has no subject-relative namespace scope and ' +
  `this appliedTo spans more than one namespace; ${NOT_REPRESENTABLE}`;

const PEER_FIELDS = [
  'ipBlock',
  'podSelector',
  'namespaceSelector',
  'namespaces',
  'externalEntitySelector',
  'group',
  'fqdn',
  'serviceAccount',
  'nodeSelector',
  'scope',
];

const UNSUPPORTED_PEER: Readonly<Record<string, string>> = {
  externalEntitySelector: 'ExternalEntities are not Palisade endpoints',
  group: 'ClusterGroup/Group references are not resolved',
  serviceAccount: 'the IR has no ServiceAccount peer',
};

/** Fields that must stand alone in a peer (Antrea's validatePeers; "Behavior of to and from selectors"). */
const EXCLUSIVE = ['ipBlock', 'group', 'serviceAccount', 'nodeSelector', 'fqdn'];

/** fqdn: matched by the engine against resolutions, which only `analyze --dns` supplies today. */
const ANTREA_FQDN_WARNING =
  'DNS: fqdn is modelled offline (analyze --dns NAME=IP models a resolution; Antrea meaning: `*` spans ' +
  'any characters, dots included); enforced offline only: the datapath learns no names yet, so on ' +
  'packets FQDN peers match nothing';

/** The FQDN characters Antrea's admission webhook accepts (exact names and `*` wildcards). */
const FQDN_CHARS = /^[-0-9a-zA-Z.*]+$/;

export function peerToDraft(
  o: Obj,
  path: string,
  scope: AntreaScope,
  direction: Direction,
  r: Reporter,
): DraftPeer | undefined {
  const before = r.errorCount;
  warnUnknownFields(o, PEER_FIELDS, path, r);
  const written = PEER_FIELDS.filter((k) => k !== 'scope' && !isAbsent(o, k));
  if (written.length === 0) {
    r.error('missing-field', path, 'must specify a peer (podSelector, namespaceSelector, ipBlock, …)');
    return undefined;
  }
  const alone = written.find((k) => EXCLUSIVE.includes(k));
  if (alone !== undefined && written.length > 1) {
    r.error('invalid-value', path, `${alone} cannot be set with other peer fields (${written.join(', ')})`);
  }
  for (const [k, why] of Object.entries(UNSUPPORTED_PEER)) {
    if (!isAbsent(o, k)) r.error('unsupported-value', at(path, k), `${why}; ${NOT_REPRESENTABLE}`);
  }
  const peerScope = readString(o, 'scope', path, r);
  if (peerScope !== undefined && peerScope !== 'Cluster') {
    r.error(
      'unsupported-value',
      at(path, 'scope'),
      `"${peerScope}": only "Cluster" is supported (multi-cluster ClusterSet scope is not modelled)`,
    );
  }

  let peer: DraftPeer | undefined;
  if (!isAbsent(o, 'ipBlock')) peer = ipBlockToIr(o['ipBlock'], at(path, 'ipBlock'), r);
  else if (!isAbsent(o, 'nodeSelector')) {
    const selector = labelSelectorToIr(o['nodeSelector'], at(path, 'nodeSelector'), r);
    if (selector !== undefined) peer = { kind: 'nodes', selector };
  } else if (!isAbsent(o, 'fqdn')) peer = fqdnToIr(o, path, direction, r);
  else peer = selectorPeer(o, path, scope, r);
  return r.errorCount === before ? peer : undefined;
}

function selectorPeer(o: Obj, path: string, scope: AntreaScope, r: Reporter): DraftPeer | undefined {
  const pods = selectorAt(o, 'podSelector', path, r);
  const namespaces = selectorAt(o, 'namespaceSelector', path, r);
  if (!isAbsent(o, 'namespaces')) {
    const nsPath = at(path, 'namespaces');
    if (scope.kind === 'namespace') {
      r.error(
        'invalid-value',
        nsPath,
        'an Antrea NetworkPolicy peer cannot use `namespaces` (only ACNPs can)',
      );
      return undefined;
    }
    if (!isAbsent(o, 'namespaceSelector')) {
      r.error('invalid-value', nsPath, 'namespaces and namespaceSelector cannot be set in the same peer');
      return undefined;
    }
    const spec = readObject(o, 'namespaces', path, r);
    if (spec === undefined) return undefined;
    warnUnknownFields(spec, ['match', 'sameLabels'], nsPath, r);
    if (!isAbsent(spec, 'sameLabels')) {
      r.error(
        'unsupported-value',
        at(nsPath, 'sameLabels'),
        `namespaces sharing label values with the subject's namespace cannot be expressed; ${NOT_REPRESENTABLE}`,
      );
      return undefined;
    }
    const match = readString(spec, 'match', nsPath, r);
    if (match !== 'Self') {
      if (match !== undefined)
        r.error('unsupported-value', at(nsPath, 'match'), `"${match}": supported values: "Self"`);
      else if (isAbsent(spec, 'match')) r.error('missing-field', at(nsPath, 'match'), 'match is required');
      return undefined;
    }
    return pods === undefined && !isAbsent(o, 'podSelector')
      ? undefined
      : { kind: 'self', pods: pods ?? SELECT_ALL, path: nsPath };
  }
  if (namespaces !== undefined) {
    return {
      kind: 'endpoints',
      namespaces: { kind: 'selector', selector: namespaces },
      pods: pods ?? SELECT_ALL,
    };
  }
  if (pods === undefined) return undefined;
  return scope.kind === 'namespace'
    ? { kind: 'endpoints', namespaces: { kind: 'names', names: [scope.name] }, pods }
    : { kind: 'endpoints', namespaces: { kind: 'selector', selector: SELECT_ALL }, pods };
}

function fqdnToIr(o: Obj, path: string, direction: Direction, r: Reporter): Peer | undefined {
  const p = at(path, 'fqdn');
  const pattern = readString(o, 'fqdn', path, r);
  if (pattern === undefined) return undefined;
  if (direction !== 'Egress') {
    r.error('invalid-value', p, 'fqdn can only be used in the `to` of egress rules');
    return undefined;
  }
  if (!FQDN_CHARS.test(pattern)) {
    r.error(
      'invalid-value',
      p,
      `"${pattern}": invalid characters in fqdn (allowed: letters, digits, "-", ".", "*")`,
    );
    return undefined;
  }
  r.warn('unsupported-value', p, ANTREA_FQDN_WARNING);
  if (pattern.endsWith('.'))
    // fqdn.go compares the answer's name with its trailing dot trimmed (parseDNSResponse) against the
    // expression as written, so this expression can never match.
    r.warn(
      'invalid-value',
      p,
      `"${pattern}": Antrea compares names without their trailing dot, so this fqdn never matches; drop the dot`,
    );
  // Antrea's docs select headless Services' pods by name ("FQDN based filtering"): pods match.
  return { kind: 'fqdn', pattern, semantics: 'antrea', matchesPods: true };
}

export function portToIr(o: Obj, path: string, r: Reporter): PortMatch | undefined {
  const before = r.errorCount;
  for (const k of ['sourcePort', 'sourceEndPort']) {
    if (!isAbsent(o, k)) {
      r.error(
        'unsupported-value',
        at(path, k),
        `the IR matches destination ports only; ${NOT_REPRESENTABLE}`,
      );
    }
  }
  // Antrea's port entry is a NetworkPolicyPort plus source ports (refused above).
  const match = k8sPortToIr(o, path, r, ['sourcePort', 'sourceEndPort']);
  return r.errorCount === before ? match : undefined;
}

/** `protocols: [{icmp: {icmpType, icmpCode}}]` ("ACNP for ICMP traffic"). IGMP has no IR match. */
export function protocolToIr(o: Obj, path: string, r: Reporter): PortMatch[] | undefined {
  warnUnknownFields(o, ['icmp', 'igmp'], path, r);
  const written = ['icmp', 'igmp'].filter((k) => !isAbsent(o, k));
  if (written.length !== 1) {
    r.error('invalid-value', path, 'exactly one of icmp or igmp must be set');
    return undefined;
  }
  if (written[0] === 'igmp') {
    r.error('unsupported-value', at(path, 'igmp'), `the IR has no IGMP match; ${NOT_REPRESENTABLE}`);
    return undefined;
  }
  const icmp = readObject(o, 'icmp', path, r);
  if (icmp === undefined) return undefined;
  const p = at(path, 'icmp');
  warnUnknownFields(icmp, ['icmpType', 'icmpCode'], p, r);
  const before = r.errorCount;
  const type = readInteger(icmp, 'icmpType', p, r);
  const code = readInteger(icmp, 'icmpCode', p, r);
  for (const [k, v] of [
    ['icmpType', type],
    ['icmpCode', code],
  ] as const) {
    if (v !== undefined && (v < 0 || v > 255))
      r.error('invalid-value', at(p, k), `${v}: must be between 0 and 255`);
  }
  if (r.errorCount !== before) return undefined;
  // Antrea's "ICMP" is the ICMP of the packet's address family (ICMPv6 for IPv6 traffic).
  return ([4, 6] as const).map((family) => ({
    kind: 'icmp',
    family,
    ...(type === undefined ? {} : { type }),
    ...(code === undefined ? {} : { code }),
  }));
}

const HTTP_METHODS = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'TRACE', 'OPTIONS', 'CONNECT', 'PATCH'];

/** `l7Protocols` (docs/antrea-l7-network-policy.md): HTTP maps to the IR; TLS SNI has no IR field. */
export function l7ToIr(list: readonly unknown[], path: string, r: Reporter): L7Match | undefined {
  const before = r.errorCount;
  const rules: { method?: string; path?: string; host?: string }[] = [];
  for (const { item, path: p } of objectItems(list, path, r)) {
    warnUnknownFields(item, ['http', 'tls'], p, r);
    if (!isAbsent(item, 'tls')) {
      r.error('unsupported-value', at(p, 'tls'), `the IR has no TLS SNI match; ${NOT_REPRESENTABLE}`);
      continue;
    }
    const http = readObject(item, 'http', p, r);
    if (http === undefined) {
      if (isAbsent(item, 'http')) r.error('missing-field', p, 'exactly one of http or tls must be set');
      continue;
    }
    const hp = at(p, 'http');
    warnUnknownFields(http, ['host', 'method', 'path'], hp, r);
    const host = readString(http, 'host', hp, r);
    const method = readString(http, 'method', hp, r);
    const urlPath = readString(http, 'path', hp, r);
    if (method !== undefined && !HTTP_METHODS.includes(method)) {
      r.error(
        'unsupported-value',
        at(hp, 'method'),
        `"${method}": supported values: ${HTTP_METHODS.join(', ')}`,
      );
    }
    rules.push({
      ...(method === undefined ? {} : { method }),
      ...(urlPath === undefined ? {} : { path: urlPath }),
      ...(host === undefined ? {} : { host }),
    });
  }
  if (r.errorCount !== before) return undefined;
  return { kind: 'http', semantics: 'antrea-suricata', rules };
}
