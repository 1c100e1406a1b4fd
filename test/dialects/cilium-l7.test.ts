/** Cilium HTTP rules → IR with their header conditions (pkg/policy/api/http.go, pkg/envoy/xds_server.go). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSources } from '../../src/dialects/parse.js';

function load(http: string) {
  const text = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  endpointSelector: {}
  ingress:
  - toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http: ${http}
`;
  return parseSources([{ file: 'cilium.yaml', text }]);
}

describe('Cilium dialect: HTTP header conditions', () => {
  it('headers "Name: value" and "Name", headerMatches with mismatch actions, reach the IR', () => {
    const { value, diagnostics } = load(
      `[{method: GET, headers: ['X-A: 1', 'X-B'], headerMatches: [{name: X-C, value: v, mismatch: REPLACE}, {name: X-D}]}]`,
    );
    assert.deepEqual(
      diagnostics.filter((d) => d.severity === 'error'),
      [],
    );
    assert.deepEqual(value.policies[0]?.ingress[0]?.l7, {
      kind: 'http',
      rules: [
        {
          method: 'GET',
          headers: [
            { name: 'X-A', value: '1' },
            { name: 'X-B' },
            { name: 'X-C', value: 'v', mismatch: 'REPLACE' },
            { name: 'X-D' },
          ],
        },
      ],
    });
  });
  const refused: { name: string; http: string; says: RegExp }[] = [
    // pkg/policy/api/http.go Sanitize: the action must be one of LOG, ADD, DELETE, REPLACE.
    {
      name: 'an unknown mismatch action',
      http: '[{headerMatches: [{name: X, mismatch: DROP}]}]',
      says: /Invalid header action: DROP/,
    },
    {
      name: 'a headerMatch without name',
      http: '[{headerMatches: [{value: v}]}]',
      says: /Header name missing/,
    },
    // Sanitize compiles path and method as regular expressions.
    {
      name: 'a path that is not a regular expression',
      http: "[{path: '/a('}]",
      says: /not a valid regular expression/,
    },
  ];
  for (const c of refused) {
    it(`refuses ${c.name} (pkg/policy/api/http.go Sanitize)`, () => {
      const errors = load(c.http).diagnostics.filter((d) => d.severity === 'error');
      assert.ok(
        errors.some((d) => c.says.test(d.message)),
        errors.map((d) => d.message).join('; '),
      );
    });
  }
});
