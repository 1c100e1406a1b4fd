/**
 * The lab daemon (`palisade lab serve --id ID`, started detached by `lab up`): owns one running Lab and its
 * desired state, and answers one JSON request per connection on the unix socket in the lab's state dir.
 *
 * Start-up runs over the process's own pipes, not the socket: the build request arrives on stdin and the
 * outcome leaves on fd 3. The state dir cannot hold anything before the lab exists, because labUp claims the
 * id by clearing whatever a dead owner left there; so the log file and the socket are created only once
 * labUp has returned, and until then stdout/stderr go nowhere (the client hears every error through fd 3).
 *
 * Requests that change or measure the lab run one at a time (a probe must never see a half-applied
 * policy); `status` does not wait for them. Every change re-enforces the whole desired state: with the
 * `agents` enforcer (the default for nftables) by writing it into the lab's manifests directory and
 * waiting until every node agent has applied that revision (agents.ts); with `in-process` (iptables, or
 * on request) through enforceLab. Both diff against the kernel, so only the difference is sent.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { parseSources } from '../../dialects/index.js';
import type { Source } from '../../dialects/index.js';
import { computeTargets } from './targets.js';
import { hasErrors } from '../../ir/diagnostics.js';
import type { ContainerPort } from '../../ir/endpoint.js';
import { endpointKey } from '../../ir/endpoint.js';
import { LabBindError, bindCluster, labCluster } from '../cluster.js';
import { enforceLab } from '../enforce.js';
import { labDown } from '../fabric.js';
import { netnsInScope } from '../lab-id.js';
import type { DownReport } from '../fabric.js';
import { LabBusyError, labUp } from '../lab.js';
import type { Lab } from '../lab.js';
import { listNetns, mapLimit } from '../netns.js';
import { probeMatrix } from '../probe.js';
import { processStart, recordPid } from '../state.js';
import { AgentEnforcer } from './agents.js';
import type { DesiredState } from './desired.js';
import { LabInputError, applyLoaded, deleteLoaded, labelObject, prepareLab } from './desired.js';
import { kernelCounts } from './kernel.js';
import type { PolicyObjects } from './manifests.js';
import { policyObjectsOf, renderManifests, withApplied, withDeleted } from './manifests.js';
import {
  LabRequestError,
  MAX_MESSAGE_BYTES,
  MAX_PROBES,
  PROBE_CONCURRENCY,
  REQUEST_READ_TIMEOUT_MS,
  logPath,
  safeParseRequest,
  safeParseUpRequest,
  socketPath,
} from './protocol.js';
import type {
  ChangeReport,
  EnforceSummary,
  LabDatapath,
  LabEnforcer,
  LabFailure,
  LabRequest,
  LabResponse,
  LabStatus,
  UpReport,
} from './protocol.js';

/** How long the daemon waits for its build request before giving up. */
const UP_READ_TIMEOUT_MS = 30_000;
/** Ready-channel fd (stdio[3] of the spawning client). */
const READY_FD = 3;

/** The request or its input is at fault: the client's to fix, answered with exit 1. */
const isUsage = (err: unknown): boolean => err instanceof LabRequestError || err instanceof LabInputError;

function failure(err: unknown): LabFailure {
  const message = err instanceof Error ? err.message : String(err);
  return { ok: false, error: message, kind: isUsage(err) ? 'usage' : 'internal' };
}

async function readAll(stream: NodeJS.ReadableStream, timeoutMs: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  const timer = setTimeout(
    () => stream.emit('error', new Error('timed out reading the build request')),
    timeoutMs,
  );
  try {
    for await (const chunk of stream) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      size += b.length;
      if (size > MAX_MESSAGE_BYTES) throw new Error(`build request larger than ${MAX_MESSAGE_BYTES} bytes`);
      chunks.push(b);
    }
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Writes the start-up outcome to fd 3 and closes it; a daemon started by hand has no fd 3. */
function reportReady(response: LabResponse<UpReport>): void {
  try {
    writeSync(READY_FD, `${JSON.stringify(response)}\n`);
    closeSync(READY_FD);
  } catch {
    // nobody is listening
  }
}

const portText = (p: ContainerPort): string =>
  `${p.name === undefined ? '' : `${p.name}:`}${p.port}/${p.protocol}`;

class LabDaemon {
  readonly #id: string;
  readonly #lab: Lab;
  readonly #datapath: LabDatapath;
  readonly #started = Date.now();
  readonly #log: (line: string) => void;
  /** The node agents, with the `agents` enforcer; undefined: enforceLab in this process. */
  readonly #agents: AgentEnforcer | undefined;
  #desired: DesiredState;
  /** The user's policy and tier objects as written: what the agents' datastore holds besides the cluster. */
  #objects: PolicyObjects;
  #revision = 0;
  #lastEnforce: EnforceSummary | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #server: Server | undefined;
  #stopping: Promise<DownReport> | undefined;

  constructor(
    id: string,
    lab: Lab,
    desired: DesiredState,
    datapath: LabDatapath,
    log: (line: string) => void,
    agents: AgentEnforcer | undefined,
    objects: PolicyObjects,
  ) {
    this.#id = id;
    this.#lab = lab;
    this.#desired = desired;
    this.#datapath = datapath;
    this.#log = log;
    this.#agents = agents;
    this.#objects = objects;
  }

  get enforcer(): LabEnforcer {
    return this.#agents === undefined ? 'in-process' : 'agents';
  }

  /** The agents' datastore for `desired`: its cluster at the lab's addresses, plus the user's objects. */
  #manifests(desired: DesiredState, objects: PolicyObjects): Map<string, string> {
    const bound = bindCluster(desired.cluster, this.#lab.cluster);
    if (!bound.ok) throw new LabBindError(bound.problems);
    return renderManifests(bound.cluster, objects);
  }

  /** Enforces `desired` and, only when the kernel took it, makes it the lab's state. */
  async enforce(desired: DesiredState, objects: PolicyObjects = this.#objects): Promise<EnforceSummary> {
    if (this.#agents !== undefined) return this.#enforceByAgents(this.#agents, desired, objects);
    try {
      const report = await enforceLab(this.#lab, desired, { datapath: this.#datapath });
      this.#desired = desired;
      this.#revision++;
      const summary: EnforceSummary = {
        datapath: this.#datapath,
        revision: this.#revision,
        ms: report.ms,
        nodes: report.nodes.map((n) => ({
          node: n.node,
          ms: n.ms,
          changed: n.changed,
          changes: n.changes,
          unsupported: n.unsupported,
        })),
      };
      this.#lastEnforce = summary;
      this.#log(`enforced revision ${summary.revision} in ${summary.ms}ms`);
      return summary;
    } catch (err) {
      // The kernel may hold part of the new state: put the last good one back (enforceLab tears down
      // first after a failure), so the lab keeps meaning what `status` says.
      this.#log(`enforce failed: ${err instanceof Error ? err.message : String(err)}; restoring`);
      await enforceLab(this.#lab, this.#desired, { datapath: this.#datapath }).catch((e: unknown) =>
        this.#log(`restore failed: ${e instanceof Error ? e.message : String(e)}`),
      );
      throw err;
    }
  }

  async #enforceByAgents(
    agents: AgentEnforcer,
    desired: DesiredState,
    objects: PolicyObjects,
  ): Promise<EnforceSummary> {
    try {
      const summary = await agents.enforce(this.#manifests(desired, objects));
      this.#desired = desired;
      this.#objects = objects;
      this.#revision = summary.revision;
      this.#lastEnforce = summary;
      this.#log(`enforced revision ${summary.revision} by the node agents in ${summary.ms}ms`);
      return summary;
    } catch (err) {
      // Put the last good state back in the datastore, so the agents converge on what `status` says.
      this.#log(`enforce failed: ${err instanceof Error ? err.message : String(err)}; restoring`);
      await agents
        .write(this.#manifests(this.#desired, this.#objects))
        .catch((e: unknown) => this.#log(`restore failed: ${e instanceof Error ? e.message : String(e)}`));
      throw err;
    }
  }

  listen(): Promise<void> {
    const server = createServer((sock) => this.#onConnection(sock));
    server.maxConnections = 64;
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath(this.#id), () => {
        server.removeListener('error', reject);
        server.on('error', (e) => this.#log(`socket error: ${e.message}`));
        resolve();
      });
    });
  }

  #onConnection(sock: Socket): void {
    sock.on('error', () => undefined);
    sock.setTimeout(REQUEST_READ_TIMEOUT_MS, () => sock.destroy());
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const answer = (response: LabResponse<unknown>, after?: () => void): void => {
      if (sock.destroyed) {
        after?.();
        return;
      }
      sock.end(`${JSON.stringify(response)}\n`, after);
    };
    sock.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      chunks.push(chunk);
      if (size > MAX_MESSAGE_BYTES) {
        done = true;
        answer({ ok: false, kind: 'usage', error: `request larger than ${MAX_MESSAGE_BYTES} bytes` });
        return;
      }
      if (!chunk.includes(0x0a)) return;
      done = true;
      // Operations may take long (probes, big applies); only reading the request is bounded here.
      sock.setTimeout(0);
      const text = Buffer.concat(chunks).toString('utf8');
      const parsed = safeParseRequest(text.slice(0, text.indexOf('\n')));
      if (!parsed.ok) {
        answer({ ok: false, kind: 'usage', error: parsed.error.message });
        return;
      }
      const request = parsed.value;
      void this.#handle(request).then((response) =>
        answer(response, request.op === 'down' && response.ok ? () => process.exit(0) : undefined),
      );
    });
  }

  /** Mutating and measuring requests run one at a time; status answers at once. */
  #handle(request: LabRequest): Promise<LabResponse<unknown>> {
    const run = async (): Promise<LabResponse<unknown>> => {
      const started = Date.now();
      try {
        const value = await this.#dispatch(request);
        this.#log(`${request.op}: ok in ${Date.now() - started}ms`);
        return { ok: true, value };
      } catch (err) {
        if (err instanceof LoadFailed) return err.failure;
        this.#log(`${request.op}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        return failure(err);
      }
    };
    if (request.op === 'status') return run();
    const next = this.#queue.then(run);
    this.#queue = next;
    return next;
  }

  async #dispatch(request: LabRequest): Promise<unknown> {
    switch (request.op) {
      case 'status':
        return this.status();
      case 'probe':
        return this.#probe(request);
      case 'apply': {
        const loaded = load(request.sources);
        const r = applyLoaded(this.#desired, loaded.value, request.sources);
        if (!r.ok)
          throw new LoadFailed({ ok: false, kind: 'usage', error: r.error, diagnostics: r.diagnostics });
        return this.#change(
          r.value.desired,
          r.value.edits,
          loaded.warnings,
          withApplied(this.#objects, request.sources),
        );
      }
      case 'delete': {
        const loaded = load(request.sources);
        const r = deleteLoaded(this.#desired, loaded.value);
        return this.#change(
          r.desired,
          r.edits,
          loaded.warnings,
          withDeleted(this.#objects, request.sources, r.desired.tiers),
        );
      }
      case 'label': {
        const r = labelObject(this.#desired, request.kind, request.name, request.changes);
        if (!r.ok) throw r.error;
        return this.#change(r.value.desired, r.value.edits, []);
      }
      case 'down':
        return this.stop('down requested');
    }
  }

  async #change(
    desired: DesiredState,
    edits: string[],
    warnings: ChangeReport['warnings'],
    objects: PolicyObjects = this.#objects,
  ): Promise<ChangeReport> {
    const enforce = await this.enforce(desired, objects);
    return { edits, warnings, enforce };
  }

  async #probe(request: Extract<LabRequest, { op: 'probe' }>) {
    const known = new Set(this.#lab.pods.map((p) => p.key));
    for (const key of [...(request.from ?? []), ...(request.to ?? [])]) {
      if (!known.has(key))
        throw new LabRequestError('unknown-pod', `no pod ${key} in the lab (pods are NS/NAME)`);
    }
    const targets = computeTargets(this.#desired.cluster, request.ports, request.protocols);
    const sources = request.from?.length ?? known.size;
    const dests = request.to?.length ?? known.size;
    if (targets.length * sources * dests > MAX_PROBES)
      throw new LabRequestError(
        'too-many-probes',
        `${targets.length * sources * dests} probes exceed the limit of ${MAX_PROBES}`,
      );
    return probeMatrix(this.#lab, targets, {
      timeoutMs: request.timeoutMs,
      concurrency: PROBE_CONCURRENCY,
      maxProbes: MAX_PROBES,
      ...(request.from === undefined ? {} : { from: request.from }),
      ...(request.to === undefined ? {} : { to: request.to }),
    });
  }

  async status(): Promise<LabStatus> {
    const labels = new Map(this.#desired.cluster.endpoints.map((e) => [endpointKey(e), e.labels]));
    const nodes = await mapLimit(this.#lab.plan.nodes, 8, async (n) => ({
      name: n.name,
      netns: n.netns,
      ip: n.ip,
      podCidr: n.podCidr,
      kernel: await kernelCounts(n.netns, this.#datapath).catch((e: unknown) => ({
        error: e instanceof Error ? e.message : String(e),
      })),
    }));
    return {
      id: this.#id,
      pid: process.pid,
      startedAt: new Date(this.#started).toISOString(),
      uptimeMs: Date.now() - this.#started,
      routing: this.#lab.plan.routing,
      datapath: this.#datapath,
      sctpMode: this.#lab.sctpMode,
      revision: this.#revision,
      socket: socketPath(this.#id),
      log: logPath(this.#id),
      nodes,
      pods: this.#lab.pods.map((p) => ({
        pod: p.key,
        node: p.node,
        ip: p.ip,
        hostNetwork: p.hostNetwork,
        ports: p.ports.map(portText),
        labels: labels.get(p.key) ?? {},
      })),
      policies: this.#desired.policies.map((p) => ({
        dialect: p.ref.dialect,
        tier: p.tier,
        kind: p.ref.kind,
        ...(p.ref.namespace === undefined ? {} : { namespace: p.ref.namespace }),
        name: p.ref.name,
      })),
      ...(this.#lastEnforce === undefined ? {} : { lastEnforce: this.#lastEnforce }),
      enforcer: this.enforcer,
      ...(this.#agents === undefined ? {} : { agents: await this.#agents.status() }),
    };
  }

  /** Stops serving and removes every object of the lab. Idempotent. */
  stop(why: string): Promise<DownReport> {
    this.#stopping ??= (async () => {
      this.#log(`stopping: ${why}`);
      this.#server?.close();
      // What there is to remove, for the report: lab.down() removes it but does not say what.
      const netns = (await listNetns()).filter((n) => netnsInScope(n, { id: this.#id }));
      const agents = (await this.#agents?.status())?.map((a) => a.pid).filter((p) => p > 0) ?? [];
      // Pods are deleted through the plugin (CNI DEL) while their CNI hosts (the agents) still run.
      await this.#lab
        .down()
        .catch((e: unknown) => this.#log(`lab down: ${e instanceof Error ? e.message : String(e)}`));
      await this.#agents?.stop();
      // Whatever is left (a DEL that failed, a process that would not die); it spares this process.
      const rest = await labDown({ id: this.#id });
      return {
        labs: [this.#id],
        killed: [...new Set([...agents, ...rest.killed])],
        netns: [...new Set([...netns, ...rest.netns])],
        links: rest.links,
      };
    })();
    return this.#stopping;
  }
}

/** A request whose input did not load: answered with its diagnostics, not logged as a failure. */
class LoadFailed extends Error {
  readonly failure: LabFailure;
  constructor(f: LabFailure) {
    super(f.error);
    this.failure = f;
  }
}

function load(sources: readonly Source[]) {
  const { value, diagnostics } = parseSources(sources);
  if (hasErrors(diagnostics)) {
    const n = diagnostics.filter((d) => d.severity === 'error').length;
    throw new LoadFailed({
      ok: false,
      kind: 'usage',
      error: `${n} error${n === 1 ? '' : 's'} in the input; nothing was changed`,
      diagnostics,
    });
  }
  return { value, warnings: diagnostics };
}

/** How often a watched process is looked at: a lab outlives it by at most this much. */
const WATCH_INTERVAL_MS = 500;

function watch(target: { pid: number; start: string }, daemon: LabDaemon, log: (line: string) => void): void {
  const timer = setInterval(() => {
    if (processStart(target.pid) === target.start) return;
    clearInterval(timer);
    log(`watched process ${target.pid} is gone`);
    void daemon.stop(`watched process ${target.pid} is gone`).finally(() => process.exit(0));
  }, WATCH_INTERVAL_MS);
}

/**
 * The daemon's main: reads the build request on stdin, builds and enforces the lab, reports on fd 3, then
 * serves until `down` or a signal. Resolves only on a failed start (the caller exits); a running daemon
 * ends with process.exit once the lab is down.
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
    reportReady({ ok: false, kind: 'usage', error: parsed.error.message });
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
  const enforcer: LabEnforcer = up.enforcer ?? (up.datapath === 'nftables' ? 'agents' : 'in-process');
  if (enforcer === 'agents' && up.datapath !== 'nftables') {
    reportReady({
      ok: false,
      kind: 'usage',
      error: `the node agents program nftables only: use --datapath nftables, or --enforcer in-process for ${up.datapath}`,
    });
    return 1;
  }
  let logFd: number | undefined;
  // Lines from before the lab (and so its state dir) exists are kept until the log file can be opened.
  const early: string[] = [];
  const log = (line: string): void => {
    const text = `${new Date().toISOString()} ${line}\n`;
    if (logFd === undefined) {
      if (early.length < 1000) early.push(text);
      return;
    }
    try {
      writeSync(logFd, text);
    } catch {
      // a full /run must not take the lab down
    }
  };
  const objects = policyObjectsOf(up.sources);
  let agents: AgentEnforcer | undefined;
  if (enforcer === 'agents') {
    const { input, plan, desired } = prepared.value;
    // The datastore the first agent reads: the lab's objects at the plan's addresses (labCluster is what
    // labUp will report), so each pod is known before its ADD registers it.
    const bound = bindCluster(desired.cluster, labCluster(input, plan));
    if (!bound.ok) {
      reportReady(failure(new LabBindError(bound.problems)));
      return 1;
    }
    agents = new AgentEnforcer(id, renderManifests(bound.cluster, objects), log);
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
      err instanceof LabBusyError ? { ok: false, kind: 'usage', error: err.message } : failure(err),
    );
    return 1;
  }
  let daemon: LabDaemon | undefined;
  try {
    await recordPid(id, process.pid, 'pal-lab');
    logFd = openSync(logPath(id), 'a');
    for (const line of early.splice(0)) writeSync(logFd, line);
    log(`lab ${id}: daemon ${process.pid}, ${lab.plan.nodes.length} nodes, ${lab.pods.length} pods`);
    await agents?.startMissing(lab.plan.nodes);
    daemon = new LabDaemon(id, lab, prepared.value.desired, up.datapath, log, agents, objects);
    const enforce = await daemon.enforce(prepared.value.desired);
    await rm(socketPath(id), { force: true });
    await daemon.listen();
    const running = daemon;
    const stopOn = (signal: NodeJS.Signals) =>
      process.once(signal, () => void running.stop(signal).finally(() => process.exit(0)));
    for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) stopOn(s);
    process.on('uncaughtException', (e) => {
      log(`uncaught: ${e.stack ?? e.message}`);
      void running.stop('uncaught exception').finally(() => process.exit(2));
    });
    process.on('unhandledRejection', (e) => log(`unhandled rejection: ${String(e)}`));
    if (up.watch !== undefined) watch(up.watch, running, log);
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
    log('ready');
    return await new Promise<number>(() => undefined);
  } catch (err) {
    log(`start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await lab.down().catch((e: unknown) => log(`lab down: ${String(e)}`));
    await agents?.stop();
    await labDown({ id });
    reportReady(failure(err));
    return 1;
  }
}
