/**
 * What the lab daemon and its clients say to each other. A lab must outlive the `palisade lab up` process
 * (every lab verb is a separate process), while the probe process dies with its parent, so one detached
 * daemon per lab owns the running Lab and every other verb is a client: one JSON request per connection on
 * the unix socket in the lab's state dir, one JSON response, then the connection closes. Plain data only,
 * so both ends can be tested without a socket.
 */
import { join } from 'node:path';
import type { Source } from '../../dialects/index.js';
import type { Diagnostic } from '../../ir/diagnostics.js';
import type { Protocol } from '../../ir/endpoint.js';
import type { DatapathKind } from '../enforce.js';
import type { DownReport } from '../fabric.js';
import type { MeasuredMatrix } from '../probe.js';
import { labStateDir } from '../state.js';
import type { Routing } from '../topology.js';

/** The datapaths a user may choose for a lab (`none` is what enforceLab uses to tear both down). */
export type LabDatapath = Exclude<DatapathKind, 'none'>;
export const LAB_DATAPATHS: readonly LabDatapath[] = ['nftables', 'iptables'];

/**
 * Who programs the nodes: `agents`, one `palisade agent` per node reading the lab's manifests directory
 * (nftables only), or `in-process`, the daemon itself through enforceLab (iptables, and on request).
 */
export type LabEnforcer = 'agents' | 'in-process';
export const LAB_ENFORCERS: readonly LabEnforcer[] = ['agents', 'in-process'];

export function socketPath(id: string): string {
  return join(labStateDir(id), 'lab.sock');
}

export function logPath(id: string): string {
  return join(labStateDir(id), 'daemon.log');
}

/** Largest request or response accepted: manifests of a few thousand objects fit many times over. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** A client that has not finished sending its request in this long is cut off. */
export const REQUEST_READ_TIMEOUT_MS = 30_000;
/** Upper bound on the probes of one request, so a mistaken call cannot run for hours. */
export const MAX_PROBES = 200_000;
/** Probes in flight at once inside the daemon. */
export const PROBE_CONCURRENCY = 256;

/** Sent once, on the daemon's stdin, by `lab up`: what to build. */
export interface UpRequest {
  readonly op: 'up';
  readonly sources: readonly Source[];
  /** Generated nodes when the input names none (neither Node objects nor spec.nodeName). */
  readonly nodes?: number;
  readonly routing: Routing;
  readonly datapath: LabDatapath;
  /** Default: `agents` with nftables, `in-process` with iptables (the agents only program nftables). */
  readonly enforcer?: LabEnforcer;
  /**
   * A process the lab lives no longer than (pid and /proc start time, which tells a reused pid apart):
   * `palisade demo` and the tests pass their own, so that killing them cannot leave a lab running.
   */
  readonly watch?: { readonly pid: number; readonly start: string };
}

export interface ProbeRequest {
  readonly op: 'probe';
  /** Default: every declared containerPort (as `analyze matrix`). */
  readonly ports?: readonly number[];
  readonly protocols?: readonly Protocol[];
  /** Pod keys (`ns/name`); default every pod. */
  readonly from?: readonly string[];
  readonly to?: readonly string[];
  readonly timeoutMs: number;
}

export interface ApplyRequest {
  readonly op: 'apply' | 'delete';
  readonly sources: readonly Source[];
}

export interface LabelChange {
  readonly key: string;
  /** Absent: remove the label (`key-`). */
  readonly value?: string;
}

export interface LabelRequest {
  readonly op: 'label';
  readonly kind: 'ns' | 'pod';
  /** A namespace name, or a pod key `ns/name`. */
  readonly name: string;
  readonly changes: readonly LabelChange[];
}

export type LabRequest =
  ProbeRequest | ApplyRequest | LabelRequest | { readonly op: 'status' } | { readonly op: 'down' };

/** One node's part of an enforcement: what the datapath changed there and how long it took. */
export interface NodeChange {
  readonly node: string;
  readonly ms: number;
  readonly changed: boolean;
  readonly changes: Readonly<Record<string, number>>;
  readonly unsupported: readonly string[];
}

/** What a re-enforcement did: the datapath's own report, without the model (too large to send). */
export interface EnforceSummary {
  readonly datapath: LabDatapath;
  /** Absent: in-process (older daemons did not say). */
  readonly enforcer?: LabEnforcer;
  readonly revision: number;
  readonly ms: number;
  readonly nodes: readonly NodeChange[];
}

/** The answer to apply, delete and label: what changed in the desired state, then in the kernel. */
export interface ChangeReport {
  /** One line per change to the desired state, e.g. `created NetworkPolicy demo/default-deny`. */
  readonly edits: readonly string[];
  readonly warnings: readonly Diagnostic[];
  readonly enforce: EnforceSummary;
}

export interface UpReport {
  readonly id: string;
  readonly pid: number;
  readonly nodes: number;
  readonly pods: number;
  readonly policies: number;
  readonly routing: Routing;
  readonly datapath: LabDatapath;
  readonly ms: number;
  readonly warnings: readonly Diagnostic[];
  readonly enforce: EnforceSummary;
}

export interface KernelCounts {
  readonly chains: number;
  readonly sets: number;
  readonly maps: number;
  readonly elements: number;
  readonly rules: number;
}

export interface NodeStatus {
  readonly name: string;
  readonly netns: string;
  readonly ip: string;
  readonly podCidr: string;
  /** What the node's filter table holds now, read back from the kernel; `error` when it cannot be read. */
  readonly kernel: KernelCounts | { readonly error: string };
}

/** A node agent as `lab status` shows it (from the agent's own status socket). */
export interface AgentNodeStatus {
  readonly node: string;
  readonly pid: number;
  /** The agent's state (starting, ready, degraded, error), or `unreachable` when it does not answer. */
  readonly state: string;
  /** The manifests revision the agent last applied. */
  readonly appliedRevision?: string;
  readonly syncs?: number;
  readonly failures?: number;
  /** Why the last sync failed, or why the agent could not be asked. */
  readonly error?: string;
  /** Endpoints the CNI plugin registered with it. */
  readonly endpoints?: number;
}

export interface PodStatus {
  readonly pod: string;
  readonly node: string;
  readonly ip: string;
  readonly hostNetwork: boolean;
  /** `name:port/PROTO` or `port/PROTO`. */
  readonly ports: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

export interface PolicyStatus {
  readonly dialect: string;
  readonly tier: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
}

export interface LabStatus {
  readonly id: string;
  readonly pid: number;
  readonly startedAt: string;
  readonly uptimeMs: number;
  readonly routing: Routing;
  readonly datapath: LabDatapath;
  readonly sctpMode: string;
  readonly revision: number;
  readonly socket: string;
  readonly log: string;
  readonly nodes: readonly NodeStatus[];
  readonly pods: readonly PodStatus[];
  readonly policies: readonly PolicyStatus[];
  readonly lastEnforce?: EnforceSummary;
  readonly enforcer?: LabEnforcer;
  /** With the `agents` enforcer: one per node. */
  readonly agents?: readonly AgentNodeStatus[];
}

/** Why a request failed; `diagnostics` when the input was at fault (file, doc, path, as `analyze`). */
export interface LabFailure {
  readonly ok: false;
  readonly error: string;
  /** `usage`: the request or its input is wrong (exit 1); `internal`: the lab or kernel failed. */
  readonly kind: 'usage' | 'internal';
  readonly diagnostics?: readonly Diagnostic[];
}

export type LabResponse<T> = { readonly ok: true; readonly value: T } | LabFailure;

/** The response type of each request. */
export interface ResponseOf {
  readonly probe: MeasuredMatrix;
  readonly apply: ChangeReport;
  readonly delete: ChangeReport;
  readonly label: ChangeReport;
  readonly status: LabStatus;
  readonly down: DownReport;
}

const OPS = new Set(['probe', 'apply', 'delete', 'label', 'status', 'down']);

/** Checks the shape of a request read off the socket: enough to dispatch it without crashing. */
export function parseRequest(text: string): LabRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return `not JSON: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (typeof value !== 'object' || value === null) return 'a request is a JSON object';
  const op = (value as { op?: unknown }).op;
  if (typeof op !== 'string' || !OPS.has(op)) return `unknown op ${JSON.stringify(op)}`;
  const v = value as Record<string, unknown>;
  if ((op === 'apply' || op === 'delete') && !Array.isArray(v['sources'])) return `${op} needs sources`;
  if (op === 'label' && (typeof v['name'] !== 'string' || !Array.isArray(v['changes'])))
    return 'label needs name and changes';
  if (op === 'probe' && typeof v['timeoutMs'] !== 'number') return 'probe needs timeoutMs';
  return value as LabRequest;
}
