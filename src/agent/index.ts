/** The per-node agent: datastore sources → reconcile (pure) → apply, with status and metrics. */
export { Agent } from './agent.js';
export { runDaemon } from './daemon.js';
export type { DaemonOptions } from './daemon.js';
export type { AgentOptions, AgentState, AgentStatus, SyncRecord, TimedEvent, Touched } from './agent.js';
export * from './datastore.js';
export { jsonLogger, silentLogger } from './log.js';
export type { LogLevel, Logger } from './log.js';
export { AgentMetrics, MetricsAddressError, parseMetricsAddr } from './metrics.js';
export * from './flows/index.js';
export { reconcile, validateObjects } from './reconcile.js';
export { STRICT_DISABLED, StrictMode, planCuts } from './strict.js';
export type { Cut, CutPlan, StrictOptions, StrictStatus, SweepRecord } from './strict.js';
export { ConntrackError, parseConntrackLine } from './conntrack.js';
export type { ConntrackEntry } from './conntrack.js';
export type {
  AgentEvent,
  Counts,
  DesiredObjects,
  ObjectState,
  ObjectStates,
  Reconciled,
} from './reconcile.js';
export * from './sources/index.js';
export {
  DEFAULT_STATE_DIR,
  SocketInUseError,
  agentSocketsIn,
  readStatus,
  serveStatus,
  socketPathFor,
} from './status-server.js';
export type { StatusServer } from './status-server.js';
export { extractObjects, writeObjects } from './writer.js';
export type { Extracted, WriteResult } from './writer.js';
