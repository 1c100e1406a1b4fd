import type { Protocol } from './endpoint.js';
import type { Selector } from './labels.js';

/** Which namespaces an endpoint peer or a policy subject reaches. */
export type NamespaceScope =
  | { readonly kind: 'names'; readonly names: readonly string[] }
  | { readonly kind: 'selector'; readonly selector: Selector };

/** Well-known groups of addresses (Cilium entities and their equivalents elsewhere). */
export type Entity = 'world' | 'host' | 'remote-node' | 'cluster' | 'all' | 'kube-apiserver';

/**
 * The other side of a rule. An endpoint peer is the AND of its namespace scope and pod selector; OR across
 * peers is the rule's list. `cidr` carries `except` holes and, unless `matchesPods` is false, also matches
 * pod IPs (the Kubernetes e2e suite expects ipBlock to match pods; Cilium's CIDR rules do not).
 */
export type Peer =
  | { readonly kind: 'endpoints'; readonly namespaces: NamespaceScope; readonly pods: Selector }
  | {
      readonly kind: 'cidr';
      readonly cidr: string;
      readonly except: readonly string[];
      readonly matchesPods: boolean;
    }
  | { readonly kind: 'entity'; readonly entity: Entity }
  | { readonly kind: 'nodes'; readonly selector: Selector }
  | { readonly kind: 'fqdn'; readonly pattern: string };

/**
 * Protocol + port range, protocol alone (`ports` absent: every port), or a named port that is resolved
 * against the destination endpoint's container ports (name and protocol must both match).
 */
export type PortMatch =
  | { readonly kind: 'protocol'; readonly protocol: Protocol }
  /** ICMP (Calico, Antrea): never matches a TCP/UDP/SCTP flow; type/code absent means any. */
  | { readonly kind: 'icmp'; readonly family: 4 | 6; readonly type?: number; readonly code?: number }
  | { readonly kind: 'range'; readonly protocol: Protocol; readonly from: number; readonly to: number }
  | { readonly kind: 'named'; readonly protocol: Protocol; readonly name: string };
