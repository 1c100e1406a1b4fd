/**
 * Random sequences of policy-set edits (add, remove, replace one policy; occasionally a new set of pods),
 * for the tests that compare an incremental route (memoized compile, cached apply) with a fresh one.
 */
import fc from 'fast-check';
import type { Endpoint, Policy } from '../../../src/ir/index.js';
import { endpoints, policy } from '../../support/arbitrary-ir.js';

export type Edit =
  | { readonly op: 'add'; readonly policy: Policy }
  | { readonly op: 'remove'; readonly at: number }
  | { readonly op: 'replace'; readonly at: number; readonly policy: Policy }
  /** Replace the contents but keep the name (and tier): rule definitions, and so set names, stay. */
  | { readonly op: 'rewrite'; readonly at: number; readonly policy: Policy }
  | { readonly op: 'pods'; readonly endpoints: Endpoint[] };

export const edit: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 3, arbitrary: policy.map((p): Edit => ({ op: 'add', policy: p })) },
  { weight: 2, arbitrary: fc.nat().map((at): Edit => ({ op: 'remove', at })) },
  {
    weight: 3,
    arbitrary: fc.tuple(fc.nat(), policy).map(([at, p]): Edit => ({ op: 'replace', at, policy: p })),
  },
  {
    weight: 3,
    arbitrary: fc.tuple(fc.nat(), policy).map(([at, p]): Edit => ({ op: 'rewrite', at, policy: p })),
  },
  { weight: 1, arbitrary: endpoints.map((eps): Edit => ({ op: 'pods', endpoints: eps })) },
);

export interface State {
  readonly endpoints: readonly Endpoint[];
  readonly policies: readonly Policy[];
}

/** The state after `e`; unchanged policies keep their identity, as an agent's object store would. */
export function applyEdit(s: State, e: Edit): State {
  const n = s.policies.length;
  switch (e.op) {
    case 'add':
      return { ...s, policies: [...s.policies, e.policy] };
    case 'remove':
      return n === 0 ? s : { ...s, policies: s.policies.filter((_, i) => i !== e.at % n) };
    case 'replace':
      return n === 0
        ? { ...s, policies: [e.policy] }
        : { ...s, policies: s.policies.map((p, i) => (i === e.at % n ? e.policy : p)) };
    case 'rewrite':
      return n === 0
        ? s
        : {
            ...s,
            policies: s.policies.map((p, i) =>
              i === e.at % n ? { ...e.policy, ref: p.ref, tier: p.tier } : p,
            ),
          };
    case 'pods':
      return { ...s, endpoints: e.endpoints };
  }
}
