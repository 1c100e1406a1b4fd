/**
 * Semantic profiles against Kim et al. 2025 (papers/kim-2025-cni-network-policies.txt §IV-D, Figure 8):
 * pod-a and pod-b on two workers; B-1 a CNI allow policy alone, B-2 a Kubernetes default deny alone, C both.
 * The paper observed B-1 allowed, B-2 denied, C denied on Calico, Cilium and Antrea alike. Every expectation
 * is checked through evaluate, explain and the class-based matrix, which must agree.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluate } from '../../src/engine/evaluate.js';
import { explain, formatExplanation } from '../../src/engine/explain.js';
import { computeMatrix } from '../../src/engine/matrix.js';
import { buildModel } from '../../src/engine/model.js';
import {
  KUBERNETES_GATE_TIER,
  PROFILES,
  SEMANTICS_PROFILES,
  pipelineFor,
} from '../../src/engine/pipeline.js';
import type { SemanticsProfile } from '../../src/engine/pipeline.js';
import type { Policy, Tier } from '../../src/ir/index.js';
import { KUBERNETES_TIER, TIER_ORDER } from '../../src/ir/index.js';
import {
  cluster,
  dialectPolicy,
  flow,
  ingress,
  ips,
  isolating,
  labels,
  netpol,
  onNode,
  pod,
  podsIn,
  rule,
  sel,
  selecting,
  tcp,
  tiered,
} from './builders.js';

const A = pod('default/pod-a', labels({ run: 'pod-a' }), ips('192.168.184.146'), onNode('calico-worker1'));
const B = pod('default/pod-b', labels({ run: 'pod-b' }), ips('192.168.184.147'), onNode('calico-worker2'));
const CLUSTER = cluster([A, B]);
const APPLICATION: Tier = {
  name: 'application',
  order: TIER_ORDER.antrea + 250,
  semantics: 'first-match',
  dialect: 'antrea',
};

/** yaml/k8s-default-deny.yaml: every pod of the namespace, ingress isolated, no rules. */
const k8sDefaultDeny = netpol('default/default-deny', isolating('Ingress'));
const fromPodA = rule('Allow', [podsIn(['default'], sel({ run: 'pod-a' }))], [tcp(80)]);
const toPodB = selecting(sel({ run: 'pod-b' }));

/** The CNI's own "allow pod-a to pod-b", as each dialect places it. */
const cniAllow: Record<'calico' | 'cilium' | 'antrea', Policy> = {
  // Calico NetworkPolicy in the default tier (the Kubernetes stage), selected endpoints isolated.
  calico: dialectPolicy(
    'calico',
    KUBERNETES_TIER,
    'default/allow-pod-a-to-pod-b',
    1000,
    toPodB,
    isolating('Ingress'),
    ingress(fromPodA),
  ),
  // CiliumNetworkPolicy: in the Kubernetes stage; a policy with ingress rules isolates ingress.
  cilium: dialectPolicy(
    'cilium',
    KUBERNETES_TIER,
    'default/allow-pod-a-to-pod-b',
    0,
    toPodB,
    isolating('Ingress'),
    ingress(fromPodA),
  ),
  // Antrea NetworkPolicy in the application tier: first match, does not isolate.
  antrea: dialectPolicy(
    'antrea',
    'application',
    'default/allow-pod-a-to-pod-b',
    5,
    toPodB,
    ingress(fromPodA),
  ),
};

function allowedEverywhere(policies: Policy[], semantics: SemanticsProfile): boolean {
  const model = buildModel(CLUSTER, policies, [APPLICATION], { semantics });
  const verdict = evaluate(model, flow(A, B)).allowed;
  assert.equal(explain(model, flow(A, B)).verdict.allowed, verdict, 'explain agrees with evaluate');
  const cell = computeMatrix(model, [{ port: 80, protocol: 'TCP' }]).results.find(
    (c) => c.from === 'default/pod-a' && c.to === 'default/pod-b',
  );
  assert.equal(cell?.allowed, verdict, 'matrix agrees with evaluate');
  return verdict;
}

void describe('semantic profiles: Kim et al. 2025 §IV-D, Figure 8', () => {
  for (const cni of ['calico', 'cilium', 'antrea'] as const) {
    const cases: { name: string; policies: Policy[]; semantics: SemanticsProfile; allowed: boolean }[] = [
      { name: `B-1 ${cni} allow alone → allowed`, policies: [cniAllow[cni]], semantics: cni, allowed: true },
      {
        name: `B-2 Kubernetes default deny alone → denied`,
        policies: [k8sDefaultDeny],
        semantics: cni,
        allowed: false,
      },
      {
        name: `C both under --semantics ${cni} → denied: Kubernetes policy is enforced first, as the paper observed`,
        policies: [k8sDefaultDeny, cniAllow[cni]],
        semantics: cni,
        allowed: false,
      },
      {
        name:
          `C both under --semantics kubernetes → allowed: the documented order puts the ${cni} allow in ` +
          (cni === 'antrea'
            ? 'the application tier, which decides before the Kubernetes stage'
            : 'the Kubernetes stage itself, where an allow beats isolation (default deny has no rule to deny with)'),
        policies: [k8sDefaultDeny, cniAllow[cni]],
        semantics: 'kubernetes',
        allowed: true,
      },
    ];
    for (const c of cases) {
      void it(`${cni}: ${c.name}`, () => assert.equal(allowedEverywhere(c.policies, c.semantics), c.allowed));
    }
  }
});

void describe('semantic profiles: the Kubernetes gate', () => {
  const k8sAllowAll = netpol('default/allow-all', isolating('Ingress'), ingress(rule('Allow')));
  const calicoDeny = dialectPolicy('calico', KUBERNETES_TIER, 'default/deny-a', 2000, ingress(rule('Deny')));
  const calicoEarlyDeny = dialectPolicy(
    'calico',
    KUBERNETES_TIER,
    'default/deny-early',
    500,
    ingress(rule('Deny')),
  );
  const adminAllow = tiered('admin', 'let-in', 1, ingress(rule('Allow')));
  const cases: { name: string; policies: Policy[]; semantics: SemanticsProfile; allowed: boolean }[] = [
    {
      name: 'kubernetes: an admin allow decides before Kubernetes isolation',
      policies: [adminAllow, k8sDefaultDeny],
      semantics: 'kubernetes',
      allowed: true,
    },
    {
      name: 'calico: the Kubernetes gate runs even before admin tiers',
      policies: [adminAllow, k8sDefaultDeny],
      semantics: 'calico',
      allowed: false,
    },
    {
      name: 'kubernetes: a Kubernetes allow (Calico order 1000) beats a Calico deny at order 2000',
      policies: [k8sAllowAll, calicoDeny],
      semantics: 'kubernetes',
      allowed: true,
    },
    {
      name: 'kubernetes: a Calico deny at order 500 beats a Kubernetes allow (order 1000)',
      policies: [k8sAllowAll, calicoEarlyDeny],
      semantics: 'kubernetes',
      allowed: false,
    },
    {
      name: 'calico: a Kubernetes allow only admits; the Calico deny behind the gate still denies',
      policies: [k8sAllowAll, calicoDeny],
      semantics: 'calico',
      allowed: false,
    },
    {
      name: 'cilium: no Kubernetes policy: the gate selects nothing and the rest decides',
      policies: [calicoDeny],
      semantics: 'cilium',
      allowed: false,
    },
    {
      name: 'antrea: nothing selects: default allow',
      policies: [],
      semantics: 'antrea',
      allowed: true,
    },
  ];
  for (const c of cases) {
    void it(c.name, () => assert.equal(allowedEverywhere(c.policies, c.semantics), c.allowed));
  }

  void it('every profile is built in PROFILES; the CNI profiles put the gate first', () => {
    const model = buildModel(CLUSTER, [], [APPLICATION]);
    assert.deepEqual(Object.keys(PROFILES), [...SEMANTICS_PROFILES]);
    assert.deepEqual(
      pipelineFor(model).map((s) => `${s.tier.name}:${s.kind}`),
      ['admin:first-match', 'application:first-match', 'kubernetes:union', 'baseline:first-match'],
    );
    for (const p of ['calico', 'cilium', 'antrea'] as const)
      assert.deepEqual(
        pipelineFor(model, p).map((s) => `${s.tier.name}:${s.kind}`),
        [`${KUBERNETES_GATE_TIER.name}:gate`, ...pipelineFor(model).map((s) => `${s.tier.name}:${s.kind}`)],
      );
  });

  void it('the explanation names the gate, the profile and what it admitted', () => {
    const denied = explain(
      buildModel(CLUSTER, [k8sDefaultDeny, cniAllow.calico], [], { semantics: 'calico' }),
      flow(A, B),
    );
    assert.equal(denied.semantics, 'calico');
    assert.equal(denied.ingress.decidedIn, 'kubernetes-gate');
    assert.deepEqual(
      denied.ingress.policies.map((p) => `${p.tier} ${p.policy.dialect} ${p.policy.name}`),
      ['kubernetes-gate kubernetes default-deny', 'kubernetes calico allow-pod-a-to-pod-b'],
    );
    assert.deepEqual(
      denied.ingress.policies[1]?.rules.map((r) => r.outcome),
      ['not-reached'],
    );
    const text = formatExplanation(denied).split('\n');
    assert.equal(text[1], `semantics calico: ${PROFILES.calico.summary}`);
    assert.match(
      text.find((l) => l.startsWith('ingress')) ?? '',
      /isolated in tier kubernetes-gate and no rule allows TCP\/80 from default\/pod-a → DENIED$/,
    );

    const admitted = explain(
      buildModel(CLUSTER, [k8sAllowAll, calicoDeny], [], { semantics: 'calico' }),
      flow(A, B),
    );
    assert.deepEqual(
      admitted.ingress.policies.map((p) => p.rules.map((r) => r.outcome)),
      [['admitted'], ['decided']],
    );
    assert.ok(
      formatExplanation(admitted).includes(
        '  gate: rule 0 (Allow) of kubernetes NetworkPolicy default/allow-all in tier kubernetes-gate allows; the rest of the pipeline decides',
      ),
    );
  });
});
