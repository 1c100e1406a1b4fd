/**
 * The Kubernetes resources the `kubernetes` datastore watches: one per kind the dialects read
 * (src/dialects/kinds.ts), at the API versions those dialects accept, and how one object of them becomes
 * an object id and a text for the agent. Pure.
 */
import { CLUSTER_SCOPE } from '../datastore.js';

export interface KubeResource {
  /** '' for the core group (`/api/v1`). */
  readonly group: string;
  /** Tried in order: the first version the server serves is watched (a 404 moves on to the next). */
  readonly versions: readonly [string, ...string[]];
  readonly plural: string;
  readonly kind: string;
}

const core = (plural: string, kind: string): KubeResource => ({
  group: '',
  versions: ['v1'],
  plural,
  kind,
});

/** Every resource Palisade reads. A new dialect kind needs its resource here (checked by a test). */
export const KUBE_RESOURCES: readonly KubeResource[] = [
  core('namespaces', 'Namespace'),
  core('pods', 'Pod'),
  core('nodes', 'Node'),
  { group: 'networking.k8s.io', versions: ['v1'], plural: 'networkpolicies', kind: 'NetworkPolicy' },
  {
    group: 'policy.networking.k8s.io',
    versions: ['v1alpha2'],
    plural: 'clusternetworkpolicies',
    kind: 'ClusterNetworkPolicy',
  },
  {
    group: 'policy.networking.k8s.io',
    versions: ['v1alpha1'],
    plural: 'adminnetworkpolicies',
    kind: 'AdminNetworkPolicy',
  },
  {
    group: 'policy.networking.k8s.io',
    versions: ['v1alpha1'],
    plural: 'baselineadminnetworkpolicies',
    kind: 'BaselineAdminNetworkPolicy',
  },
  { group: 'projectcalico.org', versions: ['v3'], plural: 'networkpolicies', kind: 'NetworkPolicy' },
  {
    group: 'projectcalico.org',
    versions: ['v3'],
    plural: 'globalnetworkpolicies',
    kind: 'GlobalNetworkPolicy',
  },
  { group: 'projectcalico.org', versions: ['v3'], plural: 'tiers', kind: 'Tier' },
  { group: 'cilium.io', versions: ['v2'], plural: 'ciliumnetworkpolicies', kind: 'CiliumNetworkPolicy' },
  {
    group: 'cilium.io',
    versions: ['v2'],
    plural: 'ciliumclusterwidenetworkpolicies',
    kind: 'CiliumClusterwideNetworkPolicy',
  },
  // Antrea serves v1beta1 since 1.13; older releases only v1alpha1. The dialect reads both.
  {
    group: 'crd.antrea.io',
    versions: ['v1beta1', 'v1alpha1'],
    plural: 'networkpolicies',
    kind: 'NetworkPolicy',
  },
  {
    group: 'crd.antrea.io',
    versions: ['v1beta1', 'v1alpha1'],
    plural: 'clusternetworkpolicies',
    kind: 'ClusterNetworkPolicy',
  },
  { group: 'crd.antrea.io', versions: ['v1beta1', 'v1alpha1'], plural: 'tiers', kind: 'Tier' },
];

export function apiVersionOf(r: KubeResource, version: string): string {
  return r.group === '' ? version : `${r.group}/${version}`;
}

/** The collection across all namespaces: `/api/v1/pods`, `/apis/cilium.io/v2/ciliumnetworkpolicies`. */
export function collectionPath(r: KubeResource, version: string): string {
  return r.group === '' ? `/api/${version}/${r.plural}` : `/apis/${r.group}/${version}/${r.plural}`;
}

/** As kubectl names resources: `pods`, `networkpolicies.projectcalico.org`. */
export function resourceName(r: KubeResource): string {
  return r.group === '' ? r.plural : `${r.plural}.${r.group}`;
}

export interface ObjectKey {
  readonly namespace?: string | undefined;
  readonly name: string;
}

/**
 * `k8s:<resource>/<namespace>/<name>` (`_` for cluster-scoped objects). The group is part of the
 * resource because Kubernetes, Calico and Antrea all have `networkpolicies`.
 */
export function objectId(r: KubeResource, key: ObjectKey): string {
  const ns = key.namespace === undefined || key.namespace === '' ? CLUSTER_SCOPE : key.namespace;
  return `k8s:${resourceName(r)}/${ns}/${key.name}`;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The object as the dialects read it: apiVersion and kind set from the resource (list items come
 * without them, as `kubectl get -o json` fills them in), managedFields dropped (bookkeeping of the API
 * server, often larger than the object itself). Everything else is kept as served, so that the agent's
 * validation sees exactly what the API holds.
 */
export function objectText(r: KubeResource, version: string, obj: object): string {
  const rest: Record<string, unknown> = { ...obj };
  const metadata = rest['metadata'];
  delete rest['apiVersion'];
  delete rest['kind'];
  delete rest['metadata'];
  let meta: unknown = metadata;
  if (isRecord(metadata) && 'managedFields' in metadata) {
    const kept = { ...metadata };
    delete kept['managedFields'];
    meta = kept;
  }
  return JSON.stringify({ apiVersion: apiVersionOf(r, version), kind: r.kind, metadata: meta, ...rest });
}
