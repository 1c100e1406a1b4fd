import type { Command } from 'commander';
import {
  Agent,
  AgentMetrics,
  DEFAULT_STATE_DIR,
  DatastoreSpecError,
  MetricsAddressError,
  describeDatastore,
  jsonLogger,
  openSource,
  parseDatastore,
  parseMetricsAddr,
  serveStatus,
  socketPathFor,
} from '../agent/index.js';
import type { DatastoreSpec } from '../agent/index.js';
import { UsageError } from './exit-codes.js';

/** The embedded default: a manifests directory, as the lab uses. */
export const DEFAULT_DATASTORE = 'dir:/etc/palisade/manifests';

interface AgentOptions {
  node: string;
  datastore: DatastoreSpec;
  netns?: string;
  stateDir: string;
  metricsAddr?: { host: string; port: number };
  resync: number;
}

export function parseDatastoreOption(value: string): DatastoreSpec {
  try {
    return parseDatastore(value);
  } catch (e) {
    if (e instanceof DatastoreSpecError) throw new UsageError(e.message);
    throw e;
  }
}

function parseMetrics(value: string): { host: string; port: number } {
  try {
    return parseMetricsAddr(value);
  } catch (e) {
    if (e instanceof MetricsAddressError) throw new UsageError(e.message);
    throw e;
  }
}

function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 1 || n > 86_400)
    throw new UsageError(`--resync ${value}: seconds between 1 and 86400`);
  return n;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Resolves on the first SIGINT or SIGTERM. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('per-node daemon: keep the kernel equal to the policies in the datastore (root)')
    .requiredOption('--node <name>', 'the node this agent enforces for (pods with this spec.nodeName)')
    .option(
      '--datastore <ds>',
      'dir:PATH (manifests directory) or etcd:URL[,URL…]',
      parseDatastoreOption,
      parseDatastore(DEFAULT_DATASTORE),
    )
    .option('--netns <name>', 'enforce inside this named network namespace instead of our own')
    .option('--state-dir <dir>', 'where the status socket lives', DEFAULT_STATE_DIR)
    .option(
      '--metrics-addr <host:port>',
      'serve Prometheus metrics here (loopback only; port 0 picks one)',
      parseMetrics,
    )
    .option(
      '--resync <seconds>',
      're-apply this often even without changes (repairs drift)',
      parseSeconds,
      30,
    )
    .exitOverride()
    .action(async (opts: AgentOptions) => {
      if (!NAME.test(opts.node)) throw new UsageError(`--node ${opts.node}: not a valid node name`);
      const log = jsonLogger();
      const metrics = new AgentMetrics(opts.node);
      const agent = new Agent({
        node: opts.node,
        ...(opts.netns === undefined ? {} : { netns: opts.netns }),
        source: openSource(opts.datastore),
        log,
        resyncMs: opts.resync * 1000,
        onSync: (s) => metrics.sync(s),
        onEvent: (e) => metrics.event(e),
        onHealth: (h) => metrics.health(h),
      });
      const signal = untilSignal();
      const status = await serveStatus(socketPathFor(opts.stateDir, opts.node), () => agent.status());
      let served: { address: string; close(): Promise<void> } | undefined;
      try {
        if (opts.metricsAddr !== undefined) {
          served = await metrics.serve(opts.metricsAddr.host, opts.metricsAddr.port);
          agent.metricsAddress = served.address;
        }
        agent.start();
        log('info', 'agent started', {
          node: opts.node,
          datastore: describeDatastore(opts.datastore),
          socket: status.path,
          ...(opts.netns === undefined ? {} : { netns: opts.netns }),
          ...(served === undefined ? {} : { metrics: served.address }),
        });
        const sig = await signal;
        log('info', 'agent stopping; the kernel keeps the last state', { signal: sig });
      } finally {
        await agent.stop();
        await served?.close();
        await status.close();
      }
    });
}
