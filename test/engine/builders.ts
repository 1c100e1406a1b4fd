/** Small IR builders with tweak functions, so each test states only what it cares about. */
import type {
  Action,
  Cluster,
  ClusterNode,
  ContainerPort,
  Dialect,
  Direction,
  Endpoint,
  Entity,
  Flow,
  FlowPeer,
  Labels,
  Namespace,
  NamespaceScope,
  Peer,
  Policy,
  PortMatch,
  Protocol,
  Rule,
  Selector,
} from '../../src/ir/index.js';
import { KUBERNETES_TIER, NAMESPACE_NAME_LABEL, SELECT_ALL } from '../../src/ir/index.js';

type Draft<T> = { -readonly [K in keyof T]: T[K] };
export type Tweak<T> = (draft: Draft<T>) => void;

function split(key: string): [string, string] {
  const [a, b] = key.split('/');
  return b === undefined ? ['default', a ?? ''] : [a ?? '', b];
}

/** matchLabels-style selector. */
export function sel(labels: Labels = {}): Selector {
  return {
    kind: 'match',
    requirements: Object.entries(labels).map(([key, v]) => ({ key, op: 'In', values: [v] })),
  };
}

export function ns(name: string, labels: Labels = {}): Namespace {
  return { name, labels: { ...labels, [NAMESPACE_NAME_LABEL]: name } };
}

export function pod(key: string, ...tweaks: Tweak<Endpoint>[]): Endpoint {
  const [namespace, name] = split(key);
  const e: Draft<Endpoint> = {
    namespace,
    name,
    labels: { pod: name },
    namespaceLabels: { [NAMESPACE_NAME_LABEL]: namespace },
    node: 'n1',
    ips: [],
    ports: [],
    hostNetwork: false,
  };
  for (const t of tweaks) t(e);
  return e;
}

export const labels =
  (l: Labels): Tweak<Endpoint> =>
  (e) => {
    e.labels = l;
  };
export const nsLabels =
  (l: Labels): Tweak<Endpoint> =>
  (e) => {
    e.namespaceLabels = { ...l, [NAMESPACE_NAME_LABEL]: e.namespace };
  };
export const ips =
  (...addresses: string[]): Tweak<Endpoint> =>
  (e) => {
    e.ips = addresses;
  };
export const onNode =
  (node: string): Tweak<Endpoint> =>
  (e) => {
    e.node = node;
  };
export const hostNetwork: Tweak<Endpoint> = (e) => {
  e.hostNetwork = true;
};
export const ports =
  (...ps: ContainerPort[]): Tweak<Endpoint> =>
  (e) => {
    e.ports = ps;
  };

export function node(name: string, addresses: string[], l: Labels = {}): ClusterNode {
  return { name, labels: l, ips: addresses, podCIDRs: [] };
}

export function cluster(endpoints: readonly Endpoint[], nodes: readonly ClusterNode[] = []): Cluster {
  const names = [...new Set(endpoints.map((e) => e.namespace))].sort();
  return { namespaces: names.map((n) => ns(n)), endpoints, nodes };
}

export function rule(action: Action, peers: Rule['peers'] = 'any', portMatches: Rule['ports'] = 'any'): Rule {
  return { action, peers, ports: portMatches, index: 0 };
}

/** The rule, matching only flows whose peer is none of `notPeers` and whose port is none of `notPorts`. */
export function unless(r: Rule, notPeers: readonly Peer[] = [], notPorts: readonly PortMatch[] = []): Rule {
  return {
    ...r,
    ...(notPeers.length > 0 ? { notPeers } : {}),
    ...(notPorts.length > 0 ? { notPorts } : {}),
  };
}

/** A Pass that continues at `tier` (Antrea, AdminNetworkPolicy). */
export function passTo(tier: string, peers: Rule['peers'] = 'any', portMatches: Rule['ports'] = 'any'): Rule {
  return { ...rule('Pass', peers, portMatches), passTo: tier };
}

/** The rule with a written name (Calico, Antrea and ANP rules have one). */
export function titled(r: Rule, name: string): Rule {
  return { ...r, name };
}

const numbered = (rules: readonly Rule[]): Rule[] => rules.map((r, index) => ({ ...r, index }));

/** A Kubernetes NetworkPolicy "ns/name" selecting every pod of its namespace until tweaked. */
export function netpol(key: string, ...tweaks: Tweak<Policy>[]): Policy {
  const [namespace, name] = split(key);
  const p: Draft<Policy> = {
    ref: { dialect: 'kubernetes', kind: 'NetworkPolicy', namespace, name },
    tier: KUBERNETES_TIER,
    priority: 1000,
    subject: { namespaces: { kind: 'names', names: [namespace] }, pods: SELECT_ALL },
    isolates: [],
    ingress: [],
    egress: [],
  };
  for (const t of tweaks) t(p);
  return p;
}

/**
 * A policy of another dialect ("ns/name" namespaced, "name" cluster-wide) in `tier` with `priority`,
 * selecting every pod of its namespace (or of the cluster) until tweaked. Calico's default tier is the
 * Kubernetes stage: `dialectPolicy('calico', 'kubernetes', 'x/allow', 1000, …)`.
 */
export function dialectPolicy(
  dialect: Dialect,
  tier: string,
  key: string,
  priority: number,
  ...tweaks: Tweak<Policy>[]
): Policy {
  const namespaced = key.includes('/');
  const [namespace, name] = split(key);
  const kind = dialect === 'cilium' ? 'CiliumNetworkPolicy' : 'NetworkPolicy';
  const p: Draft<Policy> = {
    ref: namespaced ? { dialect, kind, namespace, name } : { dialect, kind: `Global${kind}`, name },
    tier,
    priority,
    subject: {
      namespaces: namespaced
        ? { kind: 'names', names: [namespace] }
        : { kind: 'selector', selector: SELECT_ALL },
      pods: SELECT_ALL,
    },
    isolates: [],
    ingress: [],
    egress: [],
  };
  for (const t of tweaks) t(p);
  return p;
}

/** A cluster-scoped policy in a first-match tier ("admin" or "baseline"), selecting every pod. */
export function tiered(tier: string, name: string, priority: number, ...tweaks: Tweak<Policy>[]): Policy {
  const p: Draft<Policy> = {
    ref: { dialect: 'admin-network-policy', kind: 'AdminNetworkPolicy', name },
    tier,
    priority,
    subject: { namespaces: { kind: 'selector', selector: SELECT_ALL }, pods: SELECT_ALL },
    isolates: [],
    ingress: [],
    egress: [],
  };
  for (const t of tweaks) t(p);
  return p;
}

export const selecting =
  (pods: Selector, namespaces?: NamespaceScope): Tweak<Policy> =>
  (p) => {
    p.subject = { namespaces: namespaces ?? p.subject.namespaces, pods };
  };
export const isolating =
  (...ds: Direction[]): Tweak<Policy> =>
  (p) => {
    p.isolates = ds;
  };
export const ingress =
  (...rules: Rule[]): Tweak<Policy> =>
  (p) => {
    p.ingress = numbered(rules);
  };
export const egress =
  (...rules: Rule[]): Tweak<Policy> =>
  (p) => {
    p.egress = numbered(rules);
  };

export function podsIn(namespaces: string[] | Selector, pods: Selector = SELECT_ALL): Peer {
  return {
    kind: 'endpoints',
    namespaces: Array.isArray(namespaces)
      ? { kind: 'names', names: namespaces }
      : { kind: 'selector', selector: namespaces },
    pods,
  };
}
export function cidr(block: string, except: string[] = [], matchesPods = true): Peer {
  return { kind: 'cidr', cidr: block, except, matchesPods };
}
export function entity(e: Entity): Peer {
  return { kind: 'entity', entity: e };
}
export function nodes(selector: Selector): Peer {
  return { kind: 'nodes', selector };
}

export function tcp(port: number): PortMatch {
  return { kind: 'range', protocol: 'TCP', from: port, to: port };
}
export function portRange(protocol: Protocol, from: number, to: number): PortMatch {
  return { kind: 'range', protocol, from, to };
}
export function named(name: string, protocol: Protocol = 'TCP'): PortMatch {
  return { kind: 'named', protocol, name };
}
export function proto(protocol: Protocol): PortMatch {
  return { kind: 'protocol', protocol };
}
export function icmp(family: 4 | 6 = 4): PortMatch {
  return { kind: 'icmp', family };
}

function side(x: Endpoint | string): FlowPeer {
  return typeof x === 'string' ? { kind: 'ip', ip: x } : { kind: 'endpoint', endpoint: x };
}

export function flow(
  src: Endpoint | string,
  dst: Endpoint | string,
  port = 80,
  protocol: Protocol = 'TCP',
): Flow {
  return { src: side(src), dst: side(dst), protocol, port };
}
