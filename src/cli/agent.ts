import { Option } from 'commander';
import type { Command } from 'commander';
import {
  DEFAULT_STATE_DIR,
  DatastoreSpecError,
  MetricsAddressError,
  parseDatastore,
  parseMetricsAddr,
} from '../agent/index.js';
import type { DatastoreSpec } from '../agent/index.js';
import { DEFAULT_CNI_STATE_DIR } from '../agent/cni-host.js';
import { DaemonOptionsError, checkDaemonOptions, runDaemon } from '../agent/daemon.js';
import type { DaemonOptions } from '../agent/daemon.js';
import { allBackends } from '../datapath/index.js';
import type { BackendName } from '../datapath/index.js';
import { DEFAULT_REGISTRATION_WAIT_MS } from '../agent/registration.js';
import { datapathOption } from './datapath-option.js';
import { UsageError } from './exit-codes.js';

/** The embedded default: a manifests directory, as the lab uses. */
export const DEFAULT_DATASTORE = 'dir:/etc/palisade/manifests';

interface AgentOptions {
  node: string;
  datastore: DatastoreSpec;
  netns?: string;
  datapath: BackendName;
  stateDir: string;
  metricsAddr?: { host: string; port: number };
  resync: number;
  strict: boolean;
  l7Proxy: 'policy' | 'bare';
  cniSocket?: string;
  agentSocket?: string;
  cniStateDir: string;
  registrationWait: number;
  dirDebounceMs?: number;
  /** A path, false for --no-flow-log, absent for the default path. */
  flowLog?: string | false;
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

function parseDebounce(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 10_000)
    throw new UsageError(`--dir-debounce-ms ${value}: milliseconds between 0 and 10000`);
  return n;
}

function parseWait(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.1 || n > 600)
    throw new UsageError(`--registration-wait ${value}: seconds between 0.1 and 600`);
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
    .addOption(
      new Option(
        '--datastore <ds>',
        'dir:PATH (manifests directory), etcd:URL[,URL…], or kubernetes[:KUBECONFIG] (the API server; ' +
          'without a path: $KUBECONFIG, ~/.kube/config, or in-cluster)',
      )
        .argParser(parseDatastoreOption)
        .default(parseDatastore(DEFAULT_DATASTORE), DEFAULT_DATASTORE),
    )
    .option('--netns <name>', 'enforce inside this named network namespace instead of our own')
    .addOption(
      datapathOption('the datapath that enforces (strict mode needs one with the strictCut capability)'),
    )
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
    .option(
      '--cni-socket <path>',
      "serve the CNI shim's requests here, in this process (implies --agent-socket)",
    )
    .option(
      '--agent-socket <path>',
      "serve the plugin's endpoint registration here: the conflist's agentSocket (default with --cni-socket: <state-dir>/agent.sock)",
    )
    .option(
      '--cni-state-dir <dir>',
      "the plugin's stateDir: its endpoint records are read back at start",
      DEFAULT_CNI_STATE_DIR,
    )
    .option(
      '--registration-wait <seconds>',
      'how long an ADD waits for its pod to appear in the datastore before it is refused',
      parseWait,
      DEFAULT_REGISTRATION_WAIT_MS / 1000,
    )
    .option(
      '--flow-log <path>',
      "write every new connection's verdict here as JSONL (default: <state-dir>/flows/<node>.jsonl)",
    )
    .option('--no-flow-log', 'do not read flow events from the kernel or write a flow log')
    // `--lab=<id>` on the command line is how labDown recognises a lab's agents (src/lab/node-agents.ts).
    .addOption(new Option('--lab <id>', 'the lab this agent belongs to').hideHelp())
    // The lab writes a change's files at once and then waits for it: a long debounce is pure latency there.
    .addOption(
      new Option('--dir-debounce-ms <ms>', 'dir: datastore: quiet time after a change before rescanning')
        .argParser(parseDebounce)
        .hideHelp(),
    )
    .addOption(
      new Option(
        '--l7-proxy <mode>',
        'policy: the L7 proxy enforces HTTP rules; bare: it forwards every request undecided (a benchmark anchor)',
      )
        .choices(['policy', 'bare'])
        .default('policy'),
    )
    .option(
      '--no-strict',
      'leave established connections alone when a policy change stops allowing them (default: cut them)',
    )
    .exitOverride()
    .action(async (opts: AgentOptions) => {
      if (!NAME.test(opts.node)) throw new UsageError(`--node ${opts.node}: not a valid node name`);
      if (opts.cniSocket !== undefined && opts.netns !== undefined)
        throw new UsageError(
          '--cni-socket with --netns: the plugin would attach pods in the wrong netns; run the agent inside the node netns (ip netns exec) instead',
        );
      const daemon: DaemonOptions = {
        node: opts.node,
        datastore: opts.datastore,
        ...(opts.netns === undefined ? {} : { netns: opts.netns }),
        datapath: opts.datapath,
        stateDir: opts.stateDir,
        ...(opts.metricsAddr === undefined ? {} : { metricsAddr: opts.metricsAddr }),
        resyncMs: opts.resync * 1000,
        strict: opts.strict,
        ...(opts.cniSocket === undefined ? {} : { cniSocket: opts.cniSocket }),
        ...(opts.agentSocket === undefined ? {} : { agentSocket: opts.agentSocket }),
        cniStateDir: opts.cniStateDir,
        registrationWaitMs: opts.registrationWait * 1000,
        ...(opts.dirDebounceMs === undefined ? {} : { dirDebounceMs: opts.dirDebounceMs }),
        ...(opts.flowLog === undefined ? {} : { flowLog: opts.flowLog }),
        l7Proxy: opts.l7Proxy,
      };
      try {
        checkDaemonOptions(daemon);
      } catch (e) {
        if (!(e instanceof DaemonOptionsError)) throw e;
        const able = allBackends().filter((b) => b.capabilities.strictCut);
        throw new UsageError(
          `--datapath ${opts.datapath}: ${e.message}; pass --no-strict, or --datapath ` +
            able.map((b) => b.name).join(' or '),
        );
      }
      await runDaemon(
        daemon,
        // Listening before anything starts: a signal during start-up still stops what was started.
        untilSignal(),
      );
    });
}
