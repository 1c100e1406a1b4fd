import type { DatastoreSpec } from '../datastore.js';
import { dirSource } from './dir.js';
import { etcdSource } from './etcd.js';
import type { DatastoreSource } from './source.js';

export { dirSource } from './dir.js';
export type { DirSourceOptions } from './dir.js';
export { etcdClient, etcdSource } from './etcd.js';
export type { EtcdSourceOptions } from './etcd.js';
export { backoffMs } from './source.js';
export type { DatastoreSource, SourceHandlers, SourceHealth } from './source.js';

export function openSource(spec: DatastoreSpec): DatastoreSource {
  return spec.kind === 'dir' ? dirSource(spec.path) : etcdSource(spec.hosts);
}
