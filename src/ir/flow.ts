import type { Endpoint, Protocol } from './endpoint.js';
import type { Action, Direction, PolicyRef } from './policy.js';

/** One side of a connection: a known endpoint or a bare address outside the cluster model. */
export type FlowPeer =
  { readonly kind: 'endpoint'; readonly endpoint: Endpoint } | { readonly kind: 'ip'; readonly ip: string };

/** A connection attempt: src opens to dst on protocol/port. */
export interface Flow {
  readonly src: FlowPeer;
  readonly dst: FlowPeer;
  readonly protocol: Protocol;
  readonly port: number;
}

/** Attribution of a decision to one rule (flow-log contract: tier, kind, namespace, name, rule). */
export interface RuleRef {
  readonly tier: string;
  readonly policy: PolicyRef;
  readonly direction: Direction;
  readonly rule: number;
  readonly action: Action;
}

/**
 * Why one direction decided as it did:
 * - `not-subject`: the direction does not apply (e.g. ingress into an external IP);
 * - `no-policy`: no policy selects the endpoint in this direction, default allow;
 * - `host-network` / `node-local` / `loopback`: allowed by a fixed rule of the platform;
 * - `rule`: a rule decided (see `decidedBy`);
 * - `isolated`: selected by isolating policies, none of whose rules matched.
 */
export type DirectionReason =
  'not-subject' | 'no-policy' | 'host-network' | 'node-local' | 'loopback' | 'rule' | 'isolated' | 'default';

export interface DirectionVerdict {
  readonly direction: Direction;
  readonly allowed: boolean;
  readonly reason: DirectionReason;
  readonly decidedBy?: RuleRef;
  /** Every policy that selected the endpoint in this direction, in evaluation order. */
  readonly selectedBy: readonly PolicyRef[];
  /** Rules that matched and merely logged, or passed. */
  readonly trail: readonly RuleRef[];
}

export interface Verdict {
  readonly allowed: boolean;
  /** Reject answers (RST / ICMP); Deny drops silently. */
  readonly action: 'Allow' | 'Deny' | 'Reject';
  readonly egress: DirectionVerdict;
  readonly ingress: DirectionVerdict;
}
