import { Option } from 'commander';
import type { Command } from 'commander';
import { processStart } from '../lab/state.js';
import { daemonPid, startLabDaemon } from '../lab/daemon/client.js';
import { prepareLab } from '../lab/daemon/desired.js';
import type { LabDatapath, LabEnforcer } from '../lab/daemon/protocol.js';
import { LAB_ENFORCERS, MAX_SYNC_TIMEOUT_MS, logPath } from '../lab/daemon/protocol.js';
import type { Routing } from '../lab/topology.js';
import { collect } from './collect.js';
import { datapathOption } from './datapath-option.js';
import { UsageError } from './exit-codes.js';
import {
  addIdOption,
  failWithDiagnostics,
  failed,
  formatEnforce,
  mainScript,
  parseRouting,
  printWarnings,
  readManifests,
} from './lab-common.js';
import { parseOutputFormat } from './output-format.js';

interface UpOptions {
  filename: string[];
  nodes?: string;
  routing: Routing;
  datapath: LabDatapath;
  enforcer?: LabEnforcer;
  id: string;
  output: string;
  watchPid?: string;
  syncTimeoutMs?: number;
  l7Proxy?: 'policy' | 'bare';
}

function parseSyncTimeoutMs(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < 1000 || n > MAX_SYNC_TIMEOUT_MS)
    throw new UsageError(`--sync-timeout-ms ${value}: between 1000 and ${MAX_SYNC_TIMEOUT_MS}`);
  return n;
}

/** Building a lab of a few hundred pods takes seconds; this bounds a daemon that hangs. */
const UP_TIMEOUT_MS = 180_000;

export function registerLabUp(lab: Command): void {
  addIdOption(
    lab
      .command('up')
      .description(
        'build a lab of network namespaces from Node, Namespace and Pod objects and enforce the policies',
      )
      .requiredOption(
        '-f, --filename <path...>',
        'manifest files or directories (recursive), - for stdin',
        collect,
        [],
      )
      .option('--nodes <n>', 'nodes to generate when the input names none (default 1)')
      .option('--routing <mode>', 'native or vxlan', parseRouting, 'native' as Routing)
      .addOption(datapathOption())
      .option(
        '-o, --output <format>',
        'table or json',
        (v) => parseOutputFormat(v, ['table', 'json']),
        'table',
      )
      .addOption(
        new Option(
          '--enforcer <who>',
          'agents (one palisade agent per node; nftables only) or in-process (the lab daemon itself); default: agents with nftables, in-process with iptables',
        ).choices(LAB_ENFORCERS),
      )
      .option(
        '--sync-timeout-ms <ms>',
        'how long a change waits for every node agent, a restarting one included, before it fails (default 60000)',
        parseSyncTimeoutMs,
      )
      // For bench l7's anchor row: every node's L7 proxy forwards steered requests undecided.
      .addOption(
        new Option('--l7-proxy <mode>', "the node agents' L7 proxy mode: policy or bare")
          .choices(['policy', 'bare'])
          .hideHelp(),
      )
      // For tests and wrappers: the lab goes down by itself once this process is gone.
      .addOption(new Option('--watch-pid <pid>', 'take the lab down when this process exits').hideHelp()),
  ).action(async (opts: UpOptions) => {
    let nodes: number | undefined;
    if (opts.nodes !== undefined) {
      nodes = Number(opts.nodes);
      if (!/^[0-9]+$/.test(opts.nodes)) throw new UsageError(`--nodes ${opts.nodes}: not a number`);
    }
    let watch: { pid: number; start: string } | undefined;
    if (opts.watchPid !== undefined) {
      const pid = Number(opts.watchPid);
      const start = Number.isInteger(pid) && pid > 0 ? processStart(pid) : undefined;
      if (start === undefined) throw new UsageError(`--watch-pid ${opts.watchPid}: no such process`);
      watch = { pid, start };
    }
    if (opts.enforcer === 'agents' && opts.datapath !== 'nftables')
      throw new UsageError(
        `--enforcer agents --datapath ${opts.datapath}: the node agents program nftables only (use --enforcer in-process)`,
      );
    const inProcess =
      opts.enforcer === 'in-process' || (opts.enforcer === undefined && opts.datapath !== 'nftables');
    if (opts.syncTimeoutMs !== undefined && inProcess)
      throw new UsageError('--sync-timeout-ms: only the node agents are waited for (--enforcer agents)');
    const sources = await readManifests(opts.filename, opts.output);
    // Everything that can be wrong with the input is found here, before anything is created.
    const prepared = prepareLab(sources, {
      id: opts.id,
      routing: opts.routing,
      ...(nodes === undefined ? {} : { nodes }),
    });
    if (!prepared.ok) failWithDiagnostics(prepared.error, prepared.diagnostics, opts.output);
    if (process.getuid?.() !== 0) throw new UsageError('lab up needs root (it creates network namespaces)');
    const running = await daemonPid(opts.id);
    if (running !== undefined)
      throw new UsageError(
        `lab "${opts.id}" is already up (daemon pid ${running}); take it down with palisade lab down --id ${opts.id}`,
      );
    const r = await startLabDaemon({
      id: opts.id,
      command: process.execPath,
      args: [mainScript(), 'lab', 'serve', '--id', opts.id],
      up: {
        op: 'up',
        sources,
        routing: opts.routing,
        datapath: opts.datapath,
        ...(opts.enforcer === undefined ? {} : { enforcer: opts.enforcer }),
        ...(nodes === undefined ? {} : { nodes }),
        ...(watch === undefined ? {} : { watch }),
        ...(opts.syncTimeoutMs === undefined ? {} : { syncTimeoutMs: opts.syncTimeoutMs }),
        ...(opts.l7Proxy === undefined ? {} : { l7Proxy: opts.l7Proxy }),
      },
      timeoutMs: UP_TIMEOUT_MS,
    });
    if (!r.ok) failed(opts.id, r, opts.output);
    printWarnings(r.value.warnings);
    if (opts.output === 'json') {
      process.stdout.write(`${JSON.stringify(r.value, null, 2)}\n`);
      return;
    }
    const v = r.value;
    process.stdout.write(
      [
        `lab "${v.id}" is up in ${v.ms}ms: ${v.nodes} node(s), ${v.pods} pod(s), ${v.policies} polic${v.policies === 1 ? 'y' : 'ies'}; ` +
          `${v.routing} routing, ${v.datapath}${v.enforce.enforcer === 'agents' ? ' by one agent per node' : ''}`,
        `daemon pid ${v.pid}, log ${logPath(v.id)}`,
        ...formatEnforce(v.enforce),
      ].join('\n') + '\n',
    );
  });
}
