import type { Protocol } from './endpoint.js';
import type { Selector } from './labels.js';

/** Which namespaces an endpoint peer or a policy subject reaches. */
export type NamespaceScope =
  | { readonly kind: 'names'; readonly names: readonly string[] }
  | { readonly kind: 'selector'; readonly selector: Selector };

/** Well-known groups of addresses (Cilium entities and their equivalents elsewhere). */
export type Entity = 'world' | 'host' | 'remote-node' | 'cluster' | 'all' | 'kube-apiserver';

/**
 * Whose meaning an FQDN pattern has. The dialects differ, and the engine must keep each one's meaning without
 * knowing dialects, so the dialect states it (src/engine/fqdn.ts matches names, citing each source):
 * - `cilium` (toFQDNs and rules.dns matchName/matchPattern, pkg/fqdn/matchpattern as of Cilium 1.19): `*`
 *   spans characters inside one label; a leading `**.` spans one or more whole labels; `*` alone matches
 *   every name; case-insensitive; a trailing dot changes nothing;
 * - `network-policy-api` (ClusterNetworkPolicy/AdminNetworkPolicy `domainNames`, the DomainName type): exact,
 *   or a `*.` prefix spanning one or more whole labels, never the apex;
 * - `antrea` (Antrea-native `fqdn`, pkg/agent/controller/networkpolicy/fqdn.go): exact, or a glob whose `*`
 *   spans any characters, dots included (`*foo.com` matches `foo.com`); compared without the answer's
 *   trailing dot, so a written trailing dot never matches.
 */
export type FqdnSemantics = 'cilium' | 'network-policy-api' | 'antrea';

/**
 * The other side of a rule. An endpoint peer is the AND of its namespace scope and pod selector; OR across
 * peers is the rule's list. `cidr` carries `except` holes and, unless `matchesPods` is false, also matches
 * pod IPs (the Kubernetes e2e suite expects ipBlock to match pods; Cilium's CIDR rules do not). `fqdn`
 * covers the addresses the node's DNS proxy learnt for a name the pattern matches, while their TTL lasts
 * (the engine reads them from the model: `ModelOptions.dns`); `matchesPods` as for `cidr`.
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
  | {
      readonly kind: 'fqdn';
      readonly pattern: string;
      readonly semantics: FqdnSemantics;
      readonly matchesPods: boolean;
    };

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
