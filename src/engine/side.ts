import { canonicalIp, parseIp } from '../ir/cidr.js';
import type { Ip } from '../ir/cidr.js';
import { endpointKey } from '../ir/endpoint.js';
import type { Cluster, Endpoint } from '../ir/endpoint.js';
import type { FlowPeer } from '../ir/flow.js';
import type { PolicyModel } from './model.js';

/**
 * One end of a connection as policy peers see it. A host-network endpoint is seen through its node's
 * addresses; a bare IP that a pod owns is that pod; a bare IP that a node owns is that node.
 */
export interface Side {
  readonly endpoint?: Endpoint;
  /** Addresses peers match against: pod IPs, the node's IPs for host-network endpoints, or the bare IP. */
  readonly ips: readonly Ip[];
  /** Name of the node this side speaks for (a node address or a host-network endpoint). */
  readonly node?: string;
  /** For explanations: "ns/name" or the address. */
  readonly label: string;
}

function parseAll(ips: readonly string[]): Ip[] {
  return ips.map(parseIp).filter((ip): ip is Ip => ip !== undefined);
}

export function sideOfEndpoint(model: PolicyModel, e: Endpoint): Side {
  const label = endpointKey(e);
  if (!e.hostNetwork) return { endpoint: e, ips: parseAll(e.ips), label };
  const node = e.node === undefined ? undefined : model.nodesByName.get(e.node);
  const ips = parseAll(node ? node.ips : e.ips);
  return e.node === undefined ? { endpoint: e, ips, label } : { endpoint: e, ips, node: e.node, label };
}

export function sideOfFlowPeer(model: PolicyModel, p: FlowPeer): Side {
  if (p.kind === 'endpoint') return sideOfEndpoint(model, p.endpoint);
  const canonical = canonicalIp(p.ip);
  if (canonical === undefined) return { ips: [], label: p.ip };
  const owner = model.endpointsByIp.get(canonical);
  if (owner) return sideOfEndpoint(model, owner);
  const ip = parseIp(canonical);
  const ips = ip ? [ip] : [];
  const node = model.nodesByIp.get(canonical);
  return node ? { ips, node: node.name, label: canonical } : { ips, label: canonical };
}

export function sameEndpoint(a: Side, b: Side): boolean {
  return (
    a.endpoint !== undefined &&
    b.endpoint !== undefined &&
    endpointKey(a.endpoint) === endpointKey(b.endpoint)
  );
}

/**
 * One end of a connection as a user names it: `ns/name`, `name` (in `namespace`), or an IP address (the
 * pod that owns it when one does, else the bare address). Undefined when no pod has that name.
 */
export function findFlowPeer(cluster: Cluster, text: string, namespace: string): FlowPeer | undefined {
  const ip = canonicalIp(text);
  if (ip !== undefined) {
    const owner = cluster.endpoints.find((e) => !e.hostNetwork && e.ips.includes(ip));
    return owner ? { kind: 'endpoint', endpoint: owner } : { kind: 'ip', ip };
  }
  const key = text.includes('/') ? text : `${namespace}/${text}`;
  const endpoint = cluster.endpoints.find((e) => endpointKey(e) === key);
  return endpoint === undefined ? undefined : { kind: 'endpoint', endpoint };
}
