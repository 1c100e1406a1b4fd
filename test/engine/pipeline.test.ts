import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RuleCheck } from '../../src/engine/match.js';
import { buildModel } from '../../src/engine/model.js';
import { DEFAULT_TIERS, participates, pipelineFor, runPipeline } from '../../src/engine/pipeline.js';
import type { DirectionQuery, PipelineResult } from '../../src/engine/pipeline.js';
import type { Action, Policy, Rule } from '../../src/ir/index.js';
import { cluster, ingress, isolating, netpol, rule, tiered } from './builders.js';

/** A rule that matches or not, named by its policy for readable expectations. */
const r = (action: Action, matches: boolean): Rule => rule(action, matches ? 'any' : []);

/** Runs the ingress pipeline where every policy selects the subject and rules match as written. */
function run(policies: Policy[]): PipelineResult & { rule?: string } {
  const model = buildModel(cluster([]), policies);
  const query: DirectionQuery = {
    direction: 'Ingress',
    policies: (i) => {
      const t = model.tiers[i];
      return t ? t.policies.filter((p) => participates(t.tier, p, 'Ingress')) : [];
    },
    check: (_p, ru): RuleCheck => ({ peers: ru.peers === 'any', ports: true }),
  };
  const res = runPipeline(pipelineFor(model), query);
  return res.decidedBy ? { ...res, rule: `${res.decidedBy.policy.name}#${res.decidedBy.rule}` } : res;
}

const admin = (name: string, priority: number, ...rules: Rule[]) =>
  tiered('admin', name, priority, ingress(...rules));
const baseline = (name: string, ...rules: Rule[]) => tiered('baseline', name, 0, ingress(...rules));
const k8s = (name: string, ...rules: Rule[]) => netpol(`x/${name}`, isolating('Ingress'), ingress(...rules));

void describe('pipeline order', () => {
  void it('default tiers are admin, kubernetes, baseline in that order', () =>
    assert.deepEqual(
      DEFAULT_TIERS.map((t) => `${t.name}:${t.semantics}`),
      ['admin:first-match', 'kubernetes:union', 'baseline:first-match'],
    ));

  const cases: {
    name: string;
    policies: Policy[];
    allowed: boolean;
    action?: string;
    reason: string;
    rule?: string;
    trail?: string[];
  }[] = [
    { name: 'no policy: default allow', policies: [], allowed: true, reason: 'no-policy' },
    {
      name: 'admin: lower priority number runs first',
      policies: [admin('b', 2, r('Allow', true)), admin('a', 1, r('Deny', true))],
      allowed: false,
      reason: 'rule',
      rule: 'a#0',
    },
    {
      name: 'admin: same priority breaks ties on name',
      policies: [admin('b', 1, r('Deny', true)), admin('a', 1, r('Allow', true))],
      allowed: true,
      reason: 'rule',
      rule: 'a#0',
    },
    {
      name: 'admin: rules in written order, non-matching skipped',
      policies: [admin('a', 1, r('Deny', false), r('Allow', true), r('Deny', true))],
      allowed: true,
      reason: 'rule',
      rule: 'a#1',
    },
    {
      name: 'admin deny beats a kubernetes allow',
      policies: [admin('a', 1, r('Deny', true)), k8s('k', r('Allow', true))],
      allowed: false,
      reason: 'rule',
      rule: 'a#0',
    },
    {
      name: 'admin allow beats kubernetes isolation',
      policies: [admin('a', 1, r('Allow', true)), k8s('k')],
      allowed: true,
      reason: 'rule',
      rule: 'a#0',
    },
    {
      name: 'Reject decides with action Reject',
      policies: [admin('a', 1, r('Reject', true))],
      allowed: false,
      action: 'Reject',
      reason: 'rule',
      rule: 'a#0',
    },
    {
      name: 'Pass skips the rest of the tier and is recorded',
      policies: [
        admin('a', 1, r('Pass', true)),
        admin('b', 2, r('Deny', true)),
        baseline('z', r('Allow', true)),
      ],
      allowed: true,
      reason: 'rule',
      rule: 'z#0',
      trail: ['a#0:Pass'],
    },
    {
      name: 'Pass lands in the kubernetes tier, which isolates',
      policies: [admin('a', 1, r('Pass', true)), k8s('k', r('Allow', false))],
      allowed: false,
      reason: 'isolated',
      trail: ['a#0:Pass'],
    },
    {
      name: 'Log records and goes on',
      policies: [admin('a', 1, r('Log', true), r('Log', false), r('Deny', true))],
      allowed: false,
      reason: 'rule',
      rule: 'a#2',
      trail: ['a#0:Log'],
    },
    {
      name: 'kubernetes: union of allows, first matching rule in policy order decides',
      policies: [k8s('b', r('Allow', true)), k8s('a', r('Allow', false), r('Allow', true))],
      allowed: true,
      reason: 'rule',
      rule: 'a#1',
    },
    {
      name: 'kubernetes: isolated with no allow denies before baseline',
      policies: [k8s('a', r('Allow', false)), baseline('z', r('Allow', true))],
      allowed: false,
      reason: 'isolated',
    },
    {
      name: 'kubernetes: a deny rule wins over an allow in any policy order',
      policies: [k8s('a', r('Allow', true)), k8s('b', r('Deny', true))],
      allowed: false,
      reason: 'rule',
      rule: 'b#0',
    },
    {
      name: 'kubernetes: non-isolating policy does not take part',
      policies: [netpol('x/k', ingress(r('Allow', false))), baseline('z', r('Deny', true))],
      allowed: false,
      reason: 'rule',
      rule: 'z#0',
    },
    {
      name: 'baseline decides when nothing earlier does',
      policies: [admin('a', 1, r('Allow', false)), baseline('z', r('Deny', true))],
      allowed: false,
      reason: 'rule',
      rule: 'z#0',
    },
    {
      name: 'selected but nothing decides: default allow',
      policies: [admin('a', 1, r('Deny', false))],
      allowed: true,
      reason: 'default',
    },
    {
      name: 'isolating first-match policy denies at the end of its tier',
      policies: [
        tiered('admin', 'a', 1, isolating('Ingress'), ingress(r('Allow', false))),
        baseline('z', r('Allow', true)),
      ],
      allowed: false,
      reason: 'isolated',
    },
  ];
  for (const c of cases) {
    void it(c.name, () => {
      const got = run(c.policies);
      assert.equal(got.allowed, c.allowed);
      assert.equal(got.action, c.action ?? (c.allowed ? 'Allow' : 'Deny'));
      assert.equal(got.reason, c.reason);
      assert.equal(got.rule, c.rule);
      assert.deepEqual(
        got.trail.map((t) => `${t.policy.name}#${t.rule}:${t.action}`),
        c.trail ?? [],
      );
    });
  }
});
