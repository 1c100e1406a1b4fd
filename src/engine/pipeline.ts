/**
 * The evaluation order, in one place (ARCHITECTURE.md "Evaluation order"). A direction's pipeline is the
 * list of tier stages in order, each answering allow | deny | reject | pass | next, followed by the default
 * verdict. Stages never look at endpoints directly: a DirectionQuery answers "which policies take part" and
 * "does this rule match", so the same order serves single flows and class-based matrices.
 */
import type { DirectionReason, RuleRef } from '../ir/flow.js';
import type { Direction, Policy, Rule } from '../ir/policy.js';
import { KUBERNETES_TIER, TIER_ORDER } from '../ir/tier.js';
import type { Tier } from '../ir/tier.js';
import type { RuleCheck } from './match.js';
import type { PolicyModel, TierModel } from './model.js';

/** Built-in tiers; list position is the order. */
export const DEFAULT_TIERS: readonly Tier[] = [
  { name: 'admin', order: TIER_ORDER.admin, semantics: 'first-match' },
  { name: KUBERNETES_TIER, order: TIER_ORDER.kubernetes, semantics: 'union' },
  { name: 'baseline', order: TIER_ORDER.baseline, semantics: 'first-match' },
];

export type Decision = 'allow' | 'deny' | 'reject' | 'pass' | 'next';

/** What happens when every stage says next or pass: Kubernetes' default (non-isolated) allow. */
export const DEFAULT_VERDICT = { allowed: true, action: 'Allow' } as const;

/** Questions a stage asks about the flow, for one direction of one subject. */
export interface DirectionQuery {
  readonly direction: Direction;
  /** Policies of tier `tierIndex` that take part for the subject (see `participants`), in model order. */
  policies(tierIndex: number): readonly Policy[];
  check(policy: Policy, rule: Rule): RuleCheck;
}

/** Sees every rule a stage actually checked (for explanations). */
export type RuleObserver = (tier: Tier, policy: Policy, rule: Rule, check: RuleCheck) => void;

export interface StageResult {
  readonly decision: Decision;
  /** 'isolated' when the stage denied without a rule (no allow for an isolated subject). */
  readonly reason?: 'rule' | 'isolated';
  readonly decidedBy?: RuleRef;
}

export interface Stage {
  readonly tier: Tier;
  run(query: DirectionQuery, trail: RuleRef[], observe?: RuleObserver): StageResult;
}

export function rulesOf(policy: Policy, direction: Direction): readonly Rule[] {
  return direction === 'Ingress' ? policy.ingress : policy.egress;
}

/**
 * Whether a policy that selects the subject takes part in `direction`. Union tiers follow Kubernetes
 * policyTypes: only isolating directions count. First-match tiers count a policy that has rules in the
 * direction or isolates it (an isolating first-match policy denies at the end of its tier, as Calico's
 * end-of-tier drop does).
 */
export function participates(tier: Tier, policy: Policy, direction: Direction): boolean {
  if (policy.isolates.includes(direction)) return true;
  return tier.semantics === 'first-match' && rulesOf(policy, direction).length > 0;
}

export function participants(
  tier: TierModel,
  direction: Direction,
  selects: (p: Policy) => boolean,
): Policy[] {
  return tier.policies.filter((p) => participates(tier.tier, p, direction) && selects(p));
}

function ruleRef(tier: Tier, policy: Policy, direction: Direction, rule: Rule): RuleRef {
  return { tier: tier.name, policy: policy.ref, direction, rule: rule.index, action: rule.action };
}

const matched = (c: RuleCheck): boolean => c.peers && c.ports;

/** First Allow/Deny/Reject wins; Pass leaves the tier; Log records and goes on. */
function firstMatchStage(tier: Tier, index: number): Stage {
  return {
    tier,
    run(query, trail, observe) {
      const { direction } = query;
      const policies = query.policies(index);
      for (const policy of policies) {
        for (const rule of rulesOf(policy, direction)) {
          const c = query.check(policy, rule);
          observe?.(tier, policy, rule, c);
          if (!matched(c)) continue;
          const ref = ruleRef(tier, policy, direction, rule);
          switch (rule.action) {
            case 'Allow':
              return { decision: 'allow', reason: 'rule', decidedBy: ref };
            case 'Deny':
              return { decision: 'deny', reason: 'rule', decidedBy: ref };
            case 'Reject':
              return { decision: 'reject', reason: 'rule', decidedBy: ref };
            case 'Pass':
              trail.push(ref);
              return { decision: 'pass' };
            case 'Log':
              trail.push(ref);
              break;
          }
        }
      }
      if (policies.some((p) => p.isolates.includes(direction)))
        return { decision: 'deny', reason: 'isolated' };
      return { decision: 'next' };
    },
  };
}

/**
 * Kubernetes NetworkPolicy: allows are a union, a matching Deny/Reject wins over any allow (Cilium's
 * deny rules), and a subject selected by an isolating policy with nothing allowing is denied. Pass has no
 * meaning here and is ignored.
 */
function unionStage(tier: Tier, index: number): Stage {
  return {
    tier,
    run(query, trail, observe) {
      const { direction } = query;
      const policies = query.policies(index);
      let allow: RuleRef | undefined;
      for (const policy of policies) {
        for (const rule of rulesOf(policy, direction)) {
          const c = query.check(policy, rule);
          observe?.(tier, policy, rule, c);
          if (!matched(c)) continue;
          const ref = ruleRef(tier, policy, direction, rule);
          if (rule.action === 'Deny') return { decision: 'deny', reason: 'rule', decidedBy: ref };
          if (rule.action === 'Reject') return { decision: 'reject', reason: 'rule', decidedBy: ref };
          if (rule.action === 'Allow') allow ??= ref;
          if (rule.action === 'Log') trail.push(ref);
        }
      }
      if (allow) return { decision: 'allow', reason: 'rule', decidedBy: allow };
      if (policies.length > 0) return { decision: 'deny', reason: 'isolated' };
      return { decision: 'next' };
    },
  };
}

/** The stages of a model's pipeline: one per tier, in tier order. */
export function pipelineFor(model: PolicyModel): readonly Stage[] {
  return model.tiers.map((t, i) =>
    t.tier.semantics === 'union' ? unionStage(t.tier, i) : firstMatchStage(t.tier, i),
  );
}

export interface PipelineResult {
  readonly allowed: boolean;
  readonly action: 'Allow' | 'Deny' | 'Reject';
  readonly reason: Extract<DirectionReason, 'rule' | 'isolated' | 'default' | 'no-policy'>;
  readonly decidedBy?: RuleRef;
  /** Tier whose stage decided; absent when the default decided. */
  readonly tier?: string;
  readonly trail: readonly RuleRef[];
}

export function runPipeline(
  stages: readonly Stage[],
  query: DirectionQuery,
  observe?: RuleObserver,
): PipelineResult {
  const trail: RuleRef[] = [];
  for (const stage of stages) {
    const r = stage.run(query, trail, observe);
    if (r.decision === 'next' || r.decision === 'pass') continue;
    const action = r.decision === 'allow' ? 'Allow' : r.decision === 'deny' ? 'Deny' : 'Reject';
    const base: PipelineResult = {
      allowed: action === 'Allow',
      action,
      reason: r.reason ?? 'rule',
      tier: stage.tier.name,
      trail,
    };
    return r.decidedBy ? { ...base, decidedBy: r.decidedBy } : base;
  }
  const selected = stages.some((_, i) => query.policies(i).length > 0);
  return {
    ...DEFAULT_VERDICT,
    reason: selected ? 'default' : 'no-policy',
    trail,
  };
}
