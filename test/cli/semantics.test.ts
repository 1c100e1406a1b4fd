import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { modelWarnings, parseSemantics } from '../../src/cli/semantics.js';
import { KIND_HANDLERS, kindKey } from '../../src/dialects/index.js';
import { buildModel } from '../../src/engine/index.js';
import { cluster, netpol, tiered } from '../engine/builders.js';

const ROOT = join(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');

function palisade(args: string[], input: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const PODS = [
  'apiVersion: v1\nkind: Pod\nmetadata: {name: pod-a, namespace: default, labels: {run: pod-a}}\nspec: {containers: [{name: c}]}',
  'apiVersion: v1\nkind: Pod\nmetadata: {name: pod-b, namespace: default, labels: {run: pod-b}}\nspec: {containers: [{name: c, ports: [{containerPort: 80}]}]}',
];
/** Kim et al. 2025 Figure 8, yaml/k8s-default-deny.yaml. */
const K8S_DEFAULT_DENY =
  'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: default-deny, namespace: default}\nspec: {podSelector: {}, policyTypes: [Ingress]}';
const K8S_ALLOW_A =
  'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-a, namespace: default}\nspec: {podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {run: pod-a}}}]}]}';
/** An admin-tier allow standing in for "the CNI's own allow" (first-match tier before the Kubernetes stage). */
const ANP_ALLOW_A_TO_B = `apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: allow-a-to-b}
spec:
  priority: 10
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {run: pod-b}}}}
  ingress:
  - {name: from-a, action: Allow, from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {run: pod-a}}}}]}`;

const doc = (...docs: string[]) => docs.join('\n---\n');

interface Cell {
  from: string;
  to: string;
  allowed: boolean;
}

function aToB(args: string[], input: string): boolean | undefined {
  const r = palisade(['analyze', 'matrix', '-f', '-', '-o', 'json', ...args], input);
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(r.stdout) as { results: Cell[] };
  return m.results.find((c) => c.from === 'default/pod-a' && c.to === 'default/pod-b')?.allowed;
}

describe('palisade analyze --semantics', () => {
  it('is accepted by both verbs and defaults to kubernetes', () => {
    const input = doc(...PODS, K8S_DEFAULT_DENY);
    for (const s of ['kubernetes', 'calico', 'cilium', 'antrea'])
      assert.equal(aToB(['--semantics', s], input), false, s);
    const help = palisade(['analyze', 'explain', '--help'], '');
    assert.match(help.stdout, /--semantics <profile>/);
  });

  it('with Kubernetes NetworkPolicy alone every profile computes the same matrix', () => {
    const input = doc(...PODS, K8S_DEFAULT_DENY, K8S_ALLOW_A);
    const outputs = ['kubernetes', 'calico', 'cilium', 'antrea'].map(
      (s) => palisade(['analyze', 'matrix', '-f', '-', '-o', 'json', '--semantics', s], input).stdout,
    );
    for (const o of outputs) assert.equal(o, outputs[0]);
    assert.equal(aToB([], input), true);
  });

  it('rejects an unknown profile with exit 1', () => {
    const r = palisade(['analyze', 'matrix', '-f', '-', '--semantics', 'weave'], doc(...PODS));
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /--semantics weave: unknown profile \(one of: kubernetes, calico, cilium, antrea\)/,
    );
  });

  it('Kim et al. case C: kubernetes lets the admin-tier allow decide first, calico enforces the Kubernetes default deny first', () => {
    assert.ok(
      kindKey('policy.networking.k8s.io/v1alpha1', 'AdminNetworkPolicy') in KIND_HANDLERS,
      'AdminNetworkPolicy is registered in src/dialects/kinds.ts',
    );
    const input = doc(...PODS, K8S_DEFAULT_DENY, ANP_ALLOW_A_TO_B);
    assert.equal(aToB([], input), true);
    assert.equal(aToB(['--semantics', 'kubernetes'], input), true);
    assert.equal(aToB(['--semantics', 'calico'], input), false);
    const r = palisade(
      [
        'analyze',
        'explain',
        '-f',
        '-',
        '--from',
        'pod-a',
        '--to',
        'pod-b',
        '--port',
        '80',
        '--semantics',
        'calico',
      ],
      input,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^TCP\/80 default\/pod-a → default\/pod-b: DENIED\nsemantics calico: /);
    assert.match(
      r.stdout,
      /isolated in tier kubernetes-gate and no rule allows TCP\/80 from default\/pod-a → DENIED/,
    );
    const j = palisade(
      ['analyze', 'explain', '-f', '-', '--from', 'pod-a', '--to', 'pod-b', '--port', '80', '-o', 'json'],
      input,
    );
    const e = JSON.parse(j.stdout) as { semantics: string; verdict: { allowed: boolean } };
    assert.deepEqual([e.semantics, e.verdict.allowed], ['kubernetes', true]);
  });
});

describe('analyze model warnings', () => {
  it('names policies of undeclared tiers and tiers declared twice', () => {
    const model = buildModel(
      cluster([]),
      [netpol('x/fine'), tiered('antrea:securityops', 'lost', 5)],
      [
        { name: 'sec', order: 20_100, semantics: 'first-match', dialect: 'antrea' },
        { name: 'sec', order: 30_100, semantics: 'first-match', dialect: 'calico' },
      ],
    );
    assert.deepEqual(modelWarnings(model), [
      'palisade: warning: AdminNetworkPolicy lost: tier "antrea:securityops" is not declared; the policy is not evaluated',
      'palisade: warning: tier "sec" is declared more than once (order 20100 first-match kept, order 30100 first-match from calico ignored)',
    ]);
    assert.deepEqual(modelWarnings(buildModel(cluster([]), [netpol('x/fine')])), []);
  });

  it('parses profile names', () => {
    assert.equal(parseSemantics('cilium'), 'cilium');
    assert.throws(() => parseSemantics('Calico'), /unknown profile/);
  });
});
