/**
 * The first-match table a proxy enforces (src/engine/l7-table.ts) decides every request as the walk does
 * (evaluateHttp): generated policy sets of every HTTP semantics, in several tiers, with Allow/Deny/Pass
 * rules with and without HTTP entries, in both directions, against generated requests.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { evaluateHttp } from '../../src/engine/l7.js';
import type { HttpRequest } from '../../src/engine/l7.js';
import { decideByTable, httpDecisionTable } from '../../src/engine/l7-table.js';
import { buildModel } from '../../src/engine/model.js';
import type { Action, HttpRule, HttpSemantics, Policy, Rule, Tier } from '../../src/ir/index.js';
import { KUBERNETES_TIER, TIER_ORDER } from '../../src/ir/index.js';
import {
  cluster,
  dialectPolicy,
  egress,
  flow,
  ingress,
  ips,
  isolating,
  labels,
  pod,
  podsIn,
  rule,
  sel,
  selecting,
  tcp,
} from './builders.js';

const A = pod('default/client', labels({ app: 'client' }), ips('10.0.0.1'));
const B = pod('default/web', labels({ app: 'web' }), ips('10.0.0.2'));
const CLUSTER = cluster([A, B]);
const APPLICATION: Tier = {
  name: 'application',
  order: TIER_ORDER.antrea + 250,
  semantics: 'first-match',
  dialect: 'antrea',
};

const METHODS = ['GET', 'POST', 'PUT'] as const;
const PATHS = ['/', '/public', '/public/a', '/api/v1', '/api/v1?x=1', '/admin'] as const;

function entry(semantics: HttpSemantics): fc.Arbitrary<HttpRule> {
  switch (semantics) {
    case 'envoy-regex':
      return fc.record(
        {
          method: fc.constantFrom('GET', 'POST', 'GET|PUT'),
          path: fc.constantFrom('/public', '/api/.*', '/public/.*', '/.*'),
          headers: fc.constant([{ name: 'X-Token', value: 'ok' }]),
        },
        { requiredKeys: [] },
      );
    case 'calico-alp':
      return fc.record(
        { method: fc.constantFrom(...METHODS, '*'), path: fc.constantFrom('^/public$', '^/api', '^/') },
        { requiredKeys: [] },
      );
    case 'antrea-suricata':
      return fc.record(
        { method: fc.constantFrom(...METHODS), path: fc.constantFrom('/api/*', '*/a', '/public', '*') },
        { requiredKeys: [] },
      );
  }
}

interface Spec {
  readonly action: Action;
  readonly l7?: readonly HttpRule[];
}

function specs(semantics: HttpSemantics, actions: readonly Action[]): fc.Arbitrary<Spec[]> {
  return fc.array(
    fc.record(
      { action: fc.constantFrom(...actions), l7: fc.array(entry(semantics), { minLength: 1, maxLength: 3 }) },
      { requiredKeys: ['action'] },
    ),
    { minLength: 1, maxLength: 3 },
  );
}

function toRules(semantics: HttpSemantics, dir: 'Ingress' | 'Egress', ss: readonly Spec[]): Rule[] {
  const peers =
    dir === 'Ingress'
      ? [podsIn(['default'], sel({ app: 'client' }))]
      : [podsIn(['default'], sel({ app: 'web' }))];
  return ss.map((s) => {
    const r = rule(s.action, peers, [tcp(80)]);
    // Only allows carry HTTP entries (each dialect refuses them elsewhere).
    return s.l7 === undefined || s.action !== 'Allow'
      ? r
      : { ...r, l7: { kind: 'http', semantics, rules: s.l7 } };
  });
}

function policy(
  semantics: HttpSemantics,
  dir: 'Ingress' | 'Egress',
  name: string,
  ss: readonly Spec[],
): Policy {
  const subject = selecting(sel(dir === 'Ingress' ? { app: 'web' } : { app: 'client' }));
  const body =
    dir === 'Ingress' ? ingress(...toRules(semantics, dir, ss)) : egress(...toRules(semantics, dir, ss));
  switch (semantics) {
    case 'envoy-regex':
      return dialectPolicy('cilium', KUBERNETES_TIER, `default/${name}`, 0, subject, isolating(dir), body);
    case 'calico-alp':
      return dialectPolicy('calico', KUBERNETES_TIER, `default/${name}`, 1000, subject, isolating(dir), body);
    case 'antrea-suricata':
      return dialectPolicy('antrea', 'application', `default/${name}`, 5, subject, body);
  }
}

const request: fc.Arbitrary<HttpRequest> = fc
  .record({
    method: fc.constantFrom(...METHODS),
    path: fc.constantFrom(...PATHS),
    token: fc.boolean(),
    grpc: fc.boolean(),
  })
  .map(({ method, path, token, grpc }) => ({
    method,
    path,
    headers: {
      host: '10.0.0.2',
      ...(token ? { 'x-token': 'ok' } : {}),
      ...(grpc ? { 'content-type': 'application/grpc' } : {}),
    },
  }));

const semantics = fc.constantFrom<HttpSemantics>('envoy-regex', 'calico-alp', 'antrea-suricata');

const policySet = fc
  .array(
    fc
      .tuple(semantics, fc.constantFrom<'Ingress' | 'Egress'>('Ingress', 'Egress'))
      .chain(([s, d]) =>
        specs(s, s === 'envoy-regex' ? ['Allow'] : ['Allow', 'Deny', 'Pass']).map((ss) => ({ s, d, ss })),
      ),
    { minLength: 1, maxLength: 4 },
  )
  .map((ps) => ps.map((p, i) => policy(p.s, p.d, `p${i}`, p.ss)));

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
