/**
 * The node agent as a daemon: the Agent (datastore → reconcile → kernel) wired to what surrounds it on a
 * node — the status socket, Prometheus metrics, strict mode, the flow recorder, and the CNI host that
 * serves the plugin's requests and endpoint registrations — started in order and stopped in reverse.
 * `palisade agent` parses its flags into DaemonOptions and runs this until a signal.
 */
import { join } from 'node:path';
import { CAPABILITIES, DEFAULT_BACKEND, getBackend } from '../datapath/index.js';
import type { BackendName } from '../datapath/index.js';
import { Agent } from './agent.js';
import type { CniHost } from './cni-host.js';
import { startCniHost } from './cni-host.js';
import type { DatastoreSpec } from './datastore.js';
import { describeDatastore } from './datastore.js';
import { FlowRecorder, flowLogPathFor } from './flows/index.js';
import { l7FlowRecord } from './flows/l7-record.js';
import { L7Controller } from '../l7/controller.js';
import { jsonLogger } from './log.js';
import type { Logger } from './log.js';
import { AgentMetrics } from './metrics.js';
import { openSource } from './sources/index.js';
import { serveStatus, socketPathFor } from './status-server.js';
import { STRICT_DISABLED, StrictMode } from './strict.js';

export interface DaemonOptions {
  readonly node: string;
  readonly datastore: DatastoreSpec;
  /** Enforce inside this named netns instead of our own. */
  readonly netns?: string;
  /** The backend that enforces, by its registry name (src/datapath/registry.ts); default DEFAULT_BACKEND. */
  readonly datapath?: BackendName;
  /** Where the status socket (and by default the agent socket and the flow log) lives. */
  readonly stateDir: string;
  readonly metricsAddr?: { readonly host: string; readonly port: number };
  readonly resyncMs: number;
  /** Cut established connections a change stops allowing. */
  readonly strict: boolean;
  /** Serve the CNI shim's requests here, in this process; implies an agent socket. */
  readonly cniSocket?: string;
  /** Serve the plugin's endpoint registration here; default with cniSocket: `<stateDir>/agent.sock`. */
  readonly agentSocket?: string;
  /** The plugin's stateDir: its endpoint records are read back at start. */
  readonly cniStateDir: string;
  /** How long an ADD waits for its pod to appear in the datastore before it is refused. */
  readonly registrationWaitMs: number;
  /** dir: datastore only: quiet time after a change before rescanning. */
  readonly dirDebounceMs?: number;
  /** A path, false for no flow log, absent for `<stateDir>/flows/<node>.jsonl`. */
  readonly flowLog?: string | false;
  /** Default: JSON lines on stderr. */
  readonly log?: Logger;
  /**
   * What the node's L7 proxy does with steered requests: `policy` (default) enforces the L7 rules; `bare`
   * forwards every request undecided — the same proxy hop with no policy, the benchmark's anchor.
   */
  readonly l7Proxy?: 'policy' | 'bare';
}

const NONE_REGISTERED: ReadonlyMap<string, readonly string[]> = new Map();

/** Options that cannot work together, found before anything starts. */
export class DaemonOptionsError extends Error {
  override readonly name = 'DaemonOptionsError';
}

/**
 * Throws DaemonOptionsError when the options ask for something the chosen backend cannot do. Strict mode
 * cuts a connection by dropping its conntrack mark's bit, which only a backend whose chains test the mark
 * honours: on any other it would report cuts while the connections go on, so it is refused, not ignored.
 */
export function checkDaemonOptions(opts: DaemonOptions): void {
  const backend = getBackend(opts.datapath ?? DEFAULT_BACKEND);
  if (opts.strict && !backend.capabilities.strictCut)
    throw new DaemonOptionsError(
      `strict mode needs strictCut, which the ${backend.name} datapath lacks: ${CAPABILITIES.strictCut}`,
    );
}

/**
 * Runs the agent daemon until `until` resolves (with the reason, e.g. the signal's name, for the log), then
 * stops every part it started, also when starting one of them failed. The kernel keeps the last state.
 * Throws DaemonOptionsError (checkDaemonOptions) before starting anything.
 */
export async function runDaemon(opts: DaemonOptions, until: Promise<string>): Promise<void> {
  checkDaemonOptions(opts);
  const backend = getBackend(opts.datapath ?? DEFAULT_BACKEND);
  const agentSocket =
    opts.agentSocket ?? (opts.cniSocket === undefined ? undefined : join(opts.stateDir, 'agent.sock'));
  const netns = opts.netns === undefined ? {} : { netns: opts.netns };
  let cniHost: CniHost | undefined;
  const log = opts.log ?? jsonLogger();
  const metrics = new AgentMetrics(opts.node);
  const strict = opts.strict
    ? new StrictMode({ ...netns, log, onCut: (n) => metrics.strictCuts(n) })
    : undefined;
  const flowLog =
    opts.flowLog === false ? undefined : (opts.flowLog ?? flowLogPathFor(opts.stateDir, opts.node));
  const flows =
    flowLog === undefined
      ? undefined
      : new FlowRecorder({ node: opts.node, ...netns, path: flowLog, log, metrics: metrics.flows });
  // The node's L7 proxy, started by the first port steered to it, on backends that steer.
  const l7 = backend.capabilities.l7Redirect
    ? new L7Controller({
        dir: join(opts.stateDir, 'l7'),
        mode: opts.l7Proxy ?? 'policy',
        onRequest: (r) => {
          const { line } = r;
          flows?.l7(
            l7FlowRecord(line, r.info, r.model, opts.node, new Date().toISOString()),
            `${line.clientIp}|${line.serverIp}:${line.serverPort}|${r.outcome}`,
          );
        },
        onEvent: (e) => {
          if (e.type === 'stderr') {
            if (!e.line.includes('[NOTICE]')) log('warn', 'l7 proxy', { line: e.line });
          } else log(e.type === 'exited' ? 'warn' : 'info', `l7 proxy ${e.type}`, { ...e });
        },
        onInexact: (flows) =>
          log(
            'warn',
            'L7: Calico HTTP rules of several policies in one union stage decide together; the proxy decides by the first entry that matches',
            {
              flows: flows.slice(0, 20),
            },
          ),
      })
    : undefined;
  const agent = new Agent({
    node: opts.node,
    ...netns,
    datapath: backend,
    source: openSource(
      opts.datastore,
      opts.dirDebounceMs === undefined ? {} : { debounceMs: opts.dirDebounceMs },
    ),
    log,
    resyncMs: opts.resyncMs,
    onSync: (s) => metrics.sync(s),
    onEvent: (e) => metrics.event(e),
    onHealth: (h) => metrics.health(h),
    onApplied: async (applied) => {
      flows?.applied(applied);
      // Registration first: it only answers waiting ADDs, while strict mode may take a while.
      cniHost?.onApplied(applied);
      await strict?.onApplied(applied);
    },
    ...(l7 === undefined
      ? {}
      : { beforeApply: (next) => l7.prepare(next.model, next.rules), l7: () => l7.status() }),
    registered: () => cniHost?.registered() ?? NONE_REGISTERED,
    ...(agentSocket === undefined
      ? {}
      : { cni: () => cniHost?.status() ?? { agentSocket, endpoints: 0, pending: 0 } }),
    strict: () => strict?.status() ?? STRICT_DISABLED,
  });
  const status = await serveStatus(socketPathFor(opts.stateDir, opts.node), () => agent.status());
  let served: { address: string; close(): Promise<void> } | undefined;
  try {
    if (opts.metricsAddr !== undefined) {
      served = await metrics.serve(opts.metricsAddr.host, opts.metricsAddr.port);
      agent.metricsAddress = served.address;
    }
    if (agentSocket !== undefined) {
      cniHost = await startCniHost({
        node: opts.node,
        agentSocket,
        ...(opts.cniSocket === undefined ? {} : { cniSocket: opts.cniSocket }),
        cniStateDir: opts.cniStateDir,
        waitMs: opts.registrationWaitMs,
        log,
      });
      cniHost.attach(agent);
    }
    flows?.start();
    agent.start();
    log('info', 'agent started', {
      node: opts.node,
      datastore: describeDatastore(opts.datastore),
      datapath: backend.name,
      socket: status.path,
      ...netns,
      ...(served === undefined ? {} : { metrics: served.address }),
      ...(flowLog === undefined ? {} : { flowLog }),
      ...(agentSocket === undefined ? {} : { agentSocket }),
      ...(opts.cniSocket === undefined ? {} : { cniSocket: opts.cniSocket }),
    });
    const reason = await until;
    log('info', 'agent stopping; the kernel keeps the last state', { signal: reason });
  } finally {
    await cniHost?.close();
    await agent.stop();
    // Steered ports fail closed until the next agent's proxy is up (the kernel keeps the table).
    await l7?.stop();
    await flows?.stop();
    await served?.close();
    await status.close();
  }
}
