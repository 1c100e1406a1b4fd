/**
 * What every datastore source does for the agent: keep a full copy of the desired objects and hand it over
 * whenever it changes, and say whether the datastore can be reached. A source never throws at the agent:
 * problems become `health` reports, and the agent keeps enforcing the last snapshot meanwhile.
 */
import type { DesiredObjects } from '../reconcile.js';

export interface SourceHealth {
  readonly connected: boolean;
  /** Why not, when not connected. */
  readonly error?: string;
  /** etcd: the revision the snapshot reflects. */
  readonly revision?: string;
}

export interface SourceHandlers {
  /**
   * The complete desired state (not a delta): the agent may drop intermediate snapshots. `revision`
   * (etcd: the store revision; dir: the marker file's number) lets a writer learn when its write is
   * enforced: the agent reports the revision of the last snapshot it applied.
   */
  snapshot(objects: DesiredObjects, revision?: string): void;
  health(health: SourceHealth): void;
  log(level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void;
}

export interface DatastoreSource {
  readonly describe: string;
  start(handlers: SourceHandlers): void;
  /** Stops watching; resolves once nothing of the source is left running. */
  stop(): Promise<void>;
}

export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
