/**
 * New-connection rate: short HTTP requests, each on a new TCP connection (nginx has keep-alive off, ab
 * speaks HTTP/1.0 without -k, hey runs with -disable-keepalive), for a fixed time at a fixed
 * concurrency. Every request's SYN is a new flow that walks the policy, so this is where a per-rule cost
 * shows (Qi et al. 2021 and Kim et al. 2025 §V measure the same way).
 */
import type { HttpClient } from './tools.js';
import { HTTP_PATH } from './servers.js';
import { HTTP_PORT } from './rules.js';
import { CommandError, inNetns, run } from '../../util/process.js';

export interface ConnRateOptions {
  readonly client: { readonly kind: HttpClient; readonly path: string };
  readonly clientNetns: string;
  readonly serverIp: string;
  readonly seconds: number;
  readonly concurrency: number;
}

export interface ConnRate {
  /** Completed requests (= connections) per second. */
  readonly perSecond: number;
  readonly completed: number;
  readonly failed: number;
}

/** ab's summary → rate; exported for tests. */
export function parseAb(text: string): ConnRate | undefined {
  const rate = /^Requests per second:\s+([\d.]+)/m.exec(text)?.[1];
  const completed = /^Complete requests:\s+(\d+)/m.exec(text)?.[1];
  const failed = /^Failed requests:\s+(\d+)/m.exec(text)?.[1];
  if (rate === undefined || completed === undefined) return undefined;
  return { perSecond: Number(rate), completed: Number(completed), failed: Number(failed ?? 0) };
}

/** hey's summary → rate; exported for tests. */
export function parseHey(text: string): ConnRate | undefined {
  const rate = /^\s*Requests\/sec:\s+([\d.]+)/m.exec(text)?.[1];
  if (rate === undefined) return undefined;
  const codes = [...text.matchAll(/^\s*\[(\d{3})\]\s+(\d+) responses/gm)];
  const ok = codes.filter((m) => m[1] === '200').reduce((s, m) => s + Number(m[2]), 0);
  const bad = codes.filter((m) => m[1] !== '200').reduce((s, m) => s + Number(m[2]), 0);
  const errors = [...text.matchAll(/^\s*\[(\d+)\]\s+Get .*$/gm)].reduce((s, m) => s + Number(m[1]), 0);
  return { perSecond: Number(rate), completed: ok, failed: bad + errors };
}

export async function measureConnRate(opts: ConnRateOptions): Promise<ConnRate> {
  const url = `http://${opts.serverIp}:${HTTP_PORT}${HTTP_PATH}`;
  const c = String(opts.concurrency);
  const tool =
    opts.client.kind === 'ab'
      ? // -t before -n: -t alone caps at 50,000 requests, which a fast run would hit before the time.
        // -r: a reset connection is counted as failed instead of ending the run. -s: per-request timeout.
        [opts.client.path, '-q', '-r', '-s', '5', '-t', String(opts.seconds), '-n', '10000000', '-c', c, url]
      : [opts.client.path, '-z', `${opts.seconds}s`, '-c', c, '-t', '5', '-disable-keepalive', url];
  const argv = inNetns(opts.clientNetns, tool);
  const r = await run(argv, { timeoutMs: opts.seconds * 1000 + 15_000 });
  const parsed = opts.client.kind === 'ab' ? parseAb(r.stdout) : parseHey(r.stdout);
  if (parsed === undefined || (r.code !== 0 && opts.client.kind === 'ab')) {
    throw new CommandError(argv, r.timedOut ? 'timed out' : `exited with ${r.code}`, r.stderr + r.stdout);
  }
  if (parsed.completed === 0) throw new CommandError(argv, 'no request completed', r.stdout);
  return parsed;
}
