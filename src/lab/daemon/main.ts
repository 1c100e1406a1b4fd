/**
 * The lab daemon's process (`palisade lab serve --id ID`, started detached by `lab up`): reads the build
 * request on stdin, builds the lab, picks its enforcer, enforces, reports on fd 3, then serves requests on
 * the lab's socket until `down`, a signal, or the end of the process it watches.
 *
 * The state dir cannot hold anything before the lab exists, because labUp claims the id by clearing
 * whatever a dead owner left there; so the log file and the socket are created only once labUp has
 * returned, and until then stdout/stderr go nowhere (the client hears every error through fd 3).
 */
import { openSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { labCluster } from '../cluster.js';
import { labDown } from '../fabric.js';
import { LabBusyError, labUp } from '../lab.js';
import type { Lab } from '../lab.js';
import { processStart, recordPid } from '../state.js';
import { AgentEnforcer } from './agents.js';
import { LabDaemon } from './daemon.js';
import { prepareLab } from './desired.js';
import type { EnforcedState, Enforcer } from './enforcer.js';
import { InProcessEnforcer } from './in-process.js';
import { policyObjectsOf } from './manifests.js';
import { logPath, safeParseUpRequest, socketPath } from './protocol.js';
import type { LabEnforcer } from './protocol.js';
import { Transport, failureOf, readAll, reportReady } from './transport.js';

/** How long the daemon waits for its build request before giving up. */
const UP_READ_TIMEOUT_MS = 30_000;
/** How often a watched process is looked at: a lab outlives it by at most this much. */
const WATCH_INTERVAL_MS = 500;

/**
 * The daemon's log: lines from before the lab (and so its state dir) exists are kept until `open`.
 * A full /run must not take the lab down, so writes never throw.
 */
class DaemonLog {
  #fd: number | undefined;
  readonly #early: string[] = [];

  readonly line = (text: string): void => {
    const line = `${new Date().toISOString()} ${text}\n`;
    if (this.#fd === undefined) {
      if (this.#early.length < 1000) this.#early.push(line);
      return;
    }
    try {
      writeSync(this.#fd, line);
    } catch {
      // see above
    }
  };

  open(path: string): void {
    this.#fd = openSync(path, 'a');
    for (const line of this.#early.splice(0)) writeSync(this.#fd, line);
  }
}

function watch(target: { pid: number; start: string }, stop: (why: string) => Promise<unknown>): void {
  const timer = setInterval(() => {
    if (processStart(target.pid) === target.start) return;
    clearInterval(timer);
    void stop(`watched process ${target.pid} is gone`).finally(() => process.exit(0));
  }, WATCH_INTERVAL_MS);
}

/**
 * Reads the build request on stdin, builds and enforces the lab, reports on fd 3, then serves until `down`
 * or a signal. Resolves only on a failed start (the caller exits); a running daemon ends with process.exit
 * once the lab is down.
 */
export async function runLabDaemon(id: string): Promise<number> {
  // `pal-` in the process name (comm) is how labDown recognises lab processes; the pid is recorded too.
  process.title = `pal-lab ${id}`;
  let text: string;
  try {
    text = await readAll(process.stdin, UP_READ_TIMEOUT_MS);
  } catch (err) {
    reportReady({ ok: false, kind: 'internal', error: `reading the build request: ${String(err)}` });
    return 1;
  }
  const parsed = safeParseUpRequest(text);
  if (!parsed.ok) {
    reportReady(failureOf(parsed.error));
    return 1;
  }
  const up = parsed.value;
  const started = Date.now();
  const prepared = prepareLab(up.sources, {
    id,
    routing: up.routing,
    ...(up.nodes === undefined ? {} : { nodes: up.nodes }),
  });
  if (!prepared.ok) {
    reportReady({ ok: false, kind: 'usage', error: prepared.error, diagnostics: prepared.diagnostics });
    return 1;
  }
  const kind: LabEnforcer = up.enforcer ?? (up.datapath === 'nftables' ? 'agents' : 'in-process');
  if (kind === 'agents' && up.datapath !== 'nftables') {
    reportReady({
      ok: false,
      kind: 'usage',
      error: `the node agents program nftables only: use --datapath nftables, or --enforcer in-process for ${up.datapath}`,
    });
    return 1;
  }
  if (up.l7Proxy !== undefined && kind !== 'agents') {
    reportReady({ ok: false, kind: 'usage', error: '--l7-proxy: only the node agents run an L7 proxy' });
    return 1;
  }
  const log = new DaemonLog();
  const initial: EnforcedState = { desired: prepared.value.desired, objects: policyObjectsOf(up.sources) };
  let agents: AgentEnforcer | undefined;
  if (kind === 'agents') {
    const { input, plan } = prepared.value;
    try {
      // The datastore the first agent reads: the lab's objects at the plan's addresses (labCluster is what
      // labUp will report), so each pod is known before its ADD registers it.
      agents = new AgentEnforcer(
        id,
        labCluster(input, plan),
        initial,
        log.line,
        up.syncTimeoutMs,
        up.l7Proxy,
      );
    } catch (err) {
      reportReady(failureOf(err));
      return 1;
    }
  }
  let lab: Lab;
  try {
    lab = await labUp(prepared.value.input, {
      id,
      ...(agents === undefined ? {} : { cniHost: agents.cniHost }),
    });
  } catch (err) {
    await agents?.stop();
    // labUp removed whatever it had made; a busy id belongs to someone else and is left alone.
    reportReady(
      err instanceof LabBusyError ? { ok: false, kind: 'usage', error: err.message } : failureOf(err),
    );
    return 1;
  }
  const enforcer: Enforcer = agents ?? new InProcessEnforcer(lab, up.datapath);
  try {
    await recordPid(id, process.pid, 'pal-lab');
    log.open(logPath(id));
    log.line(`lab ${id}: daemon ${process.pid}, ${lab.plan.nodes.length} nodes, ${lab.pods.length} pods`);
    await agents?.startMissing(lab.plan.nodes);
    // Built first so that `stop` can close it; it runs nothing before listen(), which follows start().
    const transport = new Transport({
      socket: socketPath(id),
      run: (request) => daemon.run(request),
      answered: (request, response) => {
        if (request.op === 'down' && response.ok) process.exit(0);
      },
      log: log.line,
    });
    const daemon = new LabDaemon({
      id,
      lab,
      datapath: up.datapath,
      enforcer,
      initial,
      log: log.line,
      onStop: () => transport.close(),
    });
    const enforce = await daemon.start();
    await rm(socketPath(id), { force: true });
    await transport.listen();
    const stopOn = (signal: NodeJS.Signals) =>
      process.once(signal, () => void daemon.stop(signal).finally(() => process.exit(0)));
    for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) stopOn(s);
    process.on('uncaughtException', (e) => {
      log.line(`uncaught: ${e.stack ?? e.message}`);
      void daemon.stop('uncaught exception').finally(() => process.exit(2));
    });
    process.on('unhandledRejection', (e) => log.line(`unhandled rejection: ${String(e)}`));
    if (up.watch !== undefined) {
      const target = up.watch;
      watch(target, (why) => {
        log.line(why);
        return daemon.stop(why);
      });
    }
    reportReady({
      ok: true,
      value: {
        id,
        pid: process.pid,
        nodes: lab.plan.nodes.length,
        pods: lab.pods.length,
        policies: prepared.value.desired.policies.length,
        routing: up.routing,
        datapath: up.datapath,
        ms: Date.now() - started,
        warnings: prepared.warnings,
        enforce,
      },
    });
    log.line('ready');
    return await new Promise<number>(() => undefined);
  } catch (err) {
    log.line(`start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    enforcer.endSupervision();
    await lab.down().catch((e: unknown) => log.line(`lab down: ${String(e)}`));
    await enforcer.stop();
    await labDown({ id });
    reportReady(failureOf(err));
    return 1;
  }
}
