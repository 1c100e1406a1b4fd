import type { LintCode, LintSeverity } from './types.js';

/** One line per code: what it flags. SARIF `rules` and the docs are built from this table. */
export const LINT_CODES: Readonly<
  Record<LintCode, { readonly summary: string; readonly level: LintSeverity }>
> = {
  'no-policy-enforcement': { summary: 'the target enforces no network policy at all', level: 'error' },
  'kind-not-read': { summary: 'the target does not read this policy kind', level: 'error' },
  'kind-conditional': {
    summary: 'the target reads this policy kind only from a version or with a feature gate',
    level: 'warning',
  },
  'egress-conditional': {
    summary: 'egress isolation is not (fully) enforced by older releases',
    level: 'warning',
  },
  'end-port': { summary: 'NetworkPolicy endPort (port ranges) is not enforced', level: 'error' },
  'named-port': { summary: 'named ports are not supported', level: 'error' },
  sctp: { summary: 'SCTP rules need extra support', level: 'warning' },
  'ipblock-pods': { summary: 'ipBlock does not match pod IPs on the target', level: 'error' },
  'l7-conditional': { summary: 'L7 rules need an edition, a mesh or a feature gate', level: 'warning' },
  'fqdn-conditional': {
    summary: 'a DNS name pattern means something else on older releases',
    level: 'warning',
  },
  'tier-conditional': { summary: 'tiers need a recent release or another edition', level: 'warning' },
  'kubernetes-first': {
    summary: 'Kubernetes NetworkPolicy is enforced before the admin-tier policy (Kim et al. 2025 §IV-D)',
    level: 'warning',
  },
  'no-equivalent-action': { summary: 'a rewrite for the target cannot express this action', level: 'info' },
  'no-equivalent-l7': { summary: 'a rewrite for the target cannot express this L7 match', level: 'info' },
  'no-equivalent-fqdn': { summary: 'a rewrite for the target cannot match domain names', level: 'info' },
  'no-equivalent-order': { summary: 'a rewrite for the target loses priorities and tiers', level: 'info' },
};
