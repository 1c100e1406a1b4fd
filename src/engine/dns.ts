/**
 * DNS policy, decided offline: what one DNS query from a pod gets. An additional layer on top of the L3/L4
 * verdict of the query's own flow (pod → DNS server, port 53), which it never changes: DNS rules only act
 * where L3/L4 allowed, in the client's egress (Cilium refuses DNS rules on ingress). Nothing here is enforced
 * in the datapath yet.
 *
 * - Cilium `rules.dns` (L7Match `dns`): the DNS rules of every allow of the deciding stage that matches the
 *   query's flow are one union, and an allow of the same flow without L7 rules wildcards them (the same
 *   merge as HTTP, Documentation/security/policy/layer7.rst; pkg/fqdn/dnsproxy CheckAllowed: any selector
 *   for the port whose regex matches the name allows); a query no rule allows gets REFUSED, or NXDOMAIN
 *   with Cilium's `--tofqdns-dns-reject-response-code=nameError` (Documentation/security/dns.rst's
 *   troubleshooting: "The proxy uses REFUSED DNS responses to indicate a denied request [...] denied
 *   responses can be configured to be NXDOMAIN").
 * - FQDN peers (every dialect) do no DNS filtering at all: "FQDN policies should not result in any form of
 *   DNS filtering" (NPEP-133, Expected Behavior); Antrea "will not tamper with DNS request/response packets"
 *   (docs/antrea-network-policy.md). A query with no DNS rule in the way is forwarded.
 */
import type { Flow, RuleRef, Verdict } from '../ir/flow.js';
import type { FqdnSemantics } from '../ir/peer.js';
import type { L7Match, Rule } from '../ir/policy.js';
import { addressesOf } from './dns-cache.js';
import { evaluateDetailed } from './evaluate.js';
import { canonicalName, fqdnMatches } from './fqdn.js';
import { locate, matchingAllows } from './l7.js';
import type { PolicyModel } from './model.js';
import type { Direction } from '../ir/policy.js';

/** What the client observes (ARCHITECTURE.md "Contracts"): the query's answer, or that none came. */
export type DnsResponse = 'forwarded' | 'dns:REFUSED' | 'dns:NXDOMAIN' | 'dropped' | 'reset';

/** The response code a refused query gets (Cilium `--tofqdns-dns-reject-response-code`: refused|nameError). */
export type DnsRefusal = 'REFUSED' | 'NXDOMAIN';

export interface DnsQueryOptions {
  /** Default REFUSED, as Cilium's default. */
  readonly refuseWith?: DnsRefusal;
}

/** How the client's DNS rules decided. */
export interface DnsDecision {
  readonly direction: Direction;
  readonly allowed: boolean;
  /**
   * - `matched`: pattern `entry` of the DNS rules of `by` selects the name;
   * - `l4-wildcard`: `by` allows the query's flow without L7 rules, which wildcards the DNS rules of the
   *   other allows;
   * - `no-match`: no DNS rule selects the name; `by` is the rule that decided at L3/L4.
   */
  readonly why: 'matched' | 'l4-wildcard' | 'no-match';
  readonly by: RuleRef;
  readonly entry?: number;
  readonly pattern?: string;
  readonly semantics: FqdnSemantics;
}

export interface DnsQueryVerdict {
  /** The L3/L4 verdict of the query's flow, unchanged. */
  readonly l4: Verdict;
  /** The end result: L3/L4 allowed and no DNS rule refused. */
  readonly allowed: boolean;
  readonly response: DnsResponse;
  /** The name asked, canonical (lower case, no trailing dot). */
  readonly name: string;
  /** Absent when no DNS rule had a say (the query is forwarded as it is). */
  readonly dns?: DnsDecision;
  /** Addresses the proxy has learnt for the name (model.dns): what a forwarded query is modelled to get. */
  readonly answers: readonly string[];
}

type DnsL7 = Extract<L7Match, { kind: 'dns' }>;

function dnsOf(rule: Rule): DnsL7 | undefined {
  return rule.l7?.kind === 'dns' ? rule.l7 : undefined;
}

/**
 * Evaluates one DNS query for `name` on `flow` (the client pod → the DNS server, port 53): the L3/L4
 * verdict first (a denial is `dropped`; a Reject is `reset` over TCP, and `dropped` over UDP, where no
 * answer comes), then the client's DNS rules.
 */
export function evaluateDnsQuery(
  model: PolicyModel,
  flow: Flow,
  name: string,
  options: DnsQueryOptions = {},
): DnsQueryVerdict {
  const canonical = canonicalName(name);
  const detail = evaluateDetailed(model, flow);
  const l4 = detail.verdict;
  if (!l4.allowed) {
    const response = l4.action === 'Reject' && flow.protocol === 'TCP' ? 'reset' : 'dropped';
    return { l4, allowed: false, response, name: canonical, answers: [] };
  }
  const forwarded: DnsQueryVerdict = {
    l4,
    allowed: true,
    response: 'forwarded',
    name: canonical,
    answers: addressesOf(model.dns, canonical),
  };
  const { verdict, query } = detail.egress;
  const by = verdict.decidedBy;
  if (by === undefined || query === undefined) return forwarded;
  const decided = locate(model, query, by);
  if (decided === undefined) return forwarded;
  const allows = matchingAllows(query, decided);
  const withDns = allows.flatMap((a) => {
    const l7 = dnsOf(a.rule);
    return l7 === undefined ? [] : [{ ...a, l7 }];
  });
  const first = withDns[0];
  if (first === undefined) return forwarded;
  const direction = query.direction;
  const refOf = (a: (typeof allows)[number]): RuleRef => ({
    tier: by.tier,
    policy: a.policy.ref,
    direction,
    rule: a.rule.index,
    action: a.rule.action,
  });
  const wildcard = allows.find((a) => a.rule.l7 === undefined);
  if (wildcard !== undefined) {
    const dns: DnsDecision = {
      direction,
      allowed: true,
      why: 'l4-wildcard',
      by: refOf(wildcard),
      semantics: first.l7.semantics ?? 'cilium',
    };
    return { ...forwarded, dns };
  }
  for (const a of withDns) {
    const semantics = a.l7.semantics ?? 'cilium';
    const entry = a.l7.patterns.findIndex((p) => fqdnMatches(semantics, p, canonical));
    const pattern = a.l7.patterns[entry];
    if (pattern !== undefined) {
      const dns: DnsDecision = {
        direction,
        allowed: true,
        why: 'matched',
        by: refOf(a),
        entry,
        pattern,
        semantics,
      };
      return { ...forwarded, dns };
    }
  }
  const dns: DnsDecision = {
    direction,
    allowed: false,
    why: 'no-match',
    by,
    semantics: first.l7.semantics ?? 'cilium',
  };
  return {
    l4,
    allowed: false,
    response: `dns:${options.refuseWith ?? 'REFUSED'}`,
    name: canonical,
    dns,
    answers: [],
  };
}
