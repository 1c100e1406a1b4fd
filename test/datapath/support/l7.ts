/**
 * HTTP rules on generated policies, for the properties that compare incremental and from-scratch routes:
 * the shared generator (test/support/arbitrary-ir.ts) writes no L7, and steering must be covered too.
 */
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
