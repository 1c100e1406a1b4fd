/**
 * TCP throughput: one iperf3 stream from a client pod to the server pod for a fixed time. Only the first
 * packet of the connection walks the policy (the rest are conntrack-established), so this measures the
 * datapath's per-packet base cost (conntrack, dispatch), not the rule count.
 */
import { IPERF_PORT } from './rules.js';
import { CommandError, inNetns, run } from '../../util/process.js';

export interface ThroughputOptions {
  readonly iperf3: string;
  readonly clientNetns: string;
  readonly serverIp: string;
  readonly seconds: number;
}

interface IperfJson {
  readonly error?: string;
  readonly end?: { readonly sum_received?: { readonly bits_per_second?: number } };
}

/** Received bits per second, in Gbit/s. */
export async function measureThroughput(opts: ThroughputOptions): Promise<number> {
  const argv = inNetns(opts.clientNetns, [
    opts.iperf3,
    '-c',
    opts.serverIp,
    '-p',
    String(IPERF_PORT),
    '-t',
    String(opts.seconds),
    '-J',
  ]);
  // The cap: the run itself, plus connection setup and the end-of-test exchange.
  const r = await run(argv, { timeoutMs: opts.seconds * 1000 + 15_000 });
  let parsed: IperfJson;
  try {
    parsed = JSON.parse(r.stdout) as IperfJson;
  } catch {
    throw new CommandError(argv, r.timedOut ? 'timed out' : `exited with ${r.code}`, r.stderr + r.stdout);
  }
  const bps = parsed.end?.sum_received?.bits_per_second;
  if (parsed.error !== undefined || bps === undefined || r.code !== 0) {
    throw new CommandError(argv, parsed.error ?? `exited with ${r.code}`, r.stderr);
  }
  return bps / 1e9;
}
