/**
 * How a tier decides. `first-match`: the first Allow/Deny/Reject wins, Pass leaves the tier, no match
 * falls through. `union`: Kubernetes NetworkPolicy — any allowing rule allows; an endpoint selected in
 * an isolating direction with no allowing rule is denied.
 */
export type TierSemantics = 'first-match' | 'union';

export interface Tier {
  readonly name: string;
  /** Position in the pipeline; lower runs first. */
  readonly order: number;
  readonly semantics: TierSemantics;
}

/** Name of the tier that holds Kubernetes NetworkPolicy. */
export const KUBERNETES_TIER = 'kubernetes';
