/**
 * Why a flow got its verdict, as data (for `-o json`) plus one formatter for humans. Built from the same
 * pipeline run as `evaluate`, observed rule by rule, so the explanation cannot disagree with the verdict.
 */
import type { DirectionVerdict, Flow, RuleRef, Verdict } from '../ir/flow.js';
import type { Action, Direction, Policy, PolicyRef, Rule } from '../ir/policy.js';
import type { Protocol } from '../ir/endpoint.js';
import { evaluateObserved } from './evaluate.js';
import type { RuleCheck } from './match.js';
import type { PolicyModel } from './model.js';
import { participants, rulesOf } from './pipeline.js';
import { subjectSelects } from './selector.js';
import { sideOfFlowPeer } from './side.js';

export type RuleOutcome =
  | 'decided'
  | 'logged'
  | 'passed'
  /** Matched, but an earlier decision or a deny elsewhere made it irrelevant. */
  | 'matched'
  | 'peer-mismatch'
  | 'port-mismatch'
  | 'peer-and-port-mismatch'
  | 'not-reached';

export interface RuleExplanation {
  readonly index: number;
  readonly name?: string;
  readonly action: Action;
  readonly outcome: RuleOutcome;
  /** Present when the pipeline checked the rule. */
  readonly check?: RuleCheck;
  readonly notes: readonly string[];
}

export interface PolicyExplanation {
  readonly tier: string;
  readonly policy: PolicyRef;
  /** Whether the policy makes the subject default-deny in this direction. */
  readonly isolates: boolean;
  readonly rules: readonly RuleExplanation[];
}

export interface DirectionExplanation {
  readonly direction: Direction;
  /** The side whose pipeline this is (source for egress, destination for ingress). */
  readonly subject: string;
  /** The other side, as rules see it. */
  readonly peer: string;
  readonly verdict: DirectionVerdict;
  /** Policies selecting the subject in this direction, in evaluation order. */
  readonly policies: readonly PolicyExplanation[];
}

export interface Explanation {
  readonly flow: {
    readonly src: string;
    readonly dst: string;
    readonly protocol: Protocol;
    readonly port: number;
  };
  readonly verdict: Verdict;
  readonly egress: DirectionExplanation;
  readonly ingress: DirectionExplanation;
}

function sameRef(a: RuleRef, tier: string, policy: Policy, rule: Rule): boolean {
  return a.tier === tier && a.policy === policy.ref && a.rule === rule.index && a.action === rule.action;
}

function ruleNotes(rule: Rule): string[] {
  const notes: string[] = [];
  if (rule.peers !== 'any') {
    if (rule.peers.some((p) => p.kind === 'fqdn'))
      notes.push('FQDN peers never match at L3/L4 (no DNS view here)');
    if (rule.peers.some((p) => p.kind === 'entity' && p.entity === 'kube-apiserver')) {
      notes.push('the kube-apiserver entity is not modelled and never matches');
    }
  }
  if (rule.l7) notes.push(`L7 (${rule.l7.kind}) match is left to the L7 proxy; judged here at L3/L4 only`);
  return notes;
}

function outcomeOf(
  check: RuleCheck | undefined,
  verdict: DirectionVerdict,
  tier: string,
  policy: Policy,
  rule: Rule,
): RuleOutcome {
  if (!check) return 'not-reached';
  if (!check.peers) return check.ports ? 'peer-mismatch' : 'peer-and-port-mismatch';
  if (!check.ports) return 'port-mismatch';
  if (verdict.decidedBy && sameRef(verdict.decidedBy, tier, policy, rule)) return 'decided';
  if (verdict.trail.some((r) => sameRef(r, tier, policy, rule)))
    return rule.action === 'Pass' ? 'passed' : 'logged';
  return 'matched';
}

export function explain(model: PolicyModel, flow: Flow): Explanation {
  const checks = { Ingress: new Map<Rule, RuleCheck>(), Egress: new Map<Rule, RuleCheck>() };
  const verdict = evaluateObserved(model, flow, (direction, _tier, _policy, rule, check) => {
    checks[direction].set(rule, check);
  });
  const src = sideOfFlowPeer(model, flow.src);
  const dst = sideOfFlowPeer(model, flow.dst);

  const direction = (d: Direction): DirectionExplanation => {
    const [subject, peer] = d === 'Egress' ? [src, dst] : [dst, src];
    const v = d === 'Egress' ? verdict.egress : verdict.ingress;
    const e = subject.endpoint;
    const policies =
      e === undefined || e.hostNetwork
        ? []
        : model.tiers.flatMap((t) =>
            participants(t, d, (p) => subjectSelects(p.subject, e)).map((p): PolicyExplanation => ({
              tier: t.tier.name,
              policy: p.ref,
              isolates: p.isolates.includes(d),
              rules: rulesOf(p, d).map((rule) => {
                const check = checks[d].get(rule);
                const base = {
                  index: rule.index,
                  action: rule.action,
                  outcome: outcomeOf(check, v, t.tier.name, p, rule),
                  notes: ruleNotes(rule),
                };
                const named = rule.name === undefined ? base : { ...base, name: rule.name };
                return check ? { ...named, check } : named;
              }),
            })),
          );
    return { direction: d, subject: subject.label, peer: peer.label, verdict: v, policies };
  };

  return {
    flow: { src: src.label, dst: dst.label, protocol: flow.protocol, port: flow.port },
    verdict,
    egress: direction('Egress'),
    ingress: direction('Ingress'),
  };
}

function policyName(ref: PolicyRef): string {
  return `${ref.kind} ${ref.namespace === undefined ? '' : `${ref.namespace}/`}${ref.name}`;
}

function ruleName(ref: RuleRef): string {
  return `rule ${ref.rule} (${ref.action}) of ${policyName(ref.policy)} [${ref.tier}]`;
}

const OUTCOME_TEXT: Record<RuleOutcome, string> = {
  decided: 'matched, decided',
  logged: 'matched, logged',
  passed: 'matched, passed to the next tier',
  matched: 'matched',
  'peer-mismatch': 'peer does not match',
  'port-mismatch': 'port does not match',
  'peer-and-port-mismatch': 'neither peer nor port matches',
  'not-reached': 'not reached',
};

function headline(e: DirectionExplanation, flow: Explanation['flow']): string {
  const v = e.verdict;
  const what = `${flow.protocol}/${flow.port}`;
  const toward = e.direction === 'Egress' ? `to ${e.peer}` : `from ${e.peer}`;
  const result = v.allowed ? 'allowed' : v.decidedBy?.action === 'Reject' ? 'REJECTED' : 'DENIED';
  const selected = `selected by ${v.selectedBy.map((r) => policyName(r)).join(', ')} (${e.direction})`;
  const head = `${e.direction.toLowerCase()} ${e.subject}:`;
  switch (v.reason) {
    case 'not-subject':
      return `${head} not a pod, no policy applies → allowed`;
    case 'host-network':
      return `${head} host-network pod, not subject to network policy → allowed`;
    case 'loopback':
      return `${head} traffic to itself (loopback) → allowed`;
    case 'node-local':
      return `${head} from its own node, which policy cannot block → allowed`;
    case 'no-policy':
      return `${head} not isolated (no policy selects it) → allowed`;
    case 'isolated':
      return `${head} ${selected}; no rule allows ${what} ${toward} → ${result}`;
    case 'default':
      return `${head} ${selected}; no rule decided ${what} ${toward} → allowed by default`;
    case 'rule':
      return v.decidedBy
        ? `${head} ${selected}; ${ruleName(v.decidedBy)} matches ${what} ${toward} → ${result}`
        : `${head} ${selected} → ${result}`;
  }
}

function formatDirection(e: DirectionExplanation, flow: Explanation['flow']): string[] {
  const lines = [headline(e, flow)];
  for (const p of e.policies) {
    lines.push(`  [${p.tier}] ${policyName(p.policy)}${p.isolates ? ' (isolates)' : ''}`);
    if (p.rules.length === 0) lines.push('    no rules');
    for (const r of p.rules) {
      const label = `rule ${r.index}${r.name === undefined ? '' : ` "${r.name}"`} ${r.action}`;
      lines.push(`    ${label}: ${OUTCOME_TEXT[r.outcome]}`);
      for (const note of r.notes) lines.push(`      note: ${note}`);
    }
  }
  return lines;
}

export function formatExplanation(e: Explanation): string {
  const v = e.verdict;
  const result = v.allowed ? 'ALLOWED' : v.action === 'Reject' ? 'REJECTED' : 'DENIED';
  return [
    `${e.flow.protocol}/${e.flow.port} ${e.flow.src} → ${e.flow.dst}: ${result}`,
    ...formatDirection(e.egress, e.flow),
    ...formatDirection(e.ingress, e.flow),
  ].join('\n');
}
