import type { Cluster, Policy, Tier } from '../../ir/index.js';

/** The CNIs (and the bare Kubernetes API) a policy set can be linted against. */
export type Target = 'calico' | 'cilium' | 'antrea' | 'kube-router' | 'weave' | 'flannel' | 'kubernetes';

export const TARGETS: readonly Target[] = [
  'calico',
  'cilium',
  'antrea',
  'kube-router',
  'weave',
  'flannel',
  'kubernetes',
];

export function isTarget(value: string): value is Target {
  return (TARGETS as readonly string[]).includes(value);
}

/**
 * error: the target certainly enforces something other than what is written; warning: it does so on some
 * versions, settings or clusters; info: what a rewrite for the target could not express.
 */
export type LintSeverity = 'error' | 'warning' | 'info';

export type LintCode =
  | 'no-policy-enforcement'
  | 'kind-not-read'
  | 'kind-conditional'
  | 'egress-conditional'
  | 'end-port'
  | 'named-port'
  | 'sctp'
  | 'ipblock-pods'
  | 'l7-conditional'
  | 'fqdn-conditional'
  | 'tier-conditional'
  | 'kubernetes-first'
  | 'no-equivalent-action'
  | 'no-equivalent-l7'
  | 'no-equivalent-fqdn'
  | 'no-equivalent-order';

/** One construct the target cannot enforce or enforces differently, with where it was written. */
export interface LintFinding {
  readonly code: LintCode;
  readonly severity: LintSeverity;
  readonly target: Target;
  /** File path ('-' for stdin); undefined only for policies built in code. */
  readonly file: string;
  /** Zero-based YAML document index. */
  readonly doc: number;
  /**
   * Field path inside the object (`spec.ingress[0].ports[1]`), relative to the object: inside a
   * `kind: List` it lacks the item's `items[i].` prefix.
   */
  readonly path: string;
  /** `Kind namespace/name` of the object. */
  readonly policy: string;
  /** Index of the rule in its written list (see `path` for which list). */
  readonly rule?: number;
  readonly message: string;
  /** What happens to traffic. */
  readonly consequence: string;
  /** Where the fact about the target comes from (docs, code, papers). */
  readonly source: string;
}

/** A finding with the 1-based line of its path in its file, when the policy recorded lines. */
export interface LocatedFinding {
  readonly finding: LintFinding;
  readonly line?: number;
}

export interface LintInput {
  readonly policies: readonly Policy[];
  /** Declared and built-in tiers, to tell admin tiers (before Kubernetes NetworkPolicy) from later ones. */
  readonly tiers?: readonly Tier[];
  /** Pods and nodes, when known: they turn "may" into concrete findings (ipBlock over pod IPs, overlaps). */
  readonly cluster?: Cluster;
}
