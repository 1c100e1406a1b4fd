import type { Command } from 'commander';
import { etcdMissing } from '../lab/bench/etcd-server.js';
import type { DatastoreKind } from '../lab/bench/sync.js';
import { DATASTORE_KINDS, benchSync } from '../lab/bench/sync.js';
import { formatSyncTable } from '../lab/bench/sync-report.js';
import { netnsSupport } from '../lab/netns.js';
import { UsageError } from './exit-codes.js';
import { parseOutputFormat } from './output-format.js';

interface BenchSyncOptions {
  datastores: DatastoreKind[];
  samples: number;
  loadPolicies: number;
  loadRate: number;
  nodes: number;
  pods: number;
  timeout: number;
  output: string;
  progress: boolean;
  strict: boolean;
  diagnostics?: string;
}

function wholeNumber(flag: string, min: number, max: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^[0-9]+$/.test(text.trim()) || n < min || n > max) {
      throw new UsageError(`${flag}: "${text}" is not a whole number between ${min} and ${max}`);
    }
    return n;
  };
}

function parseRate(text: string): number {
  const n = Number(text);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text.trim()) || n < 0.1 || n > 1000) {
    throw new UsageError(`--load-rate: "${text}" is not a rate between 0.1 and 1000 per second`);
  }
  return n;
}

export function parseDatastores(text: string): DatastoreKind[] {
  const kinds = text.split(',').map((s) => s.trim());
  for (const k of kinds) {
    if (!(DATASTORE_KINDS as readonly string[]).includes(k)) {
      throw new UsageError(`--datastores: "${k}" is not one of ${DATASTORE_KINDS.join(', ')}`);
    }
  }
  return [...new Set(kinds as DatastoreKind[])];
}

export function registerBenchSync(bench: Command): void {
  bench
    .command('sync')
    .description(
      'network-policy enforcement latency as clusterloader2 defines it: allow policy written -> first ' +
        'successful probe while load policies are written, and new pod -> first successful probe; ' +
        'p50/p90/p99 per datastore (root; etcd from apt-get install etcd-server)',
    )
    .option('--datastores <list>', 'dir,etcd', parseDatastores, [...DATASTORE_KINDS])
    .option('--samples <n>', 'measured steps per datastore', wholeNumber('--samples', 1, 200), 30)
    .option(
      '--load-policies <n>',
      'load policies written during the samples',
      wholeNumber('--load-policies', 0, 10_000),
      1000,
    )
    .option('--load-rate <r>', 'load policies written per second', parseRate, 10)
    .option('--nodes <n>', 'lab nodes', wholeNumber('--nodes', 1, 16), 2)
    .option('--pods <n>', 'target pods', wholeNumber('--pods', 1, 200), 20)
    .option(
      '--timeout <ms>',
      'bound of each sample (and of agents getting ready)',
      wholeNumber('--timeout', 1000, 600_000),
      10_000,
    )
    .option('-o, --output <format>', 'table or json', (v) => parseOutputFormat(v, ['table', 'json']), 'table')
    .option('--no-strict', "run the agents with --no-strict (don't cut connections a change stops allowing)")
    .option('--no-progress', 'no progress lines on stderr')
    .option(
      '--diagnostics <dir>',
      "at a timed-out sample, write each node's nft table, conntrack table and agent log under this directory",
    )
    .action(async (opts: BenchSyncOptions) => {
      const support = await netnsSupport();
      if (!support.ok) throw new UsageError(`bench sync ${support.reason}`);
      const missing = opts.datastores.includes('etcd') ? etcdMissing() : undefined;
      if (missing !== undefined) throw new UsageError(`bench sync --datastores etcd: ${missing}`);
      // Ctrl-C stops at the next step and still cleans up; a second one exits at once.
      const abort = new AbortController();
      const onSignal = (): void => {
        if (abort.signal.aborted) process.exit(130);
        process.stderr.write('\npalisade: stopping after the current step, then cleaning up\n');
        abort.abort(new UsageError('bench sync: interrupted'));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const started = Date.now();
      try {
        const result = await benchSync({
          datastores: opts.datastores,
          samples: opts.samples,
          loadPolicies: opts.loadPolicies,
          loadRate: opts.loadRate,
          nodes: opts.nodes,
          pods: opts.pods,
          timeoutMs: opts.timeout,
          strict: opts.strict,
          ...(opts.diagnostics === undefined ? {} : { diagnosticsDir: opts.diagnostics }),
          signal: abort.signal,
          ...(opts.progress
            ? {
                onProgress: (line: string) =>
                  process.stderr.write(
                    `bench sync [${Math.round((Date.now() - started) / 1000)}s] ${line}\n`,
                  ),
              }
            : {}),
        });
        process.stdout.write(
          opts.output === 'json' ? JSON.stringify(result, null, 2) + '\n' : formatSyncTable(result),
        );
      } finally {
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
      }
    });
}
