/**
 * How one tier of an endpoint's pipeline becomes an ordered list of steps "flows in this set → this
 * verdict", the first matching step deciding — the shape both compilers emit (one nft set lookup, or a run
 * of iptables rules, per step). Pure.
 *
 * First-match tiers are already such a list: the rules of the policies in order, consecutive rules of one
 * verdict merged into one step.
 *
 * Union tiers (the Kubernetes stage) are exact by construction too. pipeline.ts reads every policy of a
 * priority group first-match in written order and lets the group decide deny/reject over allow over pass.
 * A chain that put all the group's deny rules before its allows would get a policy wrong whose earlier
 * Allow shadows its later Deny. So each rule's step entry carries `unless`: the earlier rules of the SAME
 * policy that decide the flow differently and that the step order would not already put first. The
 * compilers subtract those at compile time (set difference of concrete boxes), so an entry holds exactly
 * the flows for which the rule is its policy's decision. Then, per group:
 *   1. log steps: each Log rule minus every earlier decisive rule of its policy (non-terminal, so first);
 *   2. deny/reject steps, policy by policy: a Deny rule minus earlier Allow/Pass/Reject rules of its
 *      policy (a Reject likewise); the first deny-ish policy names the action, as `deny ??= d` does;
 *   3. one allow step: each Allow rule minus earlier Pass rules of its policy (an earlier deny-ish rule
 *      decides the flow in step 2 already);
 *   4. pass steps, policy by policy: a Pass minus earlier Pass rules of its policy with another target;
 *      the first passing policy names the target, as `pass ??= d` does.
 * A flow none of the group's steps takes goes on to the next group, as when no policy of it decides.
 */
import type { PolicyRef } from '../../ir/policy.js';
import { policyId } from '../../ir/policy.js';
import type { PolicyRules, ResolvedRule, TierRules } from './endpoint-rules.js';

export type StepVerdict = 'log' | 'deny' | 'reject' | 'allow' | 'pass';

/** The flows `rule` matches that none of `unless` matches. */
export interface PlanEntry {
  readonly rule: ResolvedRule;
  readonly unless: readonly ResolvedRule[];
}

export interface PlanStep {
  readonly verdict: StepVerdict;
  /** Pass: where the walk continues (model tier index, see ResolvedRule.continueAt). */
  readonly continueAt?: number;
  /** Policies whose rules the step holds, in order (nflog attribution). */
  readonly policies: readonly PolicyRef[];
  readonly entries: readonly PlanEntry[];
}

const VERDICT = { Allow: 'allow', Deny: 'deny', Reject: 'reject', Pass: 'pass', Log: 'log' } as const;
const isDecisive = (r: ResolvedRule): boolean => r.action !== 'Log';

/** Log steps never merge across policies: their nflog prefix names the policy. */
function stepKey(verdict: StepVerdict, continueAt: number | undefined, policy: PolicyRef): string {
  return verdict === 'log' ? `log|${policyId(policy)}` : `${verdict}|${continueAt ?? ''}`;
}

/** Appends entries, merging into the last step when it has the same key. */
class Steps {
  readonly list: PlanStep[] = [];
  private lastKey = '';

  add(verdict: StepVerdict, policy: PolicyRef, entries: readonly PlanEntry[], continueAt?: number): void {
    if (entries.length === 0) return;
    const key = stepKey(verdict, continueAt, policy);
    const last = this.list[this.list.length - 1];
    if (last && key === this.lastKey) {
      const known = last.policies.some((q) => policyId(q) === policyId(policy));
      const policies = known ? last.policies : [...last.policies, policy];
      this.list[this.list.length - 1] = { ...last, policies, entries: [...last.entries, ...entries] };
      return;
    }
    this.lastKey = key;
    this.list.push({
      verdict,
      ...(continueAt === undefined ? {} : { continueAt }),
      policies: [policy],
      entries,
    });
  }
}

function firstMatchSteps(policies: readonly PolicyRules[]): PlanStep[] {
  const steps = new Steps();
  for (const p of policies) {
    for (const rule of p.rules)
      steps.add(VERDICT[rule.action], p.policy, [{ rule, unless: [] }], rule.continueAt);
  }
  return steps.list;
}

/** Entries of `p` whose rule passes `pick`, each minus the earlier rules of `p` that `shadows` selects. */
function entriesOf(
  p: PolicyRules,
  pick: (r: ResolvedRule) => boolean,
  shadows: (earlier: ResolvedRule, rule: ResolvedRule) => boolean,
): PlanEntry[] {
  return p.rules.flatMap((rule, i) =>
    pick(rule) ? [{ rule, unless: p.rules.slice(0, i).filter((e) => shadows(e, rule)) }] : [],
  );
}

function groupSteps(steps: Steps, group: readonly PolicyRules[]): void {
  for (const p of group) {
    steps.add(
      'log',
      p.policy,
      entriesOf(p, (r) => r.action === 'Log', isDecisive),
    );
  }
  for (const p of group) {
    for (const action of ['Deny', 'Reject'] as const) {
      const entries = entriesOf(
        p,
        (r) => r.action === action,
        (e) => isDecisive(e) && e.action !== action,
      );
      steps.add(VERDICT[action], p.policy, entries);
    }
  }
  for (const p of group) {
    steps.add(
      'allow',
      p.policy,
      entriesOf(
        p,
        (r) => r.action === 'Allow',
        (e) => e.action === 'Pass',
      ),
    );
  }
  for (const p of group) {
    for (const [i, rule] of p.rules.entries()) {
      if (rule.action !== 'Pass') continue;
      const unless = p.rules
        .slice(0, i)
        .filter((e) => e.action === 'Pass' && e.continueAt !== rule.continueAt);
      steps.add('pass', p.policy, [{ rule, unless }], rule.continueAt);
    }
  }
}

function unionSteps(policies: readonly PolicyRules[]): PlanStep[] {
  const steps = new Steps();
  let i = 0;
  while (i < policies.length) {
    const priority = policies[i]?.priority;
    let j = i;
    while (j < policies.length && policies[j]?.priority === priority) j++;
    groupSteps(steps, policies.slice(i, j));
    i = j;
  }
  return steps.list;
}

/** The tier's steps in order; a flow no step takes ends the tier (`TierRules.isolated` says how). */
export function tierPlan(t: TierRules): readonly PlanStep[] {
  return t.tier.semantics === 'union' ? unionSteps(t.policies) : firstMatchSteps(t.policies);
}
