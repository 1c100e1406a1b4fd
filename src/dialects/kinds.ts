import type { ClusterNode, Endpoint, Namespace, Policy, Tier } from '../ir/index.js';
import { ANTREA_KIND_HANDLERS, ANTREA_STATIC_TIERS } from './antrea.js';
import { CALICO_KIND_HANDLERS } from './calico.js';
import { CILIUM_KIND_HANDLERS } from './cilium.js';
import type { Obj } from './fields.js';
import { namespaceToIr, nodeToIr, podToIr } from './k8s-core.js';
import { CLUSTER_NETWORK_POLICY_KIND_HANDLERS } from './cluster-network-policy.js';
import { networkPolicyToIr } from './k8s-networkpolicy.js';
import type { Origin, Reporter } from './report.js';

/** What one Kubernetes object adds to the loaded world. */
export type Contribution =
  | { readonly kind: 'namespace'; readonly namespace: Namespace }
  /** `namespaceLabels` is filled in by the loader once every namespace is known. */
  | { readonly kind: 'endpoint'; readonly endpoint: Endpoint }
  | { readonly kind: 'node'; readonly node: ClusterNode }
  | { readonly kind: 'policy'; readonly policy: Policy }
  /** A tier a dialect declares (Calico/Antrea Tier objects); the engine merges them with its built-ins. */
  | { readonly kind: 'tier'; readonly tier: Tier };

/**
 * Converts one object of a known apiVersion/kind. Returns undefined when it reported an error; the
 * loader then drops the whole document.
 */
export type KindHandler = (
  obj: Obj,
  r: Reporter,
  origin: Origin,
) => Contribution | readonly Contribution[] | undefined;

export function kindKey(apiVersion: string, kind: string): string {
  return `${apiVersion}/${kind}`;
}

function wrap<T, C extends Contribution>(
  convert: (obj: Obj, r: Reporter, origin: Origin) => T | undefined,
  make: (value: T) => C,
): KindHandler {
  return (obj, r, origin) => {
    const value = convert(obj, r, origin);
    return value === undefined ? undefined : make(value);
  };
}

/** Every kind Palisade reads. A new dialect registers its kinds by adding entries here. */
export const KIND_HANDLERS: Readonly<Record<string, KindHandler>> = {
  [kindKey('v1', 'Namespace')]: wrap(namespaceToIr, (namespace) => ({ kind: 'namespace', namespace })),
  [kindKey('v1', 'Pod')]: wrap(podToIr, (endpoint) => ({ kind: 'endpoint', endpoint })),
  [kindKey('v1', 'Node')]: wrap(nodeToIr, (node) => ({ kind: 'node', node })),
  [kindKey('networking.k8s.io/v1', 'NetworkPolicy')]: wrap(networkPolicyToIr, (policy) => ({
    kind: 'policy',
    policy,
  })),
  ...CLUSTER_NETWORK_POLICY_KIND_HANDLERS,
  ...ANTREA_KIND_HANDLERS,
  ...CILIUM_KIND_HANDLERS,
  ...CALICO_KIND_HANDLERS,
};

/**
 * Tiers that exist without an object declaring them (Antrea's six static tiers). The loader adds the
 * ones some loaded policy names, so the engine sees every tier a policy is placed in.
 */
export const BUILTIN_TIERS: readonly Tier[] = [...ANTREA_STATIC_TIERS];
