import type { Selector } from './labels.js';
import type { NamespaceScope, PortMatch, Peer } from './peer.js';

export type Direction = 'Ingress' | 'Egress';
export type Action = 'Allow' | 'Deny' | 'Reject' | 'Pass' | 'Log';

/** Application-layer match; parsed now, enforced by src/l7 later. */
export type L7Match =
  | {
      readonly kind: 'http';
      readonly rules: readonly { method?: string; path?: string; host?: string }[];
    }
  | { readonly kind: 'dns'; readonly patterns: readonly string[] }
  | { readonly kind: 'kafka'; readonly rules: readonly { topic?: string; role?: string }[] }
  | { readonly kind: 'other'; readonly protocol: string };

/** Where a rule came from, for explanations and flow logs (ARCHITECTURE.md contract). */
export interface PolicyRef {
  readonly dialect: Dialect;
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
  readonly file?: string;
  readonly doc?: number;
}

export type Dialect =
  'kubernetes' | 'cluster-network-policy' | 'admin-network-policy' | 'calico' | 'cilium' | 'antrea';

/**
 * One rule. `peers: 'any'` and `ports: 'any'` are the explicit "no restriction" (Kubernetes' missing or
 * empty `from`/`to`/`ports`); an empty list matches nothing.
 */
export interface Rule {
  readonly action: Action;
  readonly peers: 'any' | readonly Peer[];
  readonly ports: 'any' | readonly PortMatch[];
  readonly l7?: L7Match;
  /**
   * Negative matches (Calico notNets/notSelector/notPorts/notProtocol): the rule matches only when the
   * peer matches none of `notPeers` and the port none of `notPorts`. Absent means no exclusion.
   */
  readonly notPeers?: readonly Peer[];
  readonly notPorts?: readonly PortMatch[];
  /**
   * Where a Pass continues: the named tier (Antrea and AdminNetworkPolicy pass straight to the Kubernetes
   * NetworkPolicy stage). Absent: the next tier.
   */
  readonly passTo?: string;
  /** Position in the policy's written list for its direction, for attribution. */
  readonly index: number;
  readonly name?: string;
}

/** Endpoints a policy applies to: namespaces × pod selector (AND). */
export interface Subject {
  readonly namespaces: NamespaceScope;
  readonly pods: Selector;
}

/**
 * A policy placed in a tier. `isolates` lists the directions in which a selected endpoint becomes
 * default-deny when no rule allows (Kubernetes policyTypes); first-match tiers leave it empty.
 */
export interface Policy {
  readonly ref: PolicyRef;
  readonly tier: string;
  /** Lower runs first inside the tier; ties break on name. */
  readonly priority: number;
  readonly subject: Subject;
  readonly isolates: readonly Direction[];
  readonly ingress: readonly Rule[];
  readonly egress: readonly Rule[];
}

export function policyId(ref: PolicyRef): string {
  return `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}
