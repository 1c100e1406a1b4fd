/**
 * Random sequences of cluster edits — pods added, removed and modified (labels, addresses, ports, node,
 * host network), namespace labels, node labels and addresses, policies added, removed, replaced and
 * rewritten, the declared tiers — for the properties that compare an incremental route (model builder,
 * node resolver, compiler) with a from-scratch one. Unchanged objects keep their identity, as an agent's
 * object store keeps them; `copy` makes equal copies of everything, as a loader or the lab's binding does.
 * A few edits make what the incremental route only falls back on: duplicate pod keys, a policy object
 * listed twice, a reordered pod list.
 */
import fc from 'fast-check';
import type { ClusterNode, Endpoint, Labels, Policy, Tier } from '../../src/ir/index.js';
import { NAMESPACE_NAME_LABEL } from '../../src/ir/index.js';
import { cluster } from '../engine/builders.js';
import type { Cluster } from '../../src/ir/index.js';
import { DECLARED, NODES, endpoints, policy } from './arbitrary-ir.js';

export interface ClusterState {
  readonly endpoints: readonly Endpoint[];
  readonly nodes: readonly ClusterNode[];
  readonly policies: readonly Policy[];
  readonly tiers: readonly Tier[];
}

export type ClusterEdit =
  | { readonly op: 'add-policy'; readonly policy: Policy }
  | { readonly op: 'remove-policy'; readonly at: number }
  | { readonly op: 'replace-policy'; readonly at: number; readonly policy: Policy }
  /** New contents under the old name and tier: rule definitions stay, their resolutions change. */
  | { readonly op: 'rewrite-policy'; readonly at: number; readonly policy: Policy }
  /** Same priority change as a spread would make: new policy object, the same rule objects. */
  | { readonly op: 'reprioritize'; readonly at: number; readonly priority: number }
  | { readonly op: 'list-twice'; readonly at: number }
  | { readonly op: 'add-pod'; readonly pod: Endpoint; readonly name: number }
  | { readonly op: 'remove-pod'; readonly at: number }
  | { readonly op: 'modify-pod'; readonly at: number; readonly like: Endpoint }
  /** A pod whose key another pod already has. */
  | { readonly op: 'duplicate-pod'; readonly at: number; readonly ip: number }
  | { readonly op: 'namespace-labels'; readonly namespace: string; readonly labels: Labels }
  | { readonly op: 'node'; readonly at: number; readonly labels: Labels; readonly ip: number }
  | { readonly op: 'reorder-pods' }
  | { readonly op: 'copy' }
  | { readonly op: 'tiers'; readonly keep: readonly boolean[] };

const at = fc.nat(50);
const onePod = endpoints.map((eps) => eps[0] as Endpoint);

export const clusterEdit: fc.Arbitrary<ClusterEdit> = fc.oneof(
  { weight: 3, arbitrary: policy.map((p): ClusterEdit => ({ op: 'add-policy', policy: p })) },
  { weight: 2, arbitrary: at.map((i): ClusterEdit => ({ op: 'remove-policy', at: i })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(at, policy)
      .map(([i, p]): ClusterEdit => ({ op: 'replace-policy', at: i, policy: p })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(at, policy)
      .map(([i, p]): ClusterEdit => ({ op: 'rewrite-policy', at: i, policy: p })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(at, fc.nat(3))
      .map(([i, n]): ClusterEdit => ({ op: 'reprioritize', at: i, priority: n })),
  },
  { weight: 1, arbitrary: at.map((i): ClusterEdit => ({ op: 'list-twice', at: i })) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(onePod, fc.nat(20))
      .map(([p, n]): ClusterEdit => ({ op: 'add-pod', pod: p, name: n })),
  },
  { weight: 2, arbitrary: at.map((i): ClusterEdit => ({ op: 'remove-pod', at: i })) },
  {
    weight: 3,
    arbitrary: fc.tuple(at, onePod).map(([i, like]): ClusterEdit => ({ op: 'modify-pod', at: i, like })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(at, fc.nat(9)).map(([i, ip]): ClusterEdit => ({ op: 'duplicate-pod', at: i, ip })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom('x', 'y'), fc.constantFrom<Labels>({ team: 'a' }, { team: 'b' }, {}))
      .map(([namespace, labels]): ClusterEdit => ({ op: 'namespace-labels', namespace, labels })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.nat(1), fc.constantFrom<Labels>({ role: 'worker' }, { role: 'infra' }, {}), fc.nat(3))
      .map(([i, labels, ip]): ClusterEdit => ({ op: 'node', at: i, labels, ip })),
  },
  { weight: 1, arbitrary: fc.constant<ClusterEdit>({ op: 'reorder-pods' }) },
  { weight: 1, arbitrary: fc.constant<ClusterEdit>({ op: 'copy' }) },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.boolean(), { minLength: DECLARED.length, maxLength: DECLARED.length })
      .map((keep): ClusterEdit => ({ op: 'tiers', keep })),
  },
);

export function initialState(eps: readonly Endpoint[], policies: readonly Policy[]): ClusterState {
  return { endpoints: eps, nodes: NODES, policies, tiers: DECLARED };
}

/** The cluster a state stands for (namespaces from its pods, as the builders make them). */
export function clusterOf(s: ClusterState): Cluster {
  return cluster(s.endpoints, s.nodes);
}

const copy = <T>(x: T): T => structuredClone(x);

function replaceAt<T>(xs: readonly T[], i: number, x: T): T[] {
  return xs.map((y, j) => (j === i ? x : y));
}

/** The state after `e`; what the edit does not touch keeps its identity. */
export function applyClusterEdit(s: ClusterState, e: ClusterEdit): ClusterState {
  const np = s.policies.length;
  const ne = s.endpoints.length;
  switch (e.op) {
    case 'add-policy':
      return { ...s, policies: [...s.policies, e.policy] };
    case 'remove-policy':
      return np === 0 ? s : { ...s, policies: s.policies.filter((_, i) => i !== e.at % np) };
    case 'replace-policy':
      return np === 0
        ? { ...s, policies: [e.policy] }
        : { ...s, policies: replaceAt(s.policies, e.at % np, e.policy) };
    case 'rewrite-policy': {
      if (np === 0) return s;
      const old = s.policies[e.at % np] as Policy;
      return {
        ...s,
        policies: replaceAt(s.policies, e.at % np, { ...e.policy, ref: old.ref, tier: old.tier }),
      };
    }
    case 'reprioritize': {
      if (np === 0) return s;
      const old = s.policies[e.at % np] as Policy;
      return { ...s, policies: replaceAt(s.policies, e.at % np, { ...old, priority: e.priority }) };
    }
    case 'list-twice':
      return np === 0 ? s : { ...s, policies: [...s.policies, s.policies[e.at % np] as Policy] };
    case 'add-pod': {
      const name = `q${e.name}`;
      if (s.endpoints.some((x) => x.namespace === e.pod.namespace && x.name === name)) return s;
      return { ...s, endpoints: [...s.endpoints, { ...e.pod, name }] };
    }
    case 'remove-pod':
      return ne === 0 ? s : { ...s, endpoints: s.endpoints.filter((_, i) => i !== e.at % ne) };
    case 'modify-pod': {
      if (ne === 0) return s;
      const old = s.endpoints[e.at % ne] as Endpoint;
      // Everything but the identity (and the namespace, whose labels the pod must keep) from `like`.
      const changed: Endpoint = {
        ...e.like,
        namespace: old.namespace,
        name: old.name,
        namespaceLabels: old.namespaceLabels,
      };
      return { ...s, endpoints: replaceAt(s.endpoints, e.at % ne, changed) };
    }
    case 'duplicate-pod': {
      if (ne === 0) return s;
      const old = s.endpoints[e.at % ne] as Endpoint;
      return { ...s, endpoints: [...s.endpoints, { ...old, ips: [`10.0.1.${200 + e.ip}`] }] };
    }
    case 'namespace-labels': {
      const namespaceLabels = { ...e.labels, [NAMESPACE_NAME_LABEL]: e.namespace };
      return {
        ...s,
        endpoints: s.endpoints.map((x) => (x.namespace === e.namespace ? { ...x, namespaceLabels } : x)),
      };
    }
    case 'node': {
      const old = s.nodes[e.at % s.nodes.length] as ClusterNode;
      const ips = e.ip === 0 ? old.ips : [`192.168.0.${e.ip + 1}`];
      return { ...s, nodes: replaceAt(s.nodes, e.at % s.nodes.length, { ...old, labels: e.labels, ips }) };
    }
    case 'reorder-pods':
      return { ...s, endpoints: [...s.endpoints].reverse() };
    case 'copy':
      return copy(s);
    case 'tiers':
      return { ...s, tiers: DECLARED.filter((_, i) => e.keep[i] === true) };
  }
}
