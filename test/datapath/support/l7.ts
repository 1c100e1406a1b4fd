/**
 * Policies with HTTP rules for the L7 steering tests: Cilium policies written as users write them, and
 * HTTP rules added to generated policies for the properties that compare two routes (the shared generator,
 * test/support/arbitrary-ir.ts, writes no L7, and steering must be covered too).
 */
import { parseSources } from '../../../src/dialects/index.js';
import type { Policy, Rule } from '../../../src/ir/index.js';

const tagged = new WeakMap<Policy, Policy>();

const http = (r: Rule): Rule =>
  r.action === 'Allow' && r.index % 2 === 0 ? { ...r, l7: { kind: 'http', rules: [{ method: 'GET' }] } } : r;

/**
 * The policy with HTTP rules on its even-indexed Allows. The same object in gives the same object out, so
 * a policy an edit leaves alone keeps its identity, as an agent's store would.
 */
export function withHttp(p: Policy): Policy {
  let t = tagged.get(p);
  if (t === undefined) {
    t = { ...p, ingress: p.ingress.map(http), egress: p.egress.map(http) };
    tagged.set(p, t);
  }
  return t;
}

/**
 * A CiliumNetworkPolicy, through the Cilium dialect: pods `pod: <server>` of `namespace` accept `port`/TCP
 * from pods `pod: <client>` with an HTTP rule (GET only), and `plainPort`/TCP from them without one.
 */
export function ciliumHttpIngress(o: {
  namespace: string;
  server: string;
  client: string;
  port: number;
  plainPort: number;
}): Policy[] {
  const text = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-l7, namespace: ${o.namespace}}
spec:
  endpointSelector: {matchLabels: {pod: ${o.server}}}
  ingress:
  - fromEndpoints: [{matchLabels: {pod: ${o.client}}}]
    toPorts:
    - ports: [{port: "${o.port}", protocol: TCP}]
      rules:
        http: [{method: GET}]
  - fromEndpoints: [{matchLabels: {pod: ${o.client}}}]
    toPorts:
    - ports: [{port: "${o.plainPort}", protocol: TCP}]
`;
  const { value, diagnostics } = parseSources([{ file: 'web-l7.yaml', text }]);
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new Error(errors.map((d) => d.message).join('\n'));
  return [...value.policies];
}

/**
 * A CiliumNetworkPolicy: pods `pod: <client>` may reach `port`/TCP anywhere with an HTTP rule (GET only),
 * and `plainPort`/TCP without one.
 */
export function ciliumHttpEgress(o: {
  namespace: string;
  client: string;
  port: number;
  plainPort: number;
}): Policy[] {
  const text = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: client-l7, namespace: ${o.namespace}}
spec:
  endpointSelector: {matchLabels: {pod: ${o.client}}}
  egress:
  - toEntities: [all]
    toPorts:
    - ports: [{port: "${o.port}", protocol: TCP}]
      rules:
        http: [{method: GET}]
  - toEntities: [all]
    toPorts:
    - ports: [{port: "${o.plainPort}", protocol: TCP}]
`;
  const { value, diagnostics } = parseSources([{ file: 'client-l7.yaml', text }]);
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new Error(errors.map((d) => d.message).join('\n'));
  return [...value.policies];
}
