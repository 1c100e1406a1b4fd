/**
 * What the lab daemon and its clients say to each other. A lab must outlive the `palisade lab up` process
 * (every lab verb is a separate process), while the probe process dies with its parent, so one detached
 * daemon per lab owns the running Lab and every other verb is a client: one JSON request per connection on
 * the unix socket in the lab's state dir, one JSON response, then the connection closes. Plain data only,
 * so both ends can be tested without a socket.
 *
 * Requests are checked against zod schemas (their types are inferred from them), so a malformed one is
 * refused with a LabRequestError naming each wrong field (`sources[0].text: expected string`). Answers
 * are checked for their envelope only: their values come from a daemon of the same build.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { labelValueErrors, qualifiedNameErrors } from '../../dialects/index.js';
import type { Diagnostic } from '../../ir/diagnostics.js';
import { PROTOCOLS } from '../../ir/endpoint.js';
import type { Outcome } from '../../ir/outcome.js';
import { failure, success } from '../../ir/outcome.js';
import { BACKEND_NAMES } from '../../datapath/registry.js';
import type { BackendName } from '../../datapath/registry.js';
import type { StateSize } from '../../datapath/backend.js';
import type { DownReport } from '../fabric.js';
import type { HttpMeasuredMatrix } from '../http-probe.js';
import type { MeasuredMatrix } from '../probe.js';
import { labStateDir } from '../state.js';
import type { Routing } from '../topology.js';

/** The datapaths a user may choose for a lab: every registered backend (`none` is not one). */
export type LabDatapath = BackendName;
export const LAB_DATAPATHS: readonly [LabDatapath, ...LabDatapath[]] = BACKEND_NAMES;

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

const SourceSchema = z.strictObject({ file: z.string(), text: z.string() }).readonly();
const SourcesSchema = z.array(SourceSchema).readonly();
const between = (min: number, max: number) =>
  z.number().int().min(min, `between ${min} and ${max}`).max(max, `between ${min} and ${max}`);

/**
 * The longest `lab up --sync-timeout-ms`: a change's wait for the agents, which must end before the CLI's
 * own wait for the answer (lab-common.ts TIMEOUTS.change).
 */
export const MAX_SYNC_TIMEOUT_MS = 100_000;

/** Sent once, on the daemon's stdin, by `lab up`: what to build. */
export const UpRequestSchema = z
  .strictObject({
    op: z.literal('up'),
    sources: SourcesSchema,
    /** Generated nodes when the input names none (neither Node objects nor spec.nodeName). */
    nodes: z.number().optional(),
    routing: z.enum(['native', 'vxlan'] satisfies Routing[]),
    datapath: z.enum(LAB_DATAPATHS),
    /** Default: `agents` with nftables, `in-process` with iptables (the agents only program nftables). */
    enforcer: z.enum(LAB_ENFORCERS).optional(),
    /** How long a change waits for every node agent, restarts included (agents.ts SYNC_TIMEOUT_MS). */
    syncTimeoutMs: between(1000, MAX_SYNC_TIMEOUT_MS).optional(),
    /**
     * The node agents' `--l7-proxy` mode (agents only): `bare` makes every node's L7 proxy forward steered
     * requests undecided, the anchor row of `bench l7`. Default: `policy`.
     */
    l7Proxy: z.enum(['policy', 'bare']).optional(),
    /**
     * A process the lab lives no longer than (pid and /proc start time, which tells a reused pid apart):
     * `palisade demo` and the tests pass their own, so that killing them cannot leave a lab running.
     */
    watch: z.strictObject({ pid: z.number().int().positive(), start: z.string() }).readonly().optional(),
  })
  .readonly();
export type UpRequest = z.infer<typeof UpRequestSchema>;

export const ProbeRequestSchema = z
  .strictObject({
    op: z.literal('probe'),
    /** Default: every declared containerPort (as `analyze matrix`). */
    ports: z.array(between(1, 65535)).readonly().optional(),
    protocols: z.array(z.enum(PROTOCOLS)).readonly().optional(),
    /** Pod keys (`ns/name`); default every pod. */
    from: z.array(z.string()).readonly().optional(),
    to: z.array(z.string()).readonly().optional(),
    timeoutMs: between(1, 60_000),
  })
  .readonly();
export type ProbeRequest = z.infer<typeof ProbeRequestSchema>;

/** Upper bound on the requests of one `probe-http`: each is a curl process. */
export const MAX_HTTP_REQUESTS = 20_000;
/** curl processes in flight at once inside the daemon. */
export const HTTP_CONCURRENCY = 16;

const HttpRequestSchema = z
  .strictObject({
    method: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'an HTTP method token'),
    path: z.string().regex(/^\/\S*$/, "starts with '/' and has no whitespace"),
    headers: z.record(z.string(), z.string()),
  })
  .readonly();

/** `lab probe --http`: one HTTP request on every pair and TCP target (http-probe.ts). */
export const ProbeHttpRequestSchema = z
  .strictObject({
    op: z.literal('probe-http'),
    ports: z.array(between(1, 65535)).readonly().optional(),
    protocols: z.array(z.enum(PROTOCOLS)).readonly().optional(),
    from: z.array(z.string()).readonly().optional(),
    to: z.array(z.string()).readonly().optional(),
    timeoutMs: between(1, 60_000),
    /** The request each destination gets, by pod key (its Host defaults to the pod's IP): the CLI's. */
    requests: z.record(z.string(), HttpRequestSchema),
  })
  .readonly();
export type ProbeHttpRequest = z.infer<typeof ProbeHttpRequestSchema>;

export const ApplyRequestSchema = z
  .strictObject({ op: z.enum(['apply', 'delete']), sources: SourcesSchema })
  .readonly();
export type ApplyRequest = z.infer<typeof ApplyRequestSchema>;

/** Keys and values as the API server checks them, so a request that skipped the CLI cannot set a bad one. */
const LabelChangeSchema = z
  .strictObject({
    key: z.string().check((ctx) => {
      for (const e of qualifiedNameErrors(ctx.value))
        ctx.issues.push({ code: 'custom', message: e, input: ctx.value });
    }),
    /** Absent: remove the label (`key-`). */
    value: z
      .string()
      .check((ctx) => {
        for (const e of labelValueErrors(ctx.value))
          ctx.issues.push({ code: 'custom', message: e, input: ctx.value });
      })
      .optional(),
  })
  .readonly();
export type LabelChange = z.infer<typeof LabelChangeSchema>;

export const LabelRequestSchema = z
  .strictObject({
    op: z.literal('label'),
    kind: z.enum(['ns', 'pod']),
    /** A namespace name, or a pod key `ns/name`. */
    name: z.string().min(1),
    changes: z.array(LabelChangeSchema).readonly(),
  })
  .readonly();
export type LabelRequest = z.infer<typeof LabelRequestSchema>;

const OPS = ['probe', 'probe-http', 'apply', 'delete', 'label', 'status', 'down'] as const;

export const LabRequestSchema = z.discriminatedUnion(
  'op',
  [
    ProbeRequestSchema,
    ProbeHttpRequestSchema,
    ApplyRequestSchema,
    LabelRequestSchema,
    z.strictObject({ op: z.literal('status') }).readonly(),
    z.strictObject({ op: z.literal('down') }).readonly(),
  ],
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? `unknown op ${JSON.stringify((issue.input as { op?: unknown } | undefined)?.op) ?? '(none)'}: one of ${OPS.join(', ')}`
        : undefined,
  },
);
export type LabRequest = z.infer<typeof LabRequestSchema>;

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

/** What a node's datapath holds, read back (NodeDatapath.readBack). */
export type KernelCounts = StateSize;

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
  /**
   * The agent's state (starting, ready, degraded, error); `unreachable` when its process runs but does not
   * answer; `restarting` when its process exited and a restart is due (`exited`: none will come).
   */
  readonly state: string;
  /** The manifests revision the agent last applied. */
  readonly appliedRevision?: string;
  readonly syncs?: number;
  readonly failures?: number;
  /** Why the last sync failed, or why the agent could not be asked. */
  readonly error?: string;
  /** Endpoints the CNI plugin registered with it. */
  readonly endpoints?: number;
  /** How many times the lab daemon started the agent again after it exited. */
  readonly restarts?: number;
  /** How its last process ended; absent while none has. */
  readonly lastExit?: AgentExitStatus;
  /** While it is down: when the next restart is due (ISO time). */
  readonly nextRestartAt?: string;
}

export interface AgentExitStatus {
  /** Exit code, or null when a signal ended it. */
  readonly code: number | null;
  readonly signal: string | null;
  /** ISO time. */
  readonly at: string;
}

export interface PodStatus {
  readonly pod: string;
  readonly node: string;
  readonly ip: string;
  readonly hostNetwork: boolean;
  /** The netns the pod's processes run in: its own, or its node's for a host-network pod. */
  readonly netns: string;
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
  readonly 'probe-http': HttpMeasuredMatrix;
  readonly apply: ChangeReport;
  readonly delete: ChangeReport;
  readonly label: ChangeReport;
  readonly status: LabStatus;
  readonly down: DownReport;
}

export type LabRequestErrorCode =
  /** Larger than MAX_MESSAGE_BYTES. */
  | 'too-large'
  | 'not-json'
  /** Does not fit the schema; `issues` name the fields. */
  | 'invalid'
  /** A probe names a pod the lab does not have. */
  | 'unknown-pod'
  /** An HTTP probe has no request for one of its destinations. */
  | 'missing-request'
  /** A probe would send more than MAX_PROBES probes. */
  | 'too-many-probes';

/** One field of a request that is wrong: `path` as the API server prints it (`sources[0].text`). */
export interface RequestIssue {
  readonly path: string;
  readonly message: string;
}

/** A request the daemon refuses as it stands: the client's fault (exit 1), never logged as a lab failure. */
export class LabRequestError extends Error {
  override readonly name = 'LabRequestError';
  constructor(
    readonly code: LabRequestErrorCode,
    message: string,
    readonly issues: readonly RequestIssue[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** `['sources', 0, 'text']` → `sources[0].text`. */
function fieldPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

function issuesOf(error: z.ZodError): RequestIssue[] {
  return error.issues.map((i) => ({
    path: fieldPath(i.path),
    message: i.message
      .replace(/^Invalid (input|option): /, '')
      .replace(/^expected (.+), received undefined$/, 'missing (expected $1)'),
  }));
}

function safeParseJson<T>(text: string, schema: z.ZodType<T>, what: string): Outcome<T, LabRequestError> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return failure(
      new LabRequestError(
        'not-json',
        `${what}: not JSON: ${e instanceof Error ? e.message : String(e)}`,
        [],
        {
          cause: e,
        },
      ),
    );
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return success(parsed.data);
  const issues = issuesOf(parsed.error);
  const text_ = issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('; ');
  return failure(new LabRequestError('invalid', `${what}: ${text_}`, issues, { cause: parsed.error }));
}

/** A request read off the socket, checked against the schema; the error names every wrong field. */
export function safeParseRequest(text: string): Outcome<LabRequest, LabRequestError> {
  return safeParseJson(text, LabRequestSchema, 'bad request');
}

/** The build request `lab up` writes on the daemon's stdin. */
export function safeParseUpRequest(text: string): Outcome<UpRequest, LabRequestError> {
  return safeParseJson(text, UpRequestSchema, 'bad build request');
}

const DiagnosticSchema = z.custom<Diagnostic>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Record<string, unknown>)['code'] === 'string' &&
    typeof (v as Record<string, unknown>)['message'] === 'string',
);

/** The envelope of every answer; the value itself is the daemon's, of the same build, and not re-checked. */
const LabResponseSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), value: z.unknown() }),
  z.object({
    ok: z.literal(false),
    error: z.string(),
    kind: z.enum(['usage', 'internal']),
    diagnostics: z.array(DiagnosticSchema).optional(),
  }),
]);

/** A daemon's answer: an error naming what is wrong when it is not a response at all. */
export function safeParseResponse<T>(text: string): Outcome<LabResponse<T>, Error> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return failure(new Error('the daemon closed the connection without an answer', { cause: e }));
  }
  const parsed = LabResponseSchema.safeParse(value);
  if (!parsed.success) {
    const why = issuesOf(parsed.error)
      .map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`))
      .join('; ');
    return failure(new Error(`the daemon's answer is malformed: ${why}`, { cause: parsed.error }));
  }
  return success(parsed.data as LabResponse<T>);
}
