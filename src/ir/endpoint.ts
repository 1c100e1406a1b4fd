import type { Labels } from './labels.js';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** A port a container declares; `name` is what named-port rules resolve against. */
export interface ContainerPort {
  readonly name?: string;
  readonly port: number;
  readonly protocol: Protocol;
}

/** A workload (a pod). IPs are canonical text (see cidr.ts); a pod may have one per family. */
export interface Endpoint {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Labels;
  /** Labels of the endpoint's namespace, including the automatic kubernetes.io/metadata.name. */
  readonly namespaceLabels: Labels;
  readonly serviceAccount?: string;
  readonly node?: string;
  readonly ips: readonly string[];
  readonly ports: readonly ContainerPort[];
  /** A host-network pod shares its node's IPs and is not subject to pod network policy. */
  readonly hostNetwork: boolean;
}

export interface Namespace {
  readonly name: string;
  /** Always includes kubernetes.io/metadata.name = name. */
  readonly labels: Labels;
}

export interface ClusterNode {
  readonly name: string;
  readonly labels: Labels;
  /** Addresses the node itself uses (InternalIP); traffic from these is "from the node". */
  readonly ips: readonly string[];
  readonly podCIDRs: readonly string[];
}

/** Everything the engine needs to know about a cluster besides its policies. */
export interface Cluster {
  readonly namespaces: readonly Namespace[];
  readonly endpoints: readonly Endpoint[];
  readonly nodes: readonly ClusterNode[];
}

export function endpointKey(e: Pick<Endpoint, 'namespace' | 'name'>): string {
  return `${e.namespace}/${e.name}`;
}
