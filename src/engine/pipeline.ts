/**
 * The evaluation order, in one place (ARCHITECTURE.md "Evaluation order"). A direction's pipeline is a list
 * of stages, each answering allow | deny | reject | pass | next, followed by the default verdict. Stages
 * never look at endpoints directly: a DirectionQuery answers "which policies take part" and "does this rule
 * match", so the same order serves single flows and class-based matrices.
 *
 * Inside a stage every policy is read the same way: its rules in written order, the first matching
 * Allow/Deny/Reject/Pass is the policy's decision, a matching Log is recorded and the walk goes on. Stages
 * differ in how they combine the decisions of their policies:
 * - first-match tiers: the first policy (by priority, then name) with a decision decides;
 * - union tiers (the Kubernetes stage): policies of equal priority form a group whose decision is
 *   deny/reject if any member denies, else allow if any allows, else pass if any passes; the first group
 *   with a decision decides. With only Kubernetes NetworkPolicies (all priority 0, all Allow) this is the
 *   Kubernetes union of allows; Calico's `order` makes the groups; Cilium's deny-wins is the group rule.
 * Both deny at the end of the stage ('isolated') when nothing decided and a participating policy isolates
 * the direction (Kubernetes isolation, Calico's end-of-tier drop). A Pass continues at the tier the rule
 * names (`passTo`) when that tier comes later, else at the next stage.
 */
import type { DirectionReason, RuleRef } from '../ir/flow.js';
import type { Direction, Policy, Rule } from '../ir/policy.js';
import { KUBERNETES_TIER, TIER_ORDER } from '../ir/tier.js';
import type { Tier } from '../ir/tier.js';
import { ruleMatches } from './match.js';
import type { RuleCheck } from './match.js';
import type { PolicyModel, TierModel } from './model.js';

/** Built-in tiers; dialects add theirs (see TIER_ORDER for the bands). */
export const DEFAULT_TIERS: readonly Tier[] = [
  { name: 'admin', order: TIER_ORDER.admin, semantics: 'first-match' },
  { name: KUBERNETES_TIER, order: TIER_ORDER.kubernetes, semantics: 'union' },
  { name: 'baseline', order: TIER_ORDER.baseline, semantics: 'first-match' },
];

export type Decision = 'allow' | 'deny' | 'reject' | 'pass' | 'next';

/** What happens when every stage says next or pass: Kubernetes' default (non-isolated) allow. */
export const DEFAULT_VERDICT = { allowed: true, action: 'Allow' } as const;

/** Policies inside a tier: lower priority first, ties by name (then namespace and kind, for determinism). */
export function comparePolicies(a: Policy, b: Policy): number {
  return (
    a.priority - b.priority ||
    cmp(a.ref.name, b.ref.name) ||
    cmp(a.ref.namespace ?? '', b.ref.namespace ?? '') ||
    cmp(a.ref.kind, b.ref.kind)
  );
}

/** Tiers: lower order first, ties by name. */
export function compareTiers(a: Tier, b: Tier): number {
  return a.order - b.order || cmp(a.name, b.name);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * How a CNI orders policy, selectable with `--semantics`. `kubernetes` is the documented order of
 * ARCHITECTURE.md; the others reproduce what Kim et al. 2025 (papers/kim-2025-cni-network-policies.txt,
 * §IV-D) observed on the real CNIs. See PROFILES.
 */
export type SemanticsProfile = 'kubernetes' | 'calico' | 'cilium' | 'antrea';

/** Questions a stage asks about the flow, for one direction of one subject. */
export interface DirectionQuery {
  readonly direction: Direction;
  /** Policies of model tier `tierIndex` that take part for the subject (see `participates`), in model order. */
  policies(tierIndex: number): readonly Policy[];
  check(policy: Policy, rule: Rule): RuleCheck;
}

/** Sees every rule a stage actually checked (for explanations); `tier` is the stage's tier. */
export type RuleObserver = (tier: Tier, policy: Policy, rule: Rule, check: RuleCheck) => void;

export interface StageResult {
  readonly decision: Decision;
  /** 'isolated' when the stage denied without a rule (no decision for an isolated subject). */
  readonly reason?: 'rule' | 'isolated';
  /** The rule that decided; for a pass, the Pass rule. */
  readonly decidedBy?: RuleRef;
  /** For a pass: the tier the Pass rule names. */
  readonly passTo?: string;
  /** A gate let the flow through to the rest of the pipeline on this rule (decision 'next'). */
  readonly admittedBy?: RuleRef;
}

/**
 * `gate`: a stage that can only stop a flow: its deny is final, its allow lets the flow on to the next
 * stage (how the CNI profiles run Kubernetes NetworkPolicy in front of the CNI's own policy).
 */
export type StageKind = 'first-match' | 'union' | 'gate';

export interface Stage {
  /** The tier the stage runs (for the gate, a tier of its own: KUBERNETES_GATE_TIER). */
  readonly tier: Tier;
  readonly kind: StageKind;
  /** Policies that take part for the query's subject, in evaluation order. */
  policies(query: DirectionQuery): readonly Policy[];
  run(query: DirectionQuery, trail: RuleRef[], observe?: RuleObserver): StageResult;
}

export function rulesOf(policy: Policy, direction: Direction): readonly Rule[] {
  return direction === 'Ingress' ? policy.ingress : policy.egress;
}

/**
 * Whether a policy that selects the subject takes part in `direction`: it isolates the direction or has
 * rules in it. (The Kubernetes dialect keeps no rules for a direction policyTypes leaves out, so
 * NetworkPolicy takes part exactly in its policyTypes.) The tier is part of the signature so that a tier
 * kind may narrow it; none does today.
 */
export function participates(_tier: Tier, policy: Policy, direction: Direction): boolean {
  return policy.isolates.includes(direction) || rulesOf(policy, direction).length > 0;
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

/** One policy's decision: its first matching Allow/Deny/Reject/Pass, or none. */
interface PolicyDecision {
  readonly decision: 'allow' | 'deny' | 'reject' | 'pass' | 'none';
  readonly ref?: RuleRef;
  readonly passTo?: string;
}

const NONE: PolicyDecision = { decision: 'none' };

function decide(
  tier: Tier,
  policy: Policy,
  query: DirectionQuery,
  trail: RuleRef[],
  observe: RuleObserver | undefined,
): PolicyDecision {
  const { direction } = query;
  for (const rule of rulesOf(policy, direction)) {
    const c = query.check(policy, rule);
    observe?.(tier, policy, rule, c);
    if (!ruleMatches(c)) continue;
    const ref = ruleRef(tier, policy, direction, rule);
    switch (rule.action) {
      case 'Allow':
        return { decision: 'allow', ref };
      case 'Deny':
        return { decision: 'deny', ref };
      case 'Reject':
        return { decision: 'reject', ref };
      case 'Pass':
        return rule.passTo === undefined
          ? { decision: 'pass', ref }
          : { decision: 'pass', ref, passTo: rule.passTo };
      case 'Log':
        trail.push(ref);
        break;
    }
  }
  return NONE;
}

function resultOf(d: PolicyDecision, trail: RuleRef[]): StageResult {
  if (d.decision === 'none' || d.ref === undefined) return { decision: 'next' };
  if (d.decision === 'pass') {
    trail.push(d.ref);
    const r: StageResult = { decision: 'pass', reason: 'rule', decidedBy: d.ref };
    return d.passTo === undefined ? r : { ...r, passTo: d.passTo };
  }
  return { decision: d.decision, reason: 'rule', decidedBy: d.ref };
}

function endOfStage(tier: Tier, policies: readonly Policy[], direction: Direction): StageResult {
  return tier.defaultAction !== 'Pass' && policies.some((p) => p.isolates.includes(direction))
    ? { decision: 'deny', reason: 'isolated' }
    : { decision: 'next' };
}

/** The first policy with a decision decides. */
function runFirstMatch(
  tier: Tier,
  policies: readonly Policy[],
  query: DirectionQuery,
  trail: RuleRef[],
  observe: RuleObserver | undefined,
): StageResult {
  for (const policy of policies) {
    const d = decide(tier, policy, query, trail, observe);
    if (d.decision !== 'none') return resultOf(d, trail);
  }
  return endOfStage(tier, policies, query.direction);
}

/** Groups of equal priority; deny/reject over allow over pass inside a group; the first deciding group wins. */
function runUnion(
  tier: Tier,
  policies: readonly Policy[],
  query: DirectionQuery,
  trail: RuleRef[],
  observe: RuleObserver | undefined,
): StageResult {
  let i = 0;
  while (i < policies.length) {
    const priority = policies[i]?.priority;
    let deny: PolicyDecision | undefined;
    let allow: PolicyDecision | undefined;
    let pass: PolicyDecision | undefined;
    for (; i < policies.length && policies[i]?.priority === priority; i++) {
      const policy = policies[i];
      if (policy === undefined) break;
      const d = decide(tier, policy, query, trail, observe);
      if (d.decision === 'deny' || d.decision === 'reject') deny ??= d;
      else if (d.decision === 'allow') allow ??= d;
      else if (d.decision === 'pass') pass ??= d;
    }
    const winner = deny ?? allow ?? pass;
    if (winner) return resultOf(winner, trail);
  }
  return endOfStage(tier, policies, query.direction);
}

/** One model tier as a stage; `keep` narrows its policies (the CNI profiles take Kubernetes policy out). */
function tierStage(index: number, tier: Tier, keep?: (p: Policy) => boolean): Stage {
  const policies = (query: DirectionQuery): readonly Policy[] => {
    const all = query.policies(index);
    return keep === undefined ? all : all.filter(keep);
  };
  const kind: StageKind = tier.semantics === 'union' ? 'union' : 'first-match';
  const combine = kind === 'union' ? runUnion : runFirstMatch;
  return {
    tier,
    kind,
    policies,
    run: (query, trail, observe) => combine(tier, policies(query), query, trail, observe),
  };
}

/** The tier the CNI profiles' Kubernetes NetworkPolicy gate reports decisions in. */
export const KUBERNETES_GATE_TIER: Tier = {
  name: 'kubernetes-gate',
  order: 0,
  semantics: 'union',
  dialect: 'kubernetes',
};

/**
 * Policies matching `keep` from every tier, combined as the Kubernetes stage combines them; a deny is
 * final, an allow (or no policy) lets the flow on to the rest of the pipeline.
 */
function gateStage(model: PolicyModel, keep: (p: Policy) => boolean): Stage {
  const tier = KUBERNETES_GATE_TIER;
  const policies = (query: DirectionQuery): readonly Policy[] => {
    const all = model.tiers.flatMap((_, i) => query.policies(i).filter(keep));
    return model.tiers.length > 1 ? all.sort(comparePolicies) : all;
  };
  return {
    tier,
    kind: 'gate',
    policies,
    run(query, trail, observe) {
      const r = runUnion(tier, policies(query), query, trail, observe);
      if (r.decision === 'allow' && r.decidedBy) return { decision: 'next', admittedBy: r.decidedBy };
      // A Pass means nothing to a gate (Kubernetes policy has none): the flow goes on.
      if (r.decision === 'pass' || r.decision === 'allow') return { decision: 'next' };
      return r;
    },
  };
}

/** The documented order: one stage per model tier. */
function tierStages(model: PolicyModel, keep?: (p: Policy) => boolean): Stage[] {
  return model.tiers.map((t, i) => tierStage(i, t.tier, keep));
}

/**
 * Attribution data, used here only because the profiles are about where each CNI hooks Kubernetes
 * NetworkPolicy relative to its own policy.
 */
const isKubernetesPolicy = (p: Policy): boolean => p.ref.dialect === 'kubernetes';

/**
 * Kubernetes NetworkPolicy as a gate in front of everything else: if it denies, deny; if it allows or
 * selects nothing, the rest of the pipeline (without the Kubernetes policies) decides; default allow.
 */
function kubernetesFirst(model: PolicyModel): Stage[] {
  return [gateStage(model, isKubernetesPolicy), ...tierStages(model, (p) => !isKubernetesPolicy(p))];
}

export interface Profile {
  readonly name: SemanticsProfile;
  readonly summary: string;
  readonly stages: (model: PolicyModel) => Stage[];
}

/** Every semantic profile, built here and nowhere else. */
export const PROFILES: Readonly<Record<SemanticsProfile, Profile>> = {
  /** ARCHITECTURE.md's documented order: admin tiers → Kubernetes stage → baseline → default allow. */
  kubernetes: {
    name: 'kubernetes',
    summary: 'the documented order: admin tiers, the Kubernetes stage, baseline, default allow',
    stages: (model) => tierStages(model),
  },
  /**
   * Kim et al. 2025 §IV-D: "Calico's Felix translates policies into iptables rules in chains that are
   * distinct from those utilized by Kubernetes. However, these Calico-specific chains are positioned
   * subsequent to the Kubernetes' iptables processing flow." — so a Kubernetes default deny blocks
   * traffic a Calico policy allows (their case C).
   */
  calico: {
    name: 'calico',
    summary: 'Kubernetes NetworkPolicy enforced first (Kim et al. 2025 §IV-D), then Calico policy',
    stages: kubernetesFirst,
  },
  /**
   * Kim et al. 2025 §IV-D: "both Cilium, which employs TCP, XDP, and eBPF maps, and Antrea [...] operate
   * their processing hooks or OVS pipelines after the point where Kubernetes evaluates network policies".
   */
  cilium: {
    name: 'cilium',
    summary: 'Kubernetes NetworkPolicy enforced first (Kim et al. 2025 §IV-D), then Cilium policy',
    stages: kubernetesFirst,
  },
  /**
   * Kim et al. 2025 §IV-D: "Antrea, which converts to OVS Flow Rules applied to node bridges, operate[s]
   * [its] processing hooks or OVS pipelines after the point where Kubernetes evaluates network policies.
   * Consequently, when packets enter the network stack, Kubernetes policies are applied first".
   */
  antrea: {
    name: 'antrea',
    summary: 'Kubernetes NetworkPolicy enforced first (Kim et al. 2025 §IV-D), then Antrea policy',
    stages: kubernetesFirst,
  },
};

export const SEMANTICS_PROFILES: readonly SemanticsProfile[] = ['kubernetes', 'calico', 'cilium', 'antrea'];

export function isSemanticsProfile(s: string): s is SemanticsProfile {
  return (SEMANTICS_PROFILES as readonly string[]).includes(s);
}

/** The stages of a model's pipeline under `profile` (default: the one the model was built with). */
export function pipelineFor(
  model: PolicyModel,
  profile: SemanticsProfile = model.semantics,
): readonly Stage[] {
  return PROFILES[profile].stages(model);
}

/** One stage that did something: decided, passed, or (a gate) let the flow through. */
export interface StageStep {
  readonly tier: string;
  readonly decision: Decision;
  readonly reason?: 'rule' | 'isolated';
  /** The rule that decided, passed, or was admitted by a gate. */
  readonly by?: RuleRef;
  /** For a pass: the tier the rule named, if any. */
  readonly requested?: string;
  /** For a pass: where the walk continued; absent when no stage was left (the default decided). */
  readonly continuedAt?: string;
  /** For a pass: stages jumped over. */
  readonly skipped?: readonly string[];
}

export interface PipelineResult {
  readonly allowed: boolean;
  readonly action: 'Allow' | 'Deny' | 'Reject';
  readonly reason: Extract<DirectionReason, 'rule' | 'isolated' | 'default' | 'no-policy'>;
  readonly decidedBy?: RuleRef;
  /** Tier whose stage decided; absent when the default decided. */
  readonly tier?: string;
  /** Logged and passed rules, in order. */
  readonly trail: readonly RuleRef[];
  /** Stages that decided, passed (with where the walk went) or admitted, in order. */
  readonly steps: readonly StageStep[];
}

function passStep(stages: readonly Stage[], at: number, r: StageResult): { step: StageStep; next: number } {
  const target = r.passTo === undefined ? -1 : stages.findIndex((s, j) => j > at && s.tier.name === r.passTo);
  const next = target > at ? target : at + 1;
  const continuedAt = stages[next]?.tier.name;
  const step: StageStep = {
    tier: stages[at]?.tier.name ?? '',
    decision: 'pass',
    skipped: stages.slice(at + 1, next).map((s) => s.tier.name),
    ...(r.decidedBy ? { by: r.decidedBy } : {}),
    ...(r.passTo === undefined ? {} : { requested: r.passTo }),
    ...(continuedAt === undefined ? {} : { continuedAt }),
  };
  return { step, next };
}

export function runPipeline(
  stages: readonly Stage[],
  query: DirectionQuery,
  observe?: RuleObserver,
): PipelineResult {
  const trail: RuleRef[] = [];
  const steps: StageStep[] = [];
  let at = 0;
  while (at < stages.length) {
    const stage = stages[at];
    if (stage === undefined) break;
    const r = stage.run(query, trail, observe);
    if (r.decision === 'next') {
      if (r.admittedBy) steps.push({ tier: stage.tier.name, decision: 'next', by: r.admittedBy });
      at++;
      continue;
    }
    if (r.decision === 'pass') {
      const { step, next } = passStep(stages, at, r);
      steps.push(step);
      at = next;
      continue;
    }
    const action = r.decision === 'allow' ? 'Allow' : r.decision === 'deny' ? 'Deny' : 'Reject';
    const reason = r.reason ?? 'rule';
    steps.push({
      tier: stage.tier.name,
      decision: r.decision,
      reason,
      ...(r.decidedBy ? { by: r.decidedBy } : {}),
    });
    const base: PipelineResult = {
      allowed: action === 'Allow',
      action,
      reason,
      tier: stage.tier.name,
      trail,
      steps,
    };
    return r.decidedBy ? { ...base, decidedBy: r.decidedBy } : base;
  }
  const selected = stages.some((s) => s.policies(query).length > 0);
  return {
    ...DEFAULT_VERDICT,
    reason: selected ? 'default' : 'no-policy',
    trail,
    steps,
  };
}
