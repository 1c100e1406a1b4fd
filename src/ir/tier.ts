/**
 * How a tier decides. `first-match`: the first Allow/Deny/Reject wins, Pass leaves the tier, no match
 * falls through. `union`: Kubernetes NetworkPolicy — any allowing rule allows; an endpoint selected in
 * an isolating direction with no allowing rule is denied.
 */
export type TierSemantics = 'first-match' | 'union';

export interface Tier {
  readonly name: string;
  /** Position in the pipeline; lower runs first. See TIER_ORDER for the bands each dialect uses. */
  readonly order: number;
  readonly semantics: TierSemantics;
  /** Where the tier came from (a Calico or Antrea Tier object, or built in), for explanations. */
  readonly dialect?: string;
  /**
   * What happens when an isolating policy of the tier selected the endpoint and nothing decided: 'Deny'
   * (the default; Calico's end-of-tier drop, Kubernetes isolation) or 'Pass' (Calico tiers with
   * defaultAction Pass: continue with the next tier).
   */
  readonly defaultAction?: 'Deny' | 'Pass';
}

/**
 * Bands of Tier.order, so tiers declared by different dialects interleave as ARCHITECTURE.md's default
 * order says: admin tiers (ANP/CNP Admin, then Antrea tiers up to Application, then Calico tiers ordered
 * before `default`) → the Kubernetes stage (NetworkPolicy, Calico's default tier, Cilium) → Calico tiers
 * ordered after `default` → baseline (Antrea's baseline tier, then BANP/CNP Baseline) → default allow.
 */
export const TIER_ORDER = {
  admin: 10_000,
  /** + Antrea tier priority (0..255; Emergency 50 … Application 250). */
  antrea: 20_000,
  /** + Calico tier order / 1000 for orders below the default tier's 1,000,000. */
  calicoBefore: 30_000,
  kubernetes: 50_000,
  /** + a bounded function of the Calico order for tiers ordered after `default`. */
  calicoAfter: 60_000,
  antreaBaseline: 89_000,
  baseline: 90_000,
} as const;

/** Name of the tier that holds Kubernetes NetworkPolicy. */
export const KUBERNETES_TIER = 'kubernetes';

/**
 * Priority of Kubernetes NetworkPolicy (and Cilium policy) inside the Kubernetes stage: Calico's `order`
 * for Kubernetes policies, so Calico default-tier policies interleave with them exactly as in Calico.
 */
export const KUBERNETES_POLICY_PRIORITY = 1000;
