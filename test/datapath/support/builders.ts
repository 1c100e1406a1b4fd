/**
 * Small IR builders with tweak objects, for datapath tests that need a cluster without YAML.
 */
import type { Cluster, ClusterNode, Endpoint, Peer, Policy, PortMatch, Rule } from '../../../src/ir/index.js';
import { KUBERNETES_TIER, NAMESPACE_NAME_LABEL, SELECT_ALL } from '../../../src/ir/index.js';

export function pod(namespace: string, name: string, ip: string, tweak: Partial<Endpoint> = {}): Endpoint {
  return {
    namespace,
    name,
    labels: { pod: name },
    namespaceLabels: { [NAMESPACE_NAME_LABEL]: namespace },
    node: 'node-1',
    ips: [ip],
    ports: [
      { name: 'serve-80-tcp', port: 80, protocol: 'TCP' },
      { name: 'serve-81-tcp', port: 81, protocol: 'TCP' },
    ],
    hostNetwork: false,
    ...tweak,
  };
}

export function node(name: string, ip: string, labels: Record<string, string> = {}): ClusterNode {
  return { name, labels, ips: [ip], podCIDRs: [] };
}

export function cluster(
  endpoints: readonly Endpoint[],
  nodes: readonly ClusterNode[] = [node('node-1', '10.255.0.1')],
): Cluster {
  const names = [...new Set(endpoints.map((e) => e.namespace))];
  return {
    namespaces: names.map((n) => ({ name: n, labels: { [NAMESPACE_NAME_LABEL]: n } })),
    endpoints,
    nodes,
  };
}

export function rule(peers: Rule['peers'], ports: Rule['ports'], tweak: Partial<Rule> = {}): Rule {
  return { action: 'Allow', peers, ports, index: 0, ...tweak };
}

export const podPeer = (name: string): Peer => ({
  kind: 'endpoints',
  namespaces: { kind: 'selector', selector: SELECT_ALL },
  pods: { kind: 'match', requirements: [{ key: 'pod', op: 'In', values: [name] }] },
});

export const cidrPeer = (cidr: string, except: string[] = []): Peer => ({
  kind: 'cidr',
  cidr,
  except,
  matchesPods: true,
});

export const tcp = (from: number, to = from): PortMatch => ({ kind: 'range', protocol: 'TCP', from, to });

/** A NetworkPolicy selecting pods named `podName` (or every pod of the namespace when undefined). */
export function netpol(
  name: string,
  namespace: string,
  podName: string | undefined,
  spec: { ingress?: Rule[]; egress?: Rule[]; isolates?: Policy['isolates'] },
): Policy {
  const ingress = (spec.ingress ?? []).map((r, index) => ({ ...r, index }));
  const egress = (spec.egress ?? []).map((r, index) => ({ ...r, index }));
  return {
    ref: { dialect: 'kubernetes', kind: 'NetworkPolicy', namespace, name },
    tier: KUBERNETES_TIER,
    priority: 1000,
    subject: {
      namespaces: { kind: 'names', names: [namespace] },
      pods:
        podName === undefined
          ? SELECT_ALL
          : { kind: 'match', requirements: [{ key: 'pod', op: 'In', values: [podName] }] },
    },
    isolates: spec.isolates ?? ['Ingress'],
    ingress,
    egress,
  };
}
