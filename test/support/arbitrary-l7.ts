/**
 * Generated L7 policy sets and requests (fast-check) over a client and a server pod: every HTTP semantics
 * (Cilium regexes and headers, Calico exact/prefix, Antrea globs), Allow/Deny/Pass rules with and without
 * HTTP entries, in both directions and several tiers. Shared by the table's property test, the proxy's
 * loopback test and the lab's L7 proof.
 */
import fc from 'fast-check';
import type { HttpRequest } from '../../src/engine/l7.js';
import type { Action, HttpRule, HttpSemantics, Policy, Rule, Tier } from '../../src/ir/index.js';
import { KUBERNETES_TIER, TIER_ORDER } from '../../src/ir/index.js';
import {
  cluster,
  dialectPolicy,
  egress,
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
} from '../engine/builders.js';

export const A = pod('default/client', labels({ app: 'client' }), ips('10.0.0.1'));
export const B = pod('default/web', labels({ app: 'web' }), ips('10.0.0.2'));
export const CLUSTER = cluster([A, B]);
export const APPLICATION: Tier = {
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

export interface Spec {
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

export function policy(
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

export const request: fc.Arbitrary<HttpRequest> = fc
  .record({
    method: fc.constantFrom(...METHODS),
    path: fc.constantFrom(...PATHS),
    token: fc.boolean(),
    grpc: fc.boolean(),
  })
  .map(({ method, path, token, grpc }) => ({
    // A gRPC call is always a POST (grpc PROTOCOL-HTTP2.md).
    method: grpc ? 'POST' : method,
    path,
    headers: {
      host: '10.0.0.2',
      ...(token ? { 'x-token': 'ok' } : {}),
      ...(grpc ? { 'content-type': 'application/grpc' } : {}),
    },
  }));

const semantics = fc.constantFrom<HttpSemantics>('envoy-regex', 'calico-alp', 'antrea-suricata');

export const policySet = fc
  .array(
    fc
      .tuple(semantics, fc.constantFrom<'Ingress' | 'Egress'>('Ingress', 'Egress'))
      .chain(([s, d]) =>
        specs(s, s === 'envoy-regex' ? ['Allow'] : ['Allow', 'Deny', 'Pass']).map((ss) => ({ s, d, ss })),
      ),
    { minLength: 1, maxLength: 4 },
  )
  .map((ps) => ps.map((p, i) => policy(p.s, p.d, `p${i}`, p.ss)));
