/**
 * lintLocated(): each finding with the line its path is written on, read from the loaded policies' own
 * record of where their fields are (no second parse of the source).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSources } from '../../../src/dialects/index.js';
import { DEFAULT_TIERS } from '../../../src/engine/index.js';
import { lint, lintLocated } from '../../../src/engine/lint/index.js';
import type { Target } from '../../../src/engine/lint/index.js';
import { hasErrors } from '../../../src/ir/index.js';

function located(text: string, target: Target) {
  const { value, diagnostics } = parseSources([{ file: 'case.yaml', text }]);
  assert.ok(!hasErrors(diagnostics), JSON.stringify(diagnostics, null, 2));
  const input = {
    policies: value.policies,
    tiers: [...DEFAULT_TIERS, ...value.tiers],
    cluster: value.cluster,
  };
  const out = lintLocated(input, target);
  assert.deepEqual(
    out.map((x) => x.finding),
    lint(input, target),
    'lint() is lintLocated() without the lines',
  );
  return out.map(({ finding, line }) => [finding.code, finding.policy, finding.path, line]);
}

const NETWORK_POLICY = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
  - ports:
    - port: 80
      endPort: 90
    - port: http
`;

describe('lintLocated: lines of findings', () => {
  it('a finding is on the line of the last field of its path', () => {
    assert.deepEqual(located(NETWORK_POLICY, 'weave'), [
      ['end-port', 'NetworkPolicy x/web', 'spec.ingress[0].ports[0].endPort', 10],
      ['named-port', 'NetworkPolicy x/web', 'spec.ingress[0].ports[1].port', 11],
    ]);
  });

  it('inside a kind: List, on the lines of the item (the path stays relative to it)', () => {
    const list = `apiVersion: v1\nkind: List\nitems:\n- ${NETWORK_POLICY.trimEnd().split('\n').join('\n  ')}\n`;
    assert.deepEqual(located(list, 'weave'), [
      ['end-port', 'NetworkPolicy x/web', 'spec.ingress[0].ports[0].endPort', 13],
      ['named-port', 'NetworkPolicy x/web', 'spec.ingress[0].ports[1].port', 14],
    ]);
  });

  it("a Cilium `specs` entry: the object's written name, the entry's own list and line", () => {
    const text = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: multi, namespace: shop}
specs:
  - endpointSelector: {}
    ingress: [{}]
  - endpointSelector: {}
    egressDeny:
      - toEntities: [world]
`;
    const deny = located(text, 'weave').filter(([code]) => code === 'no-equivalent-action');
    assert.deepEqual(deny, [
      ['no-equivalent-action', 'CiliumNetworkPolicy shop/multi', 'specs[1].egressDeny[0]', 9],
    ]);
  });

  it('policies built in code have no lines', () => {
    const { value } = parseSources([{ file: 'case.yaml', text: NETWORK_POLICY }]);
    const policies = value.policies.map(({ lines, ...p }) => (void lines, p));
    const out = lintLocated({ policies, tiers: DEFAULT_TIERS }, 'weave');
    assert.ok(out.length > 0);
    assert.ok(out.every((x) => x.line === undefined));
  });
});
