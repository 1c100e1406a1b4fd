/**
 * Selectors, CIDRs, entities and named ports → concrete addresses and ports, for the rules of one node.
 * The answers mirror src/engine/match.ts (peerMatches, portMatches) peer kind by peer kind; the datapath
 * property test checks that they agree. Pure.
 */
import type { Family } from '../../ir/cidr.js';
import type { ClusterNode, Endpoint, Protocol } from '../../ir/endpoint.js';
import type { Peer, PortMatch } from '../../ir/peer.js';
import type { PolicyModel } from '../../engine/model.js';
import { scopeMatches, selectorMatches } from '../../ir/label-match.js';
import type { AddrRange } from './ranges.js';
import { cidrRange, fullRange, ipRange, normalizeRanges, rangeContains, subtractRanges } from './ranges.js';

/** A concrete L4 port match: one protocol, an inclusive port range (0-65535 for "every port"). */
export interface L4Entry {
  readonly protocol: Protocol;
  readonly from: number;
  readonly to: number;
}

/** An ICMP match of one family; type/code absent means any. */
export interface IcmpEntry {
  readonly protocol: 'ICMP';
  readonly family: Family;
  readonly type?: number;
  readonly code?: number;
}

export type PortEntry = L4Entry | IcmpEntry;

/** Peers × ports. `'any'` peers means every address of both families; `'any'` ports every protocol. */
export interface MatchTerm {
  readonly peers: 'any' | readonly AddrRange[];
  readonly ports: 'any' | readonly PortEntry[];
}

/** An endpoint peer: a namespace scope × a pod selector. */
export type EndpointsPeer = Extract<Peer, { kind: 'endpoints' }>;

/** An endpoint with the addresses it is reached at. */
export interface Located {
  readonly endpoint: Endpoint;
  readonly ranges: readonly AddrRange[];
}

/**
 * What resolving a rule reads besides the rule. Only `selected` reaches individual pods, so an
 * incremental resolver can tell which rules a pod change affects (node-resolver.ts).
 */
export interface Context {
  readonly node: string;
  /** The addresses of the pod-network endpoints an endpoint peer selects (never host-network ones). */
  selected(peer: EndpointsPeer): readonly AddrRange[];
  /** Every pod-network address of the cluster. */
  readonly podRanges: readonly AddrRange[];
  /**
   * Every endpoint a named port can resolve against, at the addresses its traffic arrives on: pods at
   * their IPs, host-network pods at their node's (as the engine's `sideOfEndpoint` sees them).
   */
  readonly portOwners: readonly Located[];
  readonly nodes: readonly ClusterNode[];
  readonly nodeRanges: ReadonlyMap<string, readonly AddrRange[]>;
  readonly clusterRanges: readonly AddrRange[];
}

/** The context of one from-scratch resolution, with every pod-network endpoint in cluster order. */
export interface ClusterContext extends Context {
  readonly pods: readonly Located[];
}

const FAMILIES: readonly Family[] = [4, 6];

export function addrs(ips: readonly string[]): AddrRange[] {
  return normalizeRanges(ips.map(ipRange).filter((r): r is AddrRange => r !== undefined));
}

/** Every endpoint at the addresses a named port resolves at (see Context.portOwners). */
export function portOwners(
  endpoints: readonly Endpoint[],
  nodeRanges: ReadonlyMap<string, readonly AddrRange[]>,
  addrsOf: (e: Endpoint) => readonly AddrRange[],
): Located[] {
  return endpoints.map((endpoint) => {
    const nodeIps = endpoint.node === undefined ? undefined : nodeRanges.get(endpoint.node);
    const ranges = endpoint.hostNetwork && nodeIps !== undefined ? nodeIps : addrsOf(endpoint);
    return { endpoint, ranges };
  });
}

export function endpointsPeerSelects(peer: EndpointsPeer, e: Endpoint): boolean {
  return (
    scopeMatches(peer.namespaces, e.namespace, e.namespaceLabels) && selectorMatches(peer.pods, e.labels)
  );
}

export function context(model: PolicyModel, node: string): ClusterContext {
  const pods = model.cluster.endpoints
    .filter((e) => !e.hostNetwork)
    .map((endpoint) => ({ endpoint, ranges: addrs(endpoint.ips) }));
  const podRanges = normalizeRanges(pods.flatMap((p) => p.ranges));
  const nodes = model.cluster.nodes;
  const nodeRanges = new Map(nodes.map((n) => [n.name, addrs(n.ips)]));
  const clusterRanges = normalizeRanges([...podRanges, ...[...nodeRanges.values()].flat()]);
  return {
    node,
    pods,
    selected: (peer) => pods.filter((p) => endpointsPeerSelects(peer, p.endpoint)).flatMap((p) => p.ranges),
    podRanges,
    portOwners: portOwners(model.cluster.endpoints, nodeRanges, (e) => addrs(e.ips)),
    nodes,
    nodeRanges,
    clusterRanges,
  };
}

function resolvePeer(ctx: Context, peer: Peer): 'any' | AddrRange[] {
  switch (peer.kind) {
    case 'endpoints':
      return [...ctx.selected(peer)];
    case 'cidr': {
      const block = cidrRange(peer.cidr);
      if (!block) return [];
      const holes = peer.except.map(cidrRange).filter((r): r is AddrRange => r !== undefined);
      // Dialects whose CIDR rules do not select managed pods (Cilium) leave pod addresses out.
      if (!peer.matchesPods) holes.push(...ctx.podRanges);
      return subtractRanges([block], holes);
    }
    case 'nodes':
      return ctx.nodes
        .filter((n) => selectorMatches(peer.selector, n.labels))
        .flatMap((n) => ctx.nodeRanges.get(n.name) ?? []);
    case 'fqdn':
      // The engine matches an FQDN peer against names learnt from DNS answers (engine/fqdn.ts); the
      // datapath learns none yet (the node DNS proxy, src/dns, is not wired to it), so it matches nothing
      // here — the engine with no learnt names says the same.
      return [];
    case 'entity':
      switch (peer.entity) {
        case 'all':
          return 'any';
        case 'world':
          return subtractRanges(FAMILIES.map(fullRange), ctx.clusterRanges);
        case 'cluster':
          return [...ctx.clusterRanges];
        case 'host':
          return [...(ctx.nodeRanges.get(ctx.node) ?? [])];
        case 'remote-node':
          return [...ctx.nodeRanges].filter(([name]) => name !== ctx.node).flatMap(([, r]) => r);
        case 'kube-apiserver':
          return [];
      }
  }
}

export function resolvePeers(ctx: Context, peers: 'any' | readonly Peer[]): 'any' | AddrRange[] {
  if (peers === 'any') return 'any';
  const out: AddrRange[] = [];
  for (const peer of peers) {
    const r = resolvePeer(ctx, peer);
    if (r === 'any') return 'any';
    out.push(...r);
  }
  return normalizeRanges(out);
}

/** Named ports resolve against the destination's container ports, by name and protocol. */
export function resolvePort(pm: PortMatch, dst: Endpoint | undefined): PortEntry[] {
  switch (pm.kind) {
    case 'icmp':
      return [
        {
          protocol: 'ICMP',
          family: pm.family,
          ...(pm.type === undefined ? {} : { type: pm.type }),
          ...(pm.code === undefined ? {} : { code: pm.code }),
        },
      ];
    case 'protocol':
      return [{ protocol: pm.protocol, from: 0, to: 65535 }];
    case 'range':
      return [{ protocol: pm.protocol, from: pm.from, to: pm.to }];
    case 'named':
      return (dst?.ports ?? [])
        .filter((p) => p.name === pm.name && p.protocol === pm.protocol)
        .map((p) => ({ protocol: p.protocol, from: p.port, to: p.port }));
  }
}

export function portsKey(ports: readonly PortEntry[]): string {
  return ports
    .map((p) =>
      p.protocol === 'ICMP'
        ? `ICMP${p.family}:${p.type ?? '*'}/${p.code ?? '*'}`
        : `${p.protocol}:${p.from}-${p.to}`,
    )
    .join(',');
}

function intersect(peers: 'any' | readonly AddrRange[], ips: readonly AddrRange[]): AddrRange[] {
  if (peers === 'any') return [...ips];
  return ips.filter((r) => rangeContains(peers, r.family, r.lo));
}

/**
 * Egress named ports depend on who receives: expand them per destination endpoint (its addresses × its
 * resolved ports), grouping destinations that resolve to the same ports into one term.
 */
function egressNamedTerms(
  ctx: Context,
  peers: 'any' | readonly AddrRange[],
  named: readonly PortMatch[],
): MatchTerm[] {
  const byPorts = new Map<string, { ports: PortEntry[]; peers: AddrRange[] }>();
  for (const pod of ctx.portOwners) {
    const ports = named.flatMap((pm) => resolvePort(pm, pod.endpoint));
    if (ports.length === 0) continue;
    const hit = intersect(peers, pod.ranges);
    if (hit.length === 0) continue;
    const key = portsKey(ports);
    const group = byPorts.get(key) ?? { ports, peers: [] };
    group.peers.push(...hit);
    byPorts.set(key, group);
  }
  return [...byPorts.values()].map((g) => ({ peers: normalizeRanges(g.peers), ports: g.ports }));
}

/** Ingress named ports: the only part of a rule that depends on the subject (they resolve against it). */
export function subjectPorts(ports: 'any' | readonly PortMatch[], subject: Endpoint): PortEntry[] {
  if (ports === 'any') return [];
  return ports.filter((pm) => pm.kind === 'named').flatMap((pm) => resolvePort(pm, subject));
}

/**
 * The flows `peers` × `ports` cover, as terms. Ingress named ports use `subjectNamed` (resolved against
 * the subject); egress named ports expand per destination pod.
 */
export function resolveTerms(
  ctx: Context,
  peers: 'any' | AddrRange[],
  ports: 'any' | readonly PortMatch[],
  ingress: boolean,
  subjectNamed: readonly PortEntry[],
): MatchTerm[] {
  if (ports === 'any') return [{ peers, ports: 'any' }];
  const terms: MatchTerm[] = [];
  const plain = ports.filter((pm) => pm.kind !== 'named').flatMap((pm) => resolvePort(pm, undefined));
  if (plain.length > 0) terms.push({ peers, ports: plain });
  const named = ports.filter((pm) => pm.kind === 'named');
  if (ingress && subjectNamed.length > 0) terms.push({ peers, ports: subjectNamed });
  if (!ingress && named.length > 0) terms.push(...egressNamedTerms(ctx, peers, named));
  return terms;
}
