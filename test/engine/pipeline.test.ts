import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RuleCheck } from '../../src/engine/match.js';
import { buildModel } from '../../src/engine/model.js';
import { DEFAULT_TIERS, participates, pipelineFor, runPipeline } from '../../src/engine/pipeline.js';
import type { DirectionQuery, PipelineResult } from '../../src/engine/pipeline.js';
import type { Action, Policy, Rule, Tier } from '../../src/ir/index.js';
import { TIER_ORDER } from '../../src/ir/index.js';
import { cluster, ingress, isolating, netpol, rule, tiered } from './builders.js';

/** A rule that matches or not, named by its policy for readable expectations. */
const r = (action: Action, matches: boolean): Rule => rule(action, matches ? 'any' : []);

/** Antrea-like first-match tiers declared by the input, before the Kubernetes stage. */
const DECLARED: Tier[] = [
  { name: 'emergency', order: TIER_ORDER.antrea + 50, semantics: 'first-match', dialect: 'antrea' },
  { name: 'application', order: TIER_ORDER.antrea + 250, semantics: 'first-match', dialect: 'antrea' },
  { name: 'after-default', order: TIER_ORDER.calicoAfter, semantics: 'first-match', dialect: 'calico' },
];

/** Runs the ingress pipeline where every policy selects the subject and rules match as written. */
function run(policies: Policy[]): PipelineResult & { rule?: string } {
  const model = buildModel(cluster([]), policies, DECLARED);
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
/** A non-Kubernetes policy in the Kubernetes stage with a priority (Calico's default tier, Cilium). */
const stage = (name: string, priority: number, ...rules: Rule[]) =>
  tiered('kubernetes', name, priority, ingress(...rules));
const passTo = (tier: string): Rule => ({ ...r('Pass', true), passTo: tier });

void describe('pipeline order', () => {
  void it('default tiers are admin, kubernetes, baseline in that order', () =>
    assert.deepEqual(
      DEFAULT_TIERS.map((t) => `${t.name}:${t.semantics}`),
      ['admin:first-match', 'kubernetes:union', 'baseline:first-match'],
    ));

  void it('declared tiers interleave with the built-in ones by their band', () =>
    assert.deepEqual(
      buildModel(cluster([]), [], DECLARED).tiers.map((t) => t.tier.name),
      ['admin', 'emergency', 'application', 'kubernetes', 'after-default', 'baseline'],
    ));

  const cases: {
    name: string;
    policies: Policy[];
    allowed: boolean;
    action?: string;
    reason: string;
    rule?: string;
    trail?: string[];
    /** "tier decision policy#rule → continuedAt (asked X, skipped a,b)". */
    steps?: string[];
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
    {
      name: 'union: a lower-priority group decides before a higher one (Calico order)',
      policies: [stage('deny-late', 2, r('Deny', true)), stage('allow-early', 1, r('Allow', true))],
      allowed: true,
      reason: 'rule',
      rule: 'allow-early#0',
    },
    {
      name: 'union: inside a same-priority group a deny beats an allow whatever the names',
      policies: [stage('a-allow', 1, r('Allow', true)), stage('b-deny', 1, r('Deny', true))],
      allowed: false,
      reason: 'rule',
      rule: 'b-deny#0',
    },
    {
      name: 'union: a Reject in the group rejects',
      policies: [stage('a-allow', 1, r('Allow', true)), stage('b-reject', 1, r('Reject', true))],
      allowed: false,
      action: 'Reject',
      reason: 'rule',
      rule: 'b-reject#0',
    },
    {
      name: 'union: each policy is first-match in written order (an earlier Allow shadows its own Deny)',
      policies: [stage('p', 1, r('Allow', true), r('Deny', true))],
      allowed: true,
      reason: 'rule',
      rule: 'p#0',
    },
    {
      name: 'union: allow beats pass inside a group',
      policies: [stage('a-pass', 1, r('Pass', true)), stage('b-allow', 1, r('Allow', true))],
      allowed: true,
      reason: 'rule',
      rule: 'b-allow#0',
    },
    {
      name: 'union: a group without a decision lets the next group decide',
      policies: [stage('quiet', 1, r('Deny', false), r('Log', true)), stage('later', 5, r('Deny', true))],
      allowed: false,
      reason: 'rule',
      rule: 'later#0',
      trail: ['quiet#1:Log'],
    },
    {
      name: 'union: a pass leaves the stage without isolating, the next tier decides',
      policies: [
        stage('p', 1, r('Pass', true)),
        k8s('k', r('Allow', false)),
        tiered('after-default', 'after', 0, ingress(r('Deny', true))),
      ],
      allowed: false,
      reason: 'rule',
      rule: 'after#0',
      trail: ['p#0:Pass'],
    },
    {
      name: 'union: nothing decides and a non-isolating policy only → next tier',
      policies: [stage('quiet', 1, r('Allow', false)), baseline('z', r('Deny', true))],
      allowed: false,
      reason: 'rule',
      rule: 'z#0',
    },
    {
      name: 'passTo jumps over the tiers in between (Antrea Pass goes straight to the Kubernetes stage)',
      policies: [
        tiered('emergency', 'e', 1, ingress(passTo('kubernetes'))),
        tiered('application', 'app', 1, ingress(r('Deny', true))),
        k8s('k', r('Allow', true)),
      ],
      allowed: true,
      reason: 'rule',
      rule: 'k#0',
      trail: ['e#0:Pass'],
      steps: [
        'emergency pass e#0 → kubernetes (asked kubernetes, skipped application)',
        'kubernetes allow k#0',
      ],
    },
    {
      name: 'passTo naming an earlier tier continues at the next tier',
      policies: [
        tiered('emergency', 'e', 1, ingress(r('Allow', false))),
        tiered('application', 'app', 1, ingress(passTo('emergency'))),
        k8s('k', r('Deny', true)),
      ],
      allowed: false,
      reason: 'rule',
      rule: 'k#0',
      trail: ['app#0:Pass'],
      steps: ['application pass app#0 → kubernetes (asked emergency)', 'kubernetes deny k#0'],
    },
    {
      name: 'passTo naming an unknown tier continues at the next tier',
      policies: [tiered('application', 'app', 1, ingress(passTo('nowhere'))), k8s('k', r('Deny', true))],
      allowed: false,
      reason: 'rule',
      rule: 'k#0',
      trail: ['app#0:Pass'],
    },
    {
      name: 'a pass out of the last tier reaches the default verdict',
      policies: [baseline('z', r('Pass', true))],
      allowed: true,
      reason: 'default',
      trail: ['z#0:Pass'],
      steps: ['baseline pass z#0 → default'],
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
      if (c.steps) {
        assert.deepEqual(
          got.steps.map((st) => {
            const by = st.by ? ` ${st.by.policy.name}#${st.by.rule}` : '';
            if (st.decision !== 'pass') return `${st.tier} ${st.decision}${by}`;
            const extra = [
              ...(st.requested === undefined ? [] : [`asked ${st.requested}`]),
              ...(st.skipped && st.skipped.length > 0 ? [`skipped ${st.skipped.join(',')}`] : []),
            ];
            const more = extra.length > 0 ? ` (${extra.join(', ')})` : '';
            return `${st.tier} pass${by} → ${st.continuedAt ?? 'default'}${more}`;
          }),
          c.steps,
        );
      }
    });
  }
});
