/**
 * The first-match table a proxy enforces (src/engine/l7-table.ts) decides every request as the walk does
 * (evaluateHttp): generated policy sets of every HTTP semantics, in several tiers, with Allow/Deny/Pass
 * rules with and without HTTP entries, in both directions, against generated requests.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { evaluateHttp } from '../../src/engine/l7.js';
import { decideByTable, httpDecisionTable } from '../../src/engine/l7-table.js';
import { buildModel } from '../../src/engine/model.js';
import { flow } from './builders.js';
import type { Spec } from '../support/arbitrary-l7.js';
import { A, APPLICATION, B, CLUSTER, policy, policySet, request } from '../support/arbitrary-l7.js';

describe('httpDecisionTable', () => {
  it('property: the table decides every request as the walk does (all semantics, both directions)', () => {
    let inexact = 0;
    fc.assert(
      fc.property(policySet, fc.array(request, { minLength: 1, maxLength: 8 }), (policies, requests) => {
        const model = buildModel(CLUSTER, policies, [APPLICATION]);
        const f = flow(A, B, 80);
        const table = httpDecisionTable(model, f);
        if (!table.directions.every((d) => d.exact)) {
          inexact++;
          return;
        }
        for (const r of requests) {
          const want = evaluateHttp(model, f, r);
          const got = decideByTable(table, r);
          assert.deepEqual(
            { allowed: got.allowed, response: got.response, l7: got.l7 },
            { allowed: want.allowed, response: want.response, l7: want.l7 },
            `${r.method} ${r.path} ${JSON.stringify(r.headers)}`,
          );
        }
      }),
      { numRuns: 2000 },
    );
    // Inexact tables need Calico HTTP rules of several policies in the union stage; most sets have none.
    assert.ok(inexact < 400, `${inexact} of 2000 generated sets gave inexact tables`);
  });

  it('Calico HTTP allows of two policies in the Kubernetes stage beside a deny: the table says it is not exact', () => {
    const any: Spec = { action: 'Allow', l7: [{}] };
    const model = buildModel(
      CLUSTER,
      [
        policy('calico-alp', 'Ingress', 'p0', [any]),
        policy('calico-alp', 'Ingress', 'p1', [any, { action: 'Deny' }]),
      ],
      [],
    );
    assert.equal(httpDecisionTable(model, flow(A, B, 80)).directions[0]?.exact, false);
  });

  it('an L4-only allow beside a Cilium L7 allow leaves no entries: every request is forwarded (layer7.rst)', () => {
    const l7: Spec = { action: 'Allow', l7: [{ method: 'GET', path: '/public' }] };
    const model = buildModel(
      CLUSTER,
      [
        policy('envoy-regex', 'Ingress', 'l7', [l7]),
        policy('envoy-regex', 'Ingress', 'l4', [{ action: 'Allow' }]),
      ],
      [],
    );
    const table = httpDecisionTable(model, flow(A, B, 80));
    assert.equal(table.directions.length, 1);
    assert.deepEqual(table.directions[0]?.entries, []);
    assert.equal(table.directions[0]?.fallback.why, 'l4-wildcard');
  });

  it('no HTTP rule on the flow: no direction has a say', () => {
    const model = buildModel(CLUSTER, [policy('envoy-regex', 'Ingress', 'l4', [{ action: 'Allow' }])], []);
    assert.deepEqual(httpDecisionTable(model, flow(A, B, 80)).directions, []);
  });
});
