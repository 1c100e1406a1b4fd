import type { Command } from 'commander';
import type { Protocol } from '../ir/index.js';
import { MAX_PROBES, PROBE_CONCURRENCY } from '../lab/daemon/protocol.js';
import { collect } from './collect.js';
import { UsageError } from './exit-codes.js';
import { probeHttp } from './lab-probe-http.js';
import { formatMatrixJson, formatMatrixTables } from './format-matrix.js';
import { addIdOption, parseTimeoutMs, request } from './lab-common.js';
import { parseOutputFormat } from './output-format.js';
import { parsePorts, parseProtocols } from './targets.js';

interface ProbeOptions {
  ports?: number[];
  protocols?: Protocol[];
  from: string[];
  to: string[];
  output: string;
  timeoutMs: number;
  id: string;
  http?: string;
  header: string[];
}

/** `--from a/x,b/y --from c/z`: every pod key given, in order. */
function pods(flag: string) {
  return (value: string, previous: string[]): string[] => {
    const keys = value.split(',').map((s) => s.trim());
    for (const k of keys) {
      if (!/^[^/\s]+\/[^/\s]+$/.test(k)) throw new UsageError(`${flag} ${k}: expected NAMESPACE/POD`);
    }
    return [...previous, ...keys];
  };
}

export function registerLabProbe(lab: Command): void {
  addIdOption(
    lab
      .command('probe')
      .description(
        'send real TCP/UDP/SCTP traffic between every ordered pair of pods and print the measured matrix ' +
          '(the format of analyze matrix; JSON adds result and self)',
      )
      .option(
        '--ports <list>',
        'ports to probe, comma-separated (default: declared containerPorts)',
        parsePorts,
      )
      .option('--protocols <list>', 'protocols to probe: tcp,udp,sctp', parseProtocols)
      .option(
        '--from <pods>',
        'only from these pods (NS/POD, comma-separated or repeated)',
        pods('--from'),
        [],
      )
      .option('--to <pods>', 'only to these pods (NS/POD, comma-separated or repeated)', pods('--to'), [])
      .option(
        '-o, --output <format>',
        'table or json',
        (v) => parseOutputFormat(v, ['table', 'json']),
        'table',
      )
      .option('--timeout-ms <ms>', 'how long a probe waits for an answer', parseTimeoutMs, 1000)
      .option(
        '--http <request>',
        "send one HTTP request, 'METHOD /path?query', on every pair and TCP port (curl in the client " +
          'pod; HTTP/2 for gRPC) and print what each client observed, as analyze matrix --http does',
      )
      .option(
        '-H, --header <header>',
        "request header 'Name: value' (repeatable; Host defaults to each destination's IP)",
        collect,
        [],
      ),
  ).action(async (opts: ProbeOptions) => {
    if (opts.http === undefined && opts.header.length > 0) throw new UsageError('-H needs --http');
    if (opts.http !== undefined) {
      await probeHttp({
        id: opts.id,
        http: opts.http,
        headers: opts.header,
        from: opts.from,
        to: opts.to,
        output: opts.output,
        timeoutMs: opts.timeoutMs,
        ...(opts.ports === undefined ? {} : { ports: opts.ports }),
        ...(opts.protocols === undefined ? {} : { protocols: opts.protocols }),
      });
      return;
    }
    // The daemon refuses more than MAX_PROBES, all in flight PROBE_CONCURRENCY at a time: that bounds
    // the wait, plus a minute for the rest.
    const bound = Math.ceil(MAX_PROBES / PROBE_CONCURRENCY) * opts.timeoutMs + 60_000;
    const matrix = await request(
      opts.id,
      {
        op: 'probe',
        timeoutMs: opts.timeoutMs,
        ...(opts.ports === undefined ? {} : { ports: opts.ports }),
        ...(opts.protocols === undefined ? {} : { protocols: opts.protocols }),
        ...(opts.from.length === 0 ? {} : { from: opts.from }),
        ...(opts.to.length === 0 ? {} : { to: opts.to }),
      },
      bound,
      opts.output,
    );
    process.stdout.write(opts.output === 'json' ? formatMatrixJson(matrix) : formatMatrixTables(matrix));
  });
}
