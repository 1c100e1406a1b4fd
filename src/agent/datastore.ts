/**
 * Where the agent's desired objects live, and how one object is named there. Three datastores:
 * `dir:PATH` (a directory of manifests, one object or many per file), `etcd:URL` (an etcd v3 server,
 * one object per key under `/palisade/`, the value being the object as JSON) and `kubernetes` (the
 * Kubernetes API, read only: sources/kubernetes.ts). Pure.
 */
import type { Obj } from '../dialects/index.js';
import type { Outcome } from '../ir/outcome.js';
import { failure, success } from '../ir/outcome.js';

export type DatastoreSpec =
  | { readonly kind: 'dir'; readonly path: string }
  | { readonly kind: 'etcd'; readonly hosts: readonly string[] }
  /** The Kubernetes API; `kubeconfig` absent: $KUBECONFIG, ~/.kube/config or the pod's service account. */
  | { readonly kind: 'kubernetes'; readonly kubeconfig?: string };

/** Every key Palisade writes or reads sits under this prefix, so one etcd can serve other users too. */
export const ETCD_PREFIX = '/palisade/';

/** Stands for the namespace segment of a cluster-scoped object (or one that does not say its namespace). */
export const CLUSTER_SCOPE = '_';

export class DatastoreSpecError extends Error {
  override readonly name = 'DatastoreSpecError';
}

/** `dir:PATH`, `etcd:URL[,URL…]` (URLs with http:// or https://), `kubernetes` or `kubernetes:KUBECONFIG`. */
export function parseDatastore(text: string): DatastoreSpec {
  if (text === 'kubernetes') return { kind: 'kubernetes' };
  const colon = text.indexOf(':');
  const scheme = colon < 0 ? '' : text.slice(0, colon);
  const rest = colon < 0 ? '' : text.slice(colon + 1);
  if (scheme === 'dir' && rest !== '') return { kind: 'dir', path: rest };
  if (scheme === 'etcd' && rest !== '') {
    const hosts = rest.split(',').map((h) => h.trim());
    for (const h of hosts) {
      let url: URL;
      try {
        url = new URL(h);
      } catch {
        throw new DatastoreSpecError(`--datastore ${text}: "${h}" is not a URL (e.g. http://127.0.0.1:2379)`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw new DatastoreSpecError(`--datastore ${text}: "${h}" must start with http:// or https://`);
    }
    return { kind: 'etcd', hosts };
  }
  if (scheme === 'kubernetes' && rest !== '') return { kind: 'kubernetes', kubeconfig: rest };
  throw new DatastoreSpecError(
    `--datastore ${text}: expected dir:PATH, etcd:URL, kubernetes or kubernetes:KUBECONFIG`,
  );
}

export function describeDatastore(spec: DatastoreSpec): string {
  if (spec.kind === 'kubernetes')
    return spec.kubeconfig === undefined ? 'kubernetes' : `kubernetes:${spec.kubeconfig}`;
  return spec.kind === 'dir' ? `dir:${spec.path}` : `etcd:${spec.hosts.join(',')}`;
}

/** One object of a manifest, named the way the datastore stores it. */
export interface NamedObject {
  /** `NetworkPolicy.networking.k8s.io`, `Pod`: the kind qualified by its API group, as kubectl names resources. */
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly object: Obj;
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** An object the datastore cannot name: `field` is the path of the offending field. */
export class ObjectNameError extends Error {
  override readonly name = 'ObjectNameError';
  constructor(
    readonly field: 'apiVersion' | 'kind' | 'metadata' | 'metadata.name' | 'metadata.namespace',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The datastore name of an object, or why it has none. The kind is qualified by its group
 * because Calico and Kubernetes both have a `NetworkPolicy`; an object without metadata.namespace is
 * stored under `_` whatever its kind, since only the dialects know which kinds are namespaced.
 */
export function nameObject(object: Obj): Outcome<NamedObject, ObjectNameError> {
  const apiVersion = object['apiVersion'];
  const kind = object['kind'];
  const meta = object['metadata'];
  if (typeof apiVersion !== 'string' || apiVersion === '')
    return failure(new ObjectNameError('apiVersion', 'apiVersion and kind are required'));
  if (typeof kind !== 'string' || kind === '')
    return failure(new ObjectNameError('kind', 'apiVersion and kind are required'));
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta))
    return failure(new ObjectNameError('metadata', 'metadata is required'));
  const m = meta as Record<string, unknown>;
  const name = m['name'];
  const ns = m['namespace'];
  if (typeof name !== 'string' || !SEGMENT.test(name))
    return failure(new ObjectNameError('metadata.name', 'metadata.name must be a DNS name'));
  if (ns !== undefined && ns !== null && (typeof ns !== 'string' || !SEGMENT.test(ns)))
    return failure(new ObjectNameError('metadata.namespace', 'metadata.namespace must be a DNS name'));
  const slash = apiVersion.lastIndexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  return success({
    kind: group === '' ? kind : `${kind}.${group}`,
    namespace: typeof ns === 'string' && ns !== '' ? ns : CLUSTER_SCOPE,
    name,
    object,
  });
}

/** `/palisade/<kind>/<namespace>/<name>`. */
export function etcdKey(o: Pick<NamedObject, 'kind' | 'namespace' | 'name'>): string {
  return `${ETCD_PREFIX}${o.kind}/${o.namespace}/${o.name}`;
}

/** The file `apply --datastore dir:` writes an object to: one object per file, named like its key. */
export function dirFileName(o: Pick<NamedObject, 'kind' | 'namespace' | 'name'>): string {
  return `${o.kind}_${o.namespace}_${o.name}.json`;
}
