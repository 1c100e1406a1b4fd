/**
 * The node agent's loop: the datastore source hands over snapshots of the desired objects; each one is
 * reconciled (pure, reconcile.ts; with one model builder and node resolver per agent, keeping their work
 * between syncs, and compiled by the agent's datapath, which may be incremental too) and applied by that
 * same datapath (backend.ts; nftables unless told otherwise), whose diff sends the kernel only what
 * changed, in one transaction. The nftables datapath diffs against what it last applied rather than
 * reading the table back on every sync (the read costs more than the change at thousands of policies); it
 * reads the kernel on first use, after a failure, and at every periodic resync, which is what repairs
 * drift. Syncs never overlap: snapshots that arrive during a sync collapse into one more sync. A failed
 * apply is retried a bounded number of times with backoff, then again at the next snapshot or periodic
 * resync (which also repairs drift: someone editing the table by hand).
 *
 * The kernel is never flushed for the datastore's sake: while it is unreachable the last state stays
 * enforced and the status says `degraded`; stopping the agent leaves the table in place too, as a
 * restarting agent must not open a window where nothing is enforced.
 */
import { performance } from 'node:perf_hooks';
import { createNodeResolver, formatUnsupported, nftablesBackend } from '../datapath/index.js';
import type { DatapathBackend, NodeDatapath, NodeResolver, NodeRules, Touched } from '../datapath/index.js';
import { createModelBuilder } from '../engine/index.js';
import type { PolicyModel } from '../engine/index.js';
import type { Diagnostic } from '../ir/index.js';
import type { Logger } from './log.js';
import type { StrictStatus } from './strict.js';
import type { CniHostStatus } from './registration.js';
import type { AgentEvent, Counts, DesiredObjects, ObjectStates } from './reconcile.js';
import { reconcile } from './reconcile.js';
import type { DatastoreSource, SourceHealth } from './sources/source.js';
import type { L7Status } from '../l7/controller.js';
import { backoffMs } from '../util/backoff.js';
import { errorText } from './sources/source.js';

export interface AgentOptions {
  readonly node: string;
  /** Named netns to enforce in; absent: the agent's own. */
  readonly netns?: string;
  readonly source: DatastoreSource;
  /** The backend that enforces (registry.ts); default nftables. */
  readonly datapath?: DatapathBackend;
  readonly log: Logger;
  /** Re-apply this often even without changes (drift repair, retries after giving up); default 30s. */
  readonly resyncMs?: number;
  /** Retries of a failed apply before waiting for the next snapshot or resync; default 5. */
  readonly maxRetries?: number;
  /** Told about every sync, e.g. to update metrics. */
  readonly onSync?: (sync: SyncRecord) => void;
  readonly onEvent?: (event: TimedEvent) => void;
  readonly onHealth?: (health: SourceHealth) => void;
  /**
   * Called after every successful apply, before the sync counts as done, with what is now in the kernel:
   * the hook point for flow attribution, strict mode and CNI registration waits. Errors are logged, not
   * fatal.
   */
  readonly onApplied?: (applied: AppliedState) => Promise<void> | void;
  /**
   * Called before every apply with what is about to be enforced: the node's L7 proxy learns its tables
   * here, before the kernel steers a packet to it. A failure fails the sync (retried like an apply).
   */
  readonly beforeApply?: (next: Pick<AppliedState, 'model' | 'rules'>) => Promise<void>;
  /** The L7 proxy's state for the status (src/l7/controller.ts); absent: not reported. */
  readonly l7?: () => L7Status | undefined;
  /** Strict mode's state for the status (strict.ts); absent: not reported. */
  readonly strict?: () => StrictStatus;
  /**
   * Pod key → IPs the CNI plugin registered on this node (endpoints-registry.ts), read at every sync and
   * merged into the datastore's pods (reconcile.ts).
   */
  readonly registered?: () => ReadonlyMap<string, readonly string[]>;
  /** The CNI host's state for the status (registration.ts); absent: not reported. */
  readonly cni?: () => CniHostStatus;
}

/** The state the kernel holds after a successful apply. */
export interface AppliedState {
  readonly model: PolicyModel;
  readonly rules: NodeRules;
  /** Whether this apply wrote to the kernel. */
  readonly changed: boolean;
  /** Counts successful applies since start; grows by one each time. */
  readonly generation: number;
}

export type { Touched };

export interface SyncRecord {
  readonly at: string;
  readonly ms: number;
  readonly ok: boolean;
  readonly error?: string;
  /** Whether a transaction was sent. */
  readonly changed: boolean;
  readonly summary: Readonly<Record<string, number>>;
  readonly touched: Touched;
  readonly counts: Counts;
  /** The datastore revision of the snapshot this sync reconciled, when the source reports one. */
  readonly revision?: string;
}

export type TimedEvent = AgentEvent & { readonly time: string };

export type AgentState = 'starting' | 'ready' | 'degraded' | 'error';

export interface AgentStatus {
  readonly node: string;
  readonly netns?: string;
  readonly pid: number;
  readonly startedAt: string;
  /**
   * starting: nothing applied yet; degraded: the datastore is unreachable (the last state stays enforced);
   * error: the last apply failed; ready otherwise.
   */
  readonly state: AgentState;
  readonly datastore: {
    readonly source: string;
    readonly connected: boolean;
    readonly error?: string;
    readonly revision?: string;
    readonly since: string;
  };
  readonly objects: {
    readonly total: number;
    readonly rejected: readonly {
      readonly id: string;
      readonly kept: 'last-good' | 'nothing';
      readonly diagnostics: readonly Diagnostic[];
    }[];
  };
  readonly syncs: number;
  readonly failures: number;
  readonly lastSync?: SyncRecord;
  /**
   * The datastore revision of the last snapshot applied successfully: a writer that knows the revision
   * of its write knows it is enforced once this reaches it.
   */
  readonly appliedRevision?: string;
  /** The registration socket and endpoints the CNI plugin registered (registration.ts), when served. */
  readonly cni?: CniHostStatus;
  /** The last sync that sent a transaction: what the last real change touched. */
  readonly lastChange?: SyncRecord;
  readonly events: readonly TimedEvent[];
  readonly metrics?: string;
  readonly strict?: StrictStatus;
  /** The node's L7 proxy, once a port is steered to it. */
  readonly l7?: L7Status;
}

const MAX_EVENTS = 100;

export class Agent {
  private desired: DesiredObjects | undefined;
  private desiredRevision: string | undefined;
  private appliedRevision: string | undefined;
  private objects: ObjectStates = new Map();
  private dirty = false;
  private stopped = false;
  private running: Promise<void> | undefined;
  private resync: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private health: SourceHealth = { connected: false, error: 'not connected yet' };
  private healthSince = new Date().toISOString();
  private readonly startedAt = new Date().toISOString();
  private readonly events: TimedEvent[] = [];
  private syncs = 0;
  private failures = 0;
  private applied = false;
  private generation = 0;
  private lastSync: SyncRecord | undefined;
  private lastChange: SyncRecord | undefined;
  /** Set by the periodic resync: the next apply reads the kernel back (drift repair). */
  private verifyNext = false;
  private readonly models = createModelBuilder();
  private readonly resolver: NodeResolver;
  private readonly datapath: NodeDatapath;
  /** What the last compile left out, as logged: logged again only when it changes. */
  private unsupported = '';
  metricsAddress: string | undefined;

  constructor(private readonly opts: AgentOptions) {
    const backend = opts.datapath ?? nftablesBackend;
    this.datapath = backend.create(opts.netns === undefined ? {} : { netns: opts.netns });
    this.resolver = createNodeResolver(opts.node);
  }

  start(): void {
    const { log } = this.opts;
    this.opts.source.start({
      snapshot: (objects, revision) => {
        this.desired = objects;
        this.desiredRevision = revision;
        this.kick();
      },
      health: (h) => {
        if (h.connected !== this.health.connected) this.healthSince = new Date().toISOString();
        this.health = h;
        this.opts.onHealth?.(h);
        log(h.connected ? 'info' : 'warn', h.connected ? 'datastore connected' : 'datastore unreachable', {
          source: this.opts.source.describe,
          ...(h.error === undefined ? {} : { error: h.error }),
          ...(h.revision === undefined ? {} : { revision: h.revision }),
        });
      },
      log: (level, msg, fields) => log(level, msg, fields),
    });
    this.resync = setInterval(() => {
      this.verifyNext = true;
      this.kick();
    }, this.opts.resyncMs ?? 30_000);
  }

  /** Stops watching and waits for a running sync; the kernel keeps the last state. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resync);
    this.wake?.();
    await this.opts.source.stop();
    await this.running;
  }

  /** Resolves when no sync is running or pending (for tests and `--once`). */
  async idle(): Promise<void> {
    for (let i = 0; i < 1000 && this.running !== undefined; i++) await this.running;
  }

  /** Asks for a sync soon (e.g. the endpoints registry changed); collapses with any pending one. */
  requestSync(): void {
    this.kick();
  }

  private kick(): void {
    if (this.stopped) return;
    this.dirty = true;
    if (this.running !== undefined) return;
    this.running = this.drain()
      .catch((e: unknown) => this.opts.log('error', 'sync loop failed', { error: errorText(e) }))
      .finally(() => {
        this.running = undefined;
      });
  }

  private async drain(): Promise<void> {
    let attempt = 0;
    const max = this.opts.maxRetries ?? 5;
    while (this.dirty && !this.stopped) {
      this.dirty = false;
      if (await this.syncOnce()) {
        attempt = 0;
        continue;
      }
      attempt += 1;
      if (attempt > max) {
        this.opts.log('error', 'apply keeps failing; waiting for the next change or resync', {
          attempts: attempt,
        });
        return;
      }
      this.dirty = true;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, backoffMs(attempt, { maxMs: 10_000 }));
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  private record(event: AgentEvent): void {
    const timed: TimedEvent = { ...event, time: new Date().toISOString() };
    this.events.push(timed);
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
    this.opts.onEvent?.(timed);
    if (event.type === 'object-rejected') {
      this.opts.log('warn', 'object rejected', {
        id: event.id,
        kept: event.kept,
        diagnostics: event.diagnostics.map((d) => ({
          file: d.file,
          doc: d.doc,
          path: d.path,
          message: d.message,
        })),
      });
    } else this.opts.log('info', 'object accepted again', { id: event.id });
  }

  /** One reconcile + apply; false when the apply failed. */
  private async syncOnce(): Promise<boolean> {
    const desired = this.desired;
    if (desired === undefined) return true; // no snapshot yet: leave the kernel as it is
    const started = performance.now();
    const revision = this.desiredRevision;
    const registered = this.opts.registered?.();
    const r = reconcile(desired, this.objects, {
      node: this.opts.node,
      compiler: this.datapath,
      models: this.models,
      resolver: this.resolver,
      ...(registered === undefined ? {} : { registered }),
    });
    this.reportUnsupported(r.unsupported.map(formatUnsupported));
    this.objects = r.objects;
    for (const e of r.events) this.record(e);
    for (const w of r.warnings)
      this.opts.log('debug', 'object warning', { file: w.file, path: w.path, message: w.message });
    let rec: SyncRecord;
    try {
      const verify = this.verifyNext;
      this.verifyNext = false;
      await this.opts.beforeApply?.({ model: r.model, rules: r.rules });
      const res = await this.datapath.apply(r.table, { verify });
      rec = {
        at: new Date().toISOString(),
        ms: Math.round((performance.now() - started) * 10) / 10,
        ok: true,
        changed: res.changed,
        summary: res.summary,
        touched: res.touched,
        counts: r.counts,
        ...(revision === undefined ? {} : { revision }),
      };
      this.applied = true;
      this.generation += 1;
      await this.notifyApplied({
        model: r.model,
        rules: r.rules,
        changed: res.changed,
        generation: this.generation,
      });
    } catch (e) {
      this.failures += 1;
      rec = {
        at: new Date().toISOString(),
        ms: Math.round((performance.now() - started) * 10) / 10,
        ok: false,
        error: errorText(e),
        changed: false,
        summary: {},
        touched: { chains: [], sets: [] },
        counts: r.counts,
        ...(revision === undefined ? {} : { revision }),
      };
    }
    this.syncs += 1;
    this.lastSync = rec;
    // Only now: a writer waiting for its revision then also finds this sync's record.
    if (rec.ok) this.appliedRevision = revision;
    if (rec.changed) this.lastChange = rec;
    this.opts.onSync?.(rec);
    if (rec.ok && rec.changed) this.opts.log('info', 'synced', { ms: rec.ms, ...rec.summary });
    else if (!rec.ok) this.opts.log('error', 'apply failed', { error: rec.error });
    return rec.ok;
  }

  private reportUnsupported(lines: readonly string[]): void {
    const text = lines.join('\n');
    if (text === this.unsupported) return;
    this.unsupported = text;
    if (lines.length > 0)
      this.opts.log('warn', 'the datapath cannot enforce part of the policy; left out', {
        datapath: this.datapath.backend.name,
        unsupported: lines,
      });
  }

  private async notifyApplied(applied: AppliedState): Promise<void> {
    try {
      await this.opts.onApplied?.(applied);
    } catch (e) {
      this.opts.log('error', 'post-apply hook failed', { error: errorText(e) });
    }
  }

  status(): AgentStatus {
    const state: AgentState =
      this.lastSync?.ok === false
        ? 'error'
        : !this.health.connected
          ? 'degraded'
          : !this.applied
            ? 'starting'
            : 'ready';
    const rejected = [...this.objects]
      .filter(([, s]) => s.good !== s.text)
      .map(([id, s]) => ({
        id,
        kept: s.good === undefined ? ('nothing' as const) : ('last-good' as const),
        diagnostics: s.diagnostics.filter((d) => d.severity === 'error'),
      }));
    return {
      node: this.opts.node,
      ...(this.opts.netns === undefined ? {} : { netns: this.opts.netns }),
      pid: process.pid,
      startedAt: this.startedAt,
      state,
      datastore: {
        source: this.opts.source.describe,
        connected: this.health.connected,
        ...(this.health.error === undefined || this.health.connected ? {} : { error: this.health.error }),
        ...(this.health.revision === undefined ? {} : { revision: this.health.revision }),
        since: this.healthSince,
      },
      objects: { total: this.objects.size, rejected },
      syncs: this.syncs,
      failures: this.failures,
      ...(this.lastSync === undefined ? {} : { lastSync: this.lastSync }),
      ...(this.appliedRevision === undefined ? {} : { appliedRevision: this.appliedRevision }),
      ...(this.opts.cni === undefined ? {} : { cni: this.opts.cni() }),
      ...(this.lastChange === undefined ? {} : { lastChange: this.lastChange }),
      events: [...this.events],
      ...(this.metricsAddress === undefined ? {} : { metrics: this.metricsAddress }),
      ...(this.opts.strict === undefined ? {} : { strict: this.opts.strict() }),
      ...l7Field(this.opts.l7?.()),
    };
  }
}

function l7Field(s: L7Status | undefined): { l7?: L7Status } {
  return s === undefined ? {} : { l7: s };
}
