/**
 * Probing for `bench sync`: "until the first success" and "until refused again", from inside a pod's
 * netns with the lab's probe process. As clusterloader2's test clients do (they send requests to every
 * target until the first one that does not fail, and take the time of that response), the first success
 * is timed when its answer arrives. Probes are started every `intervalMs` without waiting for the one
 * before: a SYN dropped just before the allow lands would otherwise only be retransmitted a second later,
 * and that second would be counted as enforcement latency.
 */
import { performance } from 'node:perf_hooks';
import type { Prober } from '../probe.js';

export interface ProbeTarget {
  /** Netns the probe is sent from. */
  readonly netns: string;
  readonly ip: string;
  readonly port: number;
  /** What the destination's server answers (its pod key): any other answer is not a success. */
  readonly expect: string;
}

export interface ProbeLoopOptions {
  readonly intervalMs: number;
  /** Each probe's own timeout; at most ceil(probeTimeoutMs / intervalMs) probes are in flight. */
  readonly probeTimeoutMs: number;
  /** performance.now() after which no probe is started and no success counts. */
  readonly deadline: number;
  readonly signal?: AbortSignal;
  /**
   * Counts every probe's outcome by kind (`ok`, `ok-other` for an answer from someone else or none,
   * `timeout`, `refused`, `error`): what an incident reports.
   */
  readonly tally?: Record<string, number>;
}

function count(opts: ProbeLoopOptions, kind: string): void {
  if (opts.tally !== undefined) opts.tally[kind] = (opts.tally[kind] ?? 0) + 1;
}

/** `12 timeout, 3 ok-other` */
export function tallyText(tally: Readonly<Record<string, number>>): string {
  const parts = Object.entries(tally).map(([k, n]) => `${n} ${k}`);
  return parts.length === 0 ? 'no probe answered' : parts.join(', ');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** performance.now() when the first successful answer arrived, or undefined if none by the deadline. */
export async function firstSuccess(
  prober: Prober,
  target: ProbeTarget,
  opts: ProbeLoopOptions,
): Promise<number | undefined> {
  let found: number | undefined;
  const inflight = new Set<Promise<void>>();
  let next = performance.now();
  while (found === undefined && performance.now() < opts.deadline) {
    opts.signal?.throwIfAborted();
    const p: Promise<void> = prober
      .probe({
        netns: target.netns,
        ip: target.ip,
        port: target.port,
        protocol: 'TCP',
        timeoutMs: opts.probeTimeoutMs,
      })
      .then(
        (out) => {
          const at = performance.now();
          const success = out.result === 'ok' && out.reply === target.expect;
          count(opts, success ? 'ok' : out.result === 'ok' ? 'ok-other' : out.result);
          if (success && found === undefined) found = at;
        },
        () => count(opts, 'error'),
      )
      .finally(() => inflight.delete(p));
    inflight.add(p);
    next += opts.intervalMs;
    await sleep(next - performance.now());
  }
  await Promise.all([...inflight]);
  return found !== undefined && found <= opts.deadline ? found : undefined;
}

/** Whether a probe fails (dropped or refused) before the deadline: the allow is gone from the kernel. */
export async function untilBlocked(
  prober: Prober,
  target: ProbeTarget,
  opts: ProbeLoopOptions,
): Promise<boolean> {
  while (performance.now() < opts.deadline) {
    opts.signal?.throwIfAborted();
    const out = await prober.probe({
      netns: target.netns,
      ip: target.ip,
      port: target.port,
      protocol: 'TCP',
      timeoutMs: opts.probeTimeoutMs,
    });
    if (out.result !== 'ok') return true;
    await sleep(opts.intervalMs);
  }
  return false;
}
