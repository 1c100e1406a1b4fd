/**
 * What each request does to the running lab. The daemon owns one Lab, its desired state and an Enforcer
 * (enforcer.ts); every change re-enforces the whole desired state, which the enforcer diffs against the
 * kernel, and becomes the lab's state only once the kernel took it.
 */
import { parseSources } from '../../dialects/index.js';
import type { Source } from '../../dialects/index.js';
import { hasErrors } from '../../ir/diagnostics.js';
import type { ContainerPort } from '../../ir/endpoint.js';
import { endpointKey } from '../../ir/endpoint.js';
import { labDown } from '../fabric.js';
import type { DownReport } from '../fabric.js';
import type { Lab } from '../lab.js';
import { netnsInScope } from '../lab-id.js';
import { listNetns, mapLimit } from '../netns.js';
import { probeHttpMatrix } from '../http-probe.js';
import { probeMatrix } from '../probe.js';
import type { DesiredState } from './desired.js';
import { applyLoaded, deleteLoaded, labelObject } from './desired.js';
import type { EnforcedState, Enforcer } from './enforcer.js';
import { kernelCounts } from './kernel.js';
import type { PolicyObjects } from './manifests.js';
import { withApplied, withDeleted } from './manifests.js';
import {
  HTTP_CONCURRENCY,
  LabRequestError,
  MAX_HTTP_REQUESTS,
  MAX_PROBES,
  PROBE_CONCURRENCY,
  logPath,
  socketPath,
} from './protocol.js';
import type {
  ChangeReport,
  EnforceSummary,
  LabDatapath,
  LabRequest,
  LabStatus,
  ProbeHttpRequest,
  ProbeRequest,
} from './protocol.js';
import { chooseTargets } from '../../engine/index.js';
import { RequestFailed } from './transport.js';

const portText = (p: ContainerPort): string =>
  `${p.name === undefined ? '' : `${p.name}:`}${p.port}/${p.protocol}`;

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export interface LabDaemonOptions {
  readonly id: string;
  readonly lab: Lab;
  readonly datapath: LabDatapath;
  readonly enforcer: Enforcer;
  /** The state the lab was built with, not yet enforced (`start` does). */
  readonly initial: EnforcedState;
  readonly log: (line: string) => void;
  /** Called as `stop` begins: stop taking requests. */
  readonly onStop?: () => void;
}

export class LabDaemon {
  readonly #id: string;
  readonly #lab: Lab;
  readonly #datapath: LabDatapath;
  readonly #enforcer: Enforcer;
  readonly #started = Date.now();
  readonly #log: (line: string) => void;
  readonly #onStop: (() => void) | undefined;
  #desired: DesiredState;
  /** The user's policy and tier objects as written: what the agents' datastore holds besides the cluster. */
  #objects: PolicyObjects;
  #revision = 0;
  #lastEnforce: EnforceSummary | undefined;
  #stopping: Promise<DownReport> | undefined;

  constructor(opts: LabDaemonOptions) {
    this.#id = opts.id;
    this.#lab = opts.lab;
    this.#datapath = opts.datapath;
    this.#enforcer = opts.enforcer;
    this.#desired = opts.initial.desired;
    this.#objects = opts.initial.objects;
    this.#log = opts.log;
    this.#onStop = opts.onStop;
  }

  /** Enforces the state the lab was built with. */
  start(): Promise<EnforceSummary> {
    return this.#enforce({ desired: this.#desired, objects: this.#objects });
  }

  /** Enforces `next` and, only when the kernel took it, makes it the lab's state. */
  async #enforce(next: EnforcedState): Promise<EnforceSummary> {
    let summary: EnforceSummary;
    try {
      summary = await this.#enforcer.enforce(next);
    } catch (err) {
      // The kernels may hold part of the new state: put the last good one back, so the lab keeps meaning
      // what `status` says.
      this.#log(`enforce failed: ${errorText(err)}; restoring`);
      await this.#enforcer
        .restore({ desired: this.#desired, objects: this.#objects })
        .catch((e: unknown) => this.#log(`restore failed: ${errorText(e)}`));
      throw err;
    }
    this.#desired = next.desired;
    this.#objects = next.objects;
    this.#revision = summary.revision;
    this.#lastEnforce = summary;
    const by = this.#enforcer.kind === 'agents' ? ' by the node agents' : '';
    this.#log(`enforced revision ${summary.revision}${by} in ${summary.ms}ms`);
    return summary;
  }

  /** What a request does; usage errors are typed (LabRequestError, LabInputError, RequestFailed). */
  async run(request: LabRequest): Promise<unknown> {
    switch (request.op) {
      case 'status':
        return this.status();
      case 'probe':
        return this.#probe(request);
      case 'probe-http':
        return this.#probeHttp(request);
      case 'apply': {
        const loaded = load(request.sources);
        const r = applyLoaded(this.#desired, loaded.value, request.sources);
        if (!r.ok)
          throw new RequestFailed({ ok: false, kind: 'usage', error: r.error, diagnostics: r.diagnostics });
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
    const enforce = await this.#enforce({ desired, objects });
    return { edits, warnings, enforce };
  }

  async #probe(request: ProbeRequest) {
    const known = new Set(this.#lab.pods.map((p) => p.key));
    for (const key of [...(request.from ?? []), ...(request.to ?? [])]) {
      if (!known.has(key))
        throw new LabRequestError('unknown-pod', `no pod ${key} in the lab (pods are NS/NAME)`);
    }
    const targets = chooseTargets(this.#desired.cluster, request.ports, request.protocols);
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

  async #probeHttp(request: ProbeHttpRequest) {
    const known = new Set(this.#lab.pods.map((p) => p.key));
    for (const key of [...(request.from ?? []), ...(request.to ?? [])]) {
      if (!known.has(key))
        throw new LabRequestError('unknown-pod', `no pod ${key} in the lab (pods are NS/NAME)`);
    }
    for (const key of request.to ?? known) {
      if (!Object.hasOwn(request.requests, key))
        throw new LabRequestError('missing-request', `no HTTP request for destination ${key}`);
    }
    const targets = chooseTargets(this.#desired.cluster, request.ports, request.protocols).filter(
      (t) => t.protocol === 'TCP',
    );
    const sources = request.from?.length ?? known.size;
    const dests = request.to?.length ?? known.size;
    if (targets.length * sources * dests > MAX_HTTP_REQUESTS)
      throw new LabRequestError(
        'too-many-probes',
        `${targets.length * sources * dests} HTTP requests exceed the limit of ${MAX_HTTP_REQUESTS}`,
      );
    return probeHttpMatrix(
      this.#lab,
      targets,
      (dst) => {
        const req = request.requests[dst.key];
        if (req === undefined) throw new Error(`no HTTP request for destination ${dst.key}`);
        return req;
      },
      {
        timeoutMs: request.timeoutMs,
        concurrency: HTTP_CONCURRENCY,
        maxRequests: MAX_HTTP_REQUESTS,
        ...(request.from === undefined ? {} : { from: request.from }),
        ...(request.to === undefined ? {} : { to: request.to }),
      },
    );
  }

  async status(): Promise<LabStatus> {
    const labels = new Map(this.#desired.cluster.endpoints.map((e) => [endpointKey(e), e.labels]));
    const nodes = await mapLimit(this.#lab.plan.nodes, 8, async (n) => ({
      name: n.name,
      netns: n.netns,
      ip: n.ip,
      podCidr: n.podCidr,
      kernel: await kernelCounts(n.netns, this.#datapath).catch((e: unknown) => ({ error: errorText(e) })),
    }));
    const agents = await this.#enforcer.agents();
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
        netns: p.netns,
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
      enforcer: this.#enforcer.kind,
      ...(agents === undefined ? {} : { agents }),
    };
  }

  /** Stops serving and removes every object of the lab. Idempotent. */
  stop(why: string): Promise<DownReport> {
    this.#stopping ??= (async () => {
      this.#log(`stopping: ${why}`);
      this.#onStop?.();
      // Before anything is removed: an agent that lab.down() or labDown kills must stay dead.
      this.#enforcer.endSupervision();
      // What there is to remove, for the report: lab.down() removes it but does not say what.
      const netns = (await listNetns()).filter((n) => netnsInScope(n, { id: this.#id }));
      const agents = (await this.#enforcer.agents())?.map((a) => a.pid).filter((p) => p > 0) ?? [];
      // Pods are deleted through the plugin (CNI DEL) while their CNI hosts (the agents) still run.
      await this.#lab.down().catch((e: unknown) => this.#log(`lab down: ${errorText(e)}`));
      await this.#enforcer.stop();
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

/** Parses `sources`; input that does not load is answered with its diagnostics. */
function load(sources: readonly Source[]) {
  const { value, diagnostics } = parseSources(sources);
  if (hasErrors(diagnostics)) {
    const n = diagnostics.filter((d) => d.severity === 'error').length;
    throw new RequestFailed({
      ok: false,
      kind: 'usage',
      error: `${n} error${n === 1 ? '' : 's'} in the input; nothing was changed`,
      diagnostics,
    });
  }
  return { value, warnings: diagnostics };
}
