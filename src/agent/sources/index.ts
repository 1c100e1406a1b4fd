import type { DatastoreSpec } from '../datastore.js';
import { dirSource } from './dir.js';
import type { DirSourceOptions } from './dir.js';
import { etcdSource } from './etcd.js';
import { kubernetesSource } from './kubernetes.js';
import type { DatastoreSource } from './source.js';

export { DIR_REVISION_FILE, dirSource } from './dir.js';
export type { DirSourceOptions } from './dir.js';
export { etcdClient, etcdSource } from './etcd.js';
export type { EtcdSourceOptions } from './etcd.js';
export { kubernetesSource } from './kubernetes.js';
export type { KubernetesSourceOptions } from './kubernetes.js';
export { KUBE_RESOURCES, objectId as kubeObjectId } from './kube-resources.js';
export type { KubeResource } from './kube-resources.js';
export type { DatastoreSource, SourceHandlers, SourceHealth } from './source.js';

export function openSource(spec: DatastoreSpec, dirOptions: DirSourceOptions = {}): DatastoreSource {
  if (spec.kind === 'kubernetes') return kubernetesSource(spec.kubeconfig);
  return spec.kind === 'dir' ? dirSource(spec.path, dirOptions) : etcdSource(spec.hosts);
}
