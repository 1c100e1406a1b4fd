/**
 * First-packet latency: the time to TCP-connect a fresh connection, p50 over a bounded sequential loop.
 *
 * Why this method: the first packet of a connection (the SYN) is the one that walks the policy; every
 * later packet is conntrack-established. A connect completes when the SYN-ACK is back, so its time is one
 * round trip that contains exactly one policy walk (the SYN's) plus the reply's established fast path.
 * Connections run one at a time, so no queueing inflates them; the median, not the mean, so that a
 * scheduling hiccup of the busy 2-core box does not move the figure. The loop runs in a Node process of
 * its own inside the client netns (connect-child.ts); its event-loop overhead (tens of µs) is the same for
 * every datapath and cancels in the ratios. A few warm-up connections are dropped first.
 */
import { fileURLToPath } from 'node:url';
import { HTTP_PORT } from './rules.js';
import { percentile } from './stats.js';
import { CommandError, inNetns, run } from '../../util/process.js';

export interface LatencyOptions {
  readonly clientNetns: string;
  readonly serverIp: string;
  /** Connections measured (after the warm-up). */
  readonly count: number;
  /** Upper bound on the loop's time. */
  readonly capMs: number;
}

export interface Latency {
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly samples: number;
}

const WARMUP = 5;

export async function measureLatency(opts: LatencyOptions): Promise<Latency> {
  const child = fileURLToPath(new URL('./connect-child.js', import.meta.url));
  const total = opts.count + WARMUP;
  const argv = inNetns(opts.clientNetns, [
    process.execPath,
    child,
    opts.serverIp,
    String(HTTP_PORT),
    String(total),
    String(opts.capMs),
  ]);
  const r = await run(argv, { timeoutMs: opts.capMs + 10_000 });
  let times: number[];
  try {
    times = (JSON.parse(r.stdout) as number[]).slice(WARMUP);
  } catch {
    throw new CommandError(argv, r.timedOut ? 'timed out' : `exited with ${r.code}`, r.stderr);
  }
  if (r.code !== 0 || times.length === 0) {
    throw new CommandError(argv, 'no connection measured', r.stderr);
  }
  const ms = (p: number) => Math.round(percentile(times, p) ?? NaN) / 1000;
  return { p50Ms: ms(50), p90Ms: ms(90), samples: times.length };
}

/**
 * Whether a connect from `clientNetns` is dropped (times out within `waitMs`): the check that a rule set is
 * really enforced, so a fast figure can never come from a policy that silently allows everything.
 */
export async function connectDropped(
  opts: Pick<LatencyOptions, 'clientNetns' | 'serverIp'> & { readonly waitMs: number },
): Promise<boolean> {
  const child = fileURLToPath(new URL('./connect-child.js', import.meta.url));
  const argv = inNetns(opts.clientNetns, [
    process.execPath,
    child,
    opts.serverIp,
    String(HTTP_PORT),
    '1',
    String(opts.waitMs),
  ]);
  const r = await run(argv, { timeoutMs: opts.waitMs + 10_000 });
  return r.code !== 0 && /timed out/.test(r.stderr);
}
