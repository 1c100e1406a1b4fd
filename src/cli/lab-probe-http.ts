/**
 * `palisade lab probe --http 'METHOD /path?query' [-H 'Name: value']...`: the request from every pod to
 * every pod on each TCP target, sent for real by the lab's daemon (lab/http-probe.ts), printed exactly as
 * `analyze matrix --http` prints its computed cells, so the two outputs can be diffed.
 *
 * The request of each destination is built here with the same function as `analyze matrix --http`
 * (http-request.ts: `Host` defaults to the destination pod's IP, which the lab's status gives). Sources
 * go to the daemon in groups, so that a long run reports its progress on stderr.
 */
import type { HttpRequest } from '../engine/index.js';
import type { Protocol } from '../ir/index.js';
import type { HttpMeasuredMatrix } from '../lab/http-probe.js';
import { mergeHttpMatrices } from '../lab/http-probe.js';
import { HTTP_CONCURRENCY, MAX_HTTP_REQUESTS } from '../lab/daemon/protocol.js';
import { UsageError } from './exit-codes.js';
import { formatMatrixJson, formatMatrixTables } from './format-matrix.js';
import { httpRequestOf } from './http-request.js';
import { TIMEOUTS, request } from './lab-common.js';

export interface HttpProbeOptions {
  readonly id: string;
  readonly http: string;
  readonly headers: readonly string[];
  readonly ports?: readonly number[];
  readonly protocols?: readonly Protocol[];
  readonly from: readonly string[];
  readonly to: readonly string[];
  readonly output: string;
  readonly timeoutMs: number;
}

/** Cells per request to the daemon: a group of sources takes about this many, so progress moves. */
const CELLS_PER_GROUP = 256;

/** Consecutive groups of `sources`, each with about `perGroup` cells to `dests` destinations. */
export function sourceGroups<T>(sources: readonly T[], dests: number, perGroup: number): T[][] {
  const size = Math.max(1, Math.floor(perGroup / Math.max(1, dests)));
  const out: T[][] = [];
  for (let i = 0; i < sources.length; i += size) out.push(sources.slice(i, i + size));
  return out;
}

/** The cells as `analyze matrix --http` prints them: nothing but the contract's fields and the response. */
export function asAnalyzed(m: HttpMeasuredMatrix) {
  return {
    pods: m.pods,
    results: m.results.map(({ from, to, port, protocol, allowed, response }) => ({
      from,
      to,
      port,
      protocol,
      allowed,
      response,
    })),
  };
}

export async function probeHttp(opts: HttpProbeOptions): Promise<void> {
  httpRequestOf(opts.http, opts.headers, { kind: 'ip', ip: '0.0.0.0' }); // usage errors first
  const status = await request(opts.id, { op: 'status' }, TIMEOUTS.status, opts.output);
  const byKey = new Map(status.pods.map((p) => [p.pod, p]));
  for (const key of [...opts.from, ...opts.to]) {
    if (!byKey.has(key)) {
      const known = [...byKey.keys()].sort().join(', ');
      // The daemon would refuse it too; said here, before any request is sent.
      throw new UsageError(`lab ${opts.id} has no pod ${key}; its pods: ${known}`);
    }
  }
  const order = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  const sorted = [...byKey.keys()].sort((a, b) => {
    const [an = '', bn = ''] = [a.split('/')[0], b.split('/')[0]];
    return order(an, bn) || order(a, b);
  });
  const dests = opts.to.length > 0 ? sorted.filter((k) => opts.to.includes(k)) : sorted;
  const sources = opts.from.length > 0 ? sorted.filter((k) => opts.from.includes(k)) : sorted;
  const requests: Record<string, HttpRequest> = {};
  for (const key of dests) {
    const ip = byKey.get(key)?.ip;
    requests[key] = httpRequestOf(opts.http, opts.headers, { kind: 'ip', ip: ip ?? '' });
  }

  const groups = sourceGroups(sources, dests.length, CELLS_PER_GROUP);
  // Each group: at most MAX_HTTP_REQUESTS requests, HTTP_CONCURRENCY at a time, a timeout plus its
  // second look each, plus a minute for the rest.
  const bound = Math.ceil(MAX_HTTP_REQUESTS / HTTP_CONCURRENCY) * 2 * opts.timeoutMs + 60_000;
  const started = Date.now();
  const parts: HttpMeasuredMatrix[] = [];
  for (const [i, group] of groups.entries()) {
    parts.push(
      await request(
        opts.id,
        {
          op: 'probe-http',
          timeoutMs: opts.timeoutMs,
          requests,
          from: group,
          ...(opts.to.length === 0 ? {} : { to: opts.to }),
          ...(opts.ports === undefined ? {} : { ports: opts.ports }),
          ...(opts.protocols === undefined ? {} : { protocols: opts.protocols }),
        },
        bound,
        opts.output,
      ),
    );
    if (groups.length > 1) {
      const done = groups.slice(0, i + 1).reduce((n, g) => n + g.length, 0);
      const s = ((Date.now() - started) / 1000).toFixed(1);
      process.stderr.write(`lab probe --http: ${done}/${sources.length} source pods in ${s}s\n`);
    }
  }
  const matrix = mergeHttpMatrices(parts);
  const printed = asAnalyzed(matrix);
  process.stdout.write(opts.output === 'json' ? formatMatrixJson(printed) : formatMatrixTables(printed));
  const errors = matrix.results.filter((r) => r.response === 'error');
  if (errors.length > 0) {
    const lines = errors.map((r) => `  ${r.protocol}/${r.port} ${r.from} -> ${r.to}: ${r.error ?? 'error'}`);
    throw new Error(`${errors.length} request(s) got an answer that is not the lab's:\n${lines.join('\n')}`);
  }
}
