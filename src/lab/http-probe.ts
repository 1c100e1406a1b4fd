/**
 * `lab probe --http`: one HTTP request from every pod to every pod on each TCP target, sent with curl in
 * the client pod's netns, and what the client observed, in the vocabulary and the cell order of
 * `analyze matrix --http` (engine/l7.ts computeHttpMatrix), so the two can be compared cell by cell.
 *
 * HTTP/1.1, or HTTP/2 with prior knowledge for a gRPC call (`content-type: application/grpc…`), which
 * carries one empty message. curl sends exactly the request's header fields: its own User-Agent and
 * Accept are left out unless the request has them, so a header rule sees what the analyzer saw.
 */
import type { HttpRequest, L7Response } from '../engine/index.js';
import type { Protocol } from '../ir/endpoint.js';
import { run } from '../util/process.js';
import type { RunResult } from '../util/process.js';
import { POD_HEADER, isGrpcContentType } from './echo-server.js';
import { mapLimit } from './netns.js';
import type { MatrixTarget } from './probe.js';
import type { PlannedPod } from './topology.js';

/** What a cell observed; `error`: something answered that should not have (see `error` of the entry). */
export type HttpObserved = L7Response | 'error';

/** One cell: the analyzer's matrix cell (`allowed` = forwarded) plus what the client observed. */
export interface HttpMeasuredEntry {
  readonly from: string;
  readonly to: string;
  readonly port: number;
  readonly protocol: Protocol;
  readonly allowed: boolean;
  readonly response: HttpObserved;
  /** Why the cell is `error` (e.g. another pod answered, curl failed in an unexpected way). */
  readonly error?: string;
}

export interface HttpMeasuredMatrix {
  readonly pods: string[];
  readonly results: HttpMeasuredEntry[];
}

/** What curl reported: its exit code, the status and the header fields (trailers included). */
export interface HttpObservation {
  readonly exitCode: number;
  /** 0 when no answer came. */
  readonly status: number;
  /** Names in lower case; a repeated field keeps its last value (a trailer wins over a header). */
  readonly headers: Readonly<Record<string, string>>;
  /** curl's own message on stderr, for errors. */
  readonly message?: string;
}

export type HttpClassification = { readonly response: L7Response } | { readonly error: string };

/** curl's exit codes for "connection refused, reset or closed without an answer" (curl(1) EXIT CODES). */
const RESET_EXITS = new Set([
  7, // failed to connect: refused (a reject rule's RST or ICMP)
  16, // HTTP/2 framing layer error (the peer tore the session down)
  52, // empty reply: closed without an answer
  55, // failed sending: reset while sending
  56, // failure receiving: reset
  92, // HTTP/2 stream error (RST_STREAM)
]);
/** Operation timed out. */
const TIMEOUT_EXIT = 28;

/**
 * What the client observed, from curl's report:
 * - `forwarded`: the destination pod's echo server answered (it names itself in POD_HEADER); another
 *   pod's answer is an error, never a pass;
 * - `grpc:N`: a gRPC call answered with a non-zero grpc-status (in the headers or the trailers);
 * - `http:NNN`: any other HTTP answer (a proxy's 403);
 * - `reset`: refused, reset, or closed without an answer; `dropped`: no answer within the timeout.
 */
export function classifyHttp(obs: HttpObservation, destination: string, grpc: boolean): HttpClassification {
  if (obs.exitCode === TIMEOUT_EXIT) return { response: 'dropped' };
  if (RESET_EXITS.has(obs.exitCode)) return { response: 'reset' };
  if (obs.exitCode !== 0 || obs.status === 0) {
    const why = obs.message?.trim();
    return { error: `curl exited with ${obs.exitCode}${why ? `: ${why}` : ''}` };
  }
  const pod = obs.headers[POD_HEADER];
  const grpcStatus = obs.headers['grpc-status'];
  const grpcFailed = grpc && grpcStatus !== undefined && grpcStatus.trim() !== '0';
  if (pod !== undefined && pod !== destination) return { error: `answered by ${pod}, not by ${destination}` };
  if (grpcFailed) {
    const n = Number(grpcStatus);
    if (!Number.isInteger(n) || n < 0) return { error: `grpc-status "${grpcStatus}" is not a status code` };
    return { response: `grpc:${n}` };
  }
  if (pod !== undefined) return { response: 'forwarded' };
  return { response: `http:${obs.status}` };
}

/** Marks the status code at the end of curl's output (`-w`), after the header dump (`-D -`). */
const STATUS_MARK = '\npal-http-status:';

/** The status and header fields out of curl's `-D - -w STATUS_MARK%{http_code}` output. */
export function parseCurlReport(stdout: string): { status: number; headers: Record<string, string> } {
  const at = stdout.lastIndexOf(STATUS_MARK);
  const status = at < 0 ? 0 : Number(stdout.slice(at + STATUS_MARK.length).trim()) || 0;
  const headers: Record<string, string> = {};
  for (const line of (at < 0 ? stdout : stdout.slice(0, at)).split(/\r?\n/)) {
    const colon = line.indexOf(':');
    // status lines (`HTTP/1.1 200 OK`) and blank lines have no field name before a colon
    if (colon <= 0 || line.startsWith('HTTP/')) continue;
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers };
}

/** One empty gRPC message: not compressed, length 0 (grpc PROTOCOL-HTTP2.md, Length-Prefixed-Message). */
const EMPTY_GRPC_MESSAGE = '\0\0\0\0\0';

export function isGrpcRequest(req: HttpRequest): boolean {
  const ct = Object.entries(req.headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1];
  return isGrpcContentType(ct);
}

/** curl's argv for `req` to ip:port, and its stdin (the gRPC message). */
export function curlCommand(
  req: HttpRequest,
  ip: string,
  port: number,
  timeoutMs: number,
): { argv: string[]; input: string } {
  const grpc = isGrpcRequest(req);
  const has = (name: string): boolean => Object.keys(req.headers).some((k) => k.toLowerCase() === name);
  const argv = [
    'curl',
    '--silent',
    '--show-error',
    '--path-as-is',
    '--globoff',
    '--output',
    '/dev/null',
    '--dump-header',
    '-',
    '--write-out',
    `${STATUS_MARK}%{http_code}`,
    '--max-time',
    (timeoutMs / 1000).toFixed(3),
    grpc ? '--http2-prior-knowledge' : '--http1.1',
    // curl's defaults would be fields the analyzer never saw: `Name:` removes one.
    ...(has('user-agent') ? [] : ['--header', 'User-Agent:']),
    ...(has('accept') ? [] : ['--header', 'Accept:']),
    ...(req.method === 'HEAD' ? ['--head'] : ['--request', req.method]),
    // `Name;` is curl's way to send a field with an empty value (`Name:` would remove it).
    ...Object.entries(req.headers).flatMap(([k, v]) => ['--header', v === '' ? `${k};` : `${k}: ${v}`]),
    ...(grpc ? ['--data-binary', '@-'] : []),
    `http://${ip.includes(':') ? `[${ip}]` : ip}:${port}${req.path}`,
  ];
  return { argv, input: grpc ? EMPTY_GRPC_MESSAGE : '' };
}

/** Runs argv inside `netns` with `input` on stdin; the lab's default runs `ip netns exec … curl`. */
export type HttpSender = (netns: string, argv: readonly string[], input: string) => Promise<RunResult>;

const SLACK_MS = 5000;

export const curlInNetns: HttpSender = (netns, argv, input) =>
  // curl keeps its own --max-time; the runner's deadline only catches a curl that hangs anyway.
  run(argv, { netns, input, timeoutMs: 60_000 + SLACK_MS });

/**
 * One request from a netns to `ip:port`, classified for the pod `destination` (a timeout is looked at
 * once more, with `confirmMs`, before it counts as dropped: under load one proves nothing).
 */
export async function probeHttpOnce(
  netns: string,
  req: HttpRequest,
  to: { readonly key: string; readonly ip: string; readonly port: number },
  opts: { readonly timeoutMs: number; readonly confirmMs?: number; readonly send?: HttpSender },
): Promise<HttpClassification> {
  const send = opts.send ?? curlInNetns;
  const grpc = isGrpcRequest(req);
  const once = async (ms: number): Promise<HttpClassification> => {
    const cmd = curlCommand(req, to.ip, to.port, ms);
    const r = await send(netns, cmd.argv, cmd.input);
    const report = parseCurlReport(r.stdout);
    return classifyHttp({ exitCode: r.code, ...report, message: r.stderr }, to.key, grpc);
  };
  const c = await once(opts.timeoutMs);
  return 'response' in c && c.response === 'dropped' ? once(opts.confirmMs ?? opts.timeoutMs) : c;
}

/** What probeHttpMatrix needs of a lab; a running Lab is one. */
export interface HttpProbeableLab {
  readonly pods: readonly Pick<PlannedPod, 'key' | 'namespace' | 'name' | 'netns' | 'ip'>[];
}

export interface HttpProbeOptions {
  /** How long a request waits for an answer. */
  readonly timeoutMs: number;
  /** A request that timed out is sent once more with this timeout before it counts as dropped; default timeoutMs. */
  readonly confirmMs?: number;
  /** Requests in flight at once (each is a curl process). */
  readonly concurrency: number;
  /** Pod keys to send from; default all. */
  readonly from?: readonly string[];
  /** Pod keys to send to; default all. */
  readonly to?: readonly string[];
  /** Upper bound on the number of requests; default 100,000. */
  readonly maxRequests?: number;
  readonly send?: HttpSender;
  /** Called after each cell with the number done and the total. */
  readonly onProgress?: (done: number, total: number) => void;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Sends `requestFor(destination)` on every TCP target from every source to every destination (self
 * included), ordered by target, then source, then destination, pods sorted by namespace then name: the
 * order of `analyze matrix --http`.
 */
export async function probeHttpMatrix(
  lab: HttpProbeableLab,
  targets: readonly MatrixTarget[],
  requestFor: (dst: { readonly key: string; readonly ip: string }) => HttpRequest,
  opts: HttpProbeOptions,
): Promise<HttpMeasuredMatrix> {
  const sorted = [...lab.pods].sort(
    (a, b) => compareText(a.namespace, b.namespace) || compareText(a.name, b.name),
  );
  const known = new Set(sorted.map((p) => p.key));
  for (const key of [...(opts.from ?? []), ...(opts.to ?? [])])
    if (!known.has(key)) throw new Error(`probeHttpMatrix: no pod ${key} in the lab`);
  const pick = (keys: readonly string[] | undefined) =>
    keys === undefined ? sorted : sorted.filter((p) => keys.includes(p.key));
  const sources = pick(opts.from);
  const dests = pick(opts.to);
  const listed = new Set([...sources, ...dests].map((p) => p.key));
  const tcp = targets.filter((t) => t.protocol === 'TCP');
  const jobs = tcp.flatMap((t) => sources.flatMap((from) => dests.map((to) => ({ t, from, to }))));
  const max = opts.maxRequests ?? 100_000;
  if (jobs.length > max) throw new Error(`probeHttpMatrix: ${jobs.length} requests exceed ${max}`);
  const requests = new Map(dests.map((d) => [d.key, requestFor(d)]));

  let done = 0;
  const results = await mapLimit(jobs, opts.concurrency, async ({ t, from, to }) => {
    const req = requests.get(to.key) ?? requestFor(to);
    const c = await probeHttpOnce(from.netns, req, { key: to.key, ip: to.ip, port: t.port }, opts);
    opts.onProgress?.(++done, jobs.length);
    const cell = { from: from.key, to: to.key, port: t.port, protocol: t.protocol };
    return 'error' in c
      ? { ...cell, allowed: false, response: 'error' as const, error: c.error }
      : { ...cell, allowed: c.response === 'forwarded', response: c.response };
  });
  return { pods: sorted.map((p) => p.key).filter((k) => listed.has(k)), results };
}

/** A pod key's sort key: namespace, then name (a namespace has no `/`). */
function podOrder(a: string, b: string): number {
  const [an = '', ...ar] = a.split('/');
  const [bn = '', ...br] = b.split('/');
  return compareText(an, bn) || compareText(ar.join('/'), br.join('/'));
}

/**
 * Matrices measured for consecutive groups of sources (in pod order), as one: per target, the groups'
 * cells in group order, which is the order of a single measurement over all sources.
 */
export function mergeHttpMatrices(parts: readonly HttpMeasuredMatrix[]): HttpMeasuredMatrix {
  const pods = [...new Set(parts.flatMap((p) => p.pods))].sort(podOrder);
  const targetKeys: string[] = [];
  const byTarget = new Map<string, HttpMeasuredEntry[]>();
  for (const part of parts) {
    for (const r of part.results) {
      const key = `${r.protocol}/${r.port}`;
      let cells = byTarget.get(key);
      if (cells === undefined) {
        byTarget.set(key, (cells = []));
        targetKeys.push(key);
      }
      cells.push(r);
    }
  }
  return { pods, results: targetKeys.flatMap((k) => byTarget.get(k) ?? []) };
}
