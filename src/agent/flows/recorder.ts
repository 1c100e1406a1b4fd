/**
 * The flow log of one agent: kernel events (reader.ts) → rate limit by flow key (rate-limit.ts) →
 * attribution against the model of the last apply (attribute.ts) → JSONL with rotation (writer.ts), with
 * metrics along the way. The limit comes before attribution so that a flood costs a parse and a map lookup
 * per event, not an engine evaluation.
 */
import { join } from 'node:path';
import type { AppliedState } from '../agent.js';
import { DENY_NFLOG_GROUP, NFLOG_GROUP } from '../../datapath/index.js';
import type { Logger } from '../log.js';
import { errorText } from '../sources/source.js';
import { attributeFlow, involvesLocalPod } from './attribute.js';
import type { AttributionContext } from './attribute.js';
import type { FlowMetrics } from './flow-metrics.js';
import { DEFAULT_RATE_LIMIT, FlowRateLimiter } from './rate-limit.js';
import type { RateLimitOptions } from './rate-limit.js';
import { FlowReader } from './reader.js';
import type { KernelFlow } from './reader.js';
import type { FlowRecord } from './record.js';
import { DEFAULT_ROTATION, RotatingWriter } from './writer.js';
import type { RotationOptions } from './writer.js';

/** `<state-dir>/flows/<node>.jsonl`: where `palisade agent` writes and `palisade flows` reads by default. */
export function flowLogPathFor(stateDir: string, node: string): string {
  return join(stateDir, 'flows', `${node}.jsonl`);
}

export interface FlowRecorderOptions {
  readonly node: string;
  readonly netns?: string;
  readonly path: string;
  readonly log: Logger;
  readonly metrics?: FlowMetrics;
  readonly rotation?: RotationOptions;
  readonly rateLimit?: RateLimitOptions;
  /** The helper binary (default dist/native/pal-flowd). */
  readonly binary?: string;
  readonly logGroup?: number;
  readonly denyGroup?: number;
  readonly now?: () => number;
}

/** Which events share a bucket: the same connection attempt from any source port, with the same outcome. */
export function flowKey(f: KernelFlow): string {
  const port = f.dport ?? (f.icmpType === undefined ? '' : `icmp${f.icmpType}`);
  return `${f.src}|${f.dst}|${f.proto}|${port}|${f.source}${f.group ?? ''}`;
}

export class FlowRecorder {
  private ctx: AttributionContext | undefined;
  private readonly limiter: FlowRateLimiter<KernelFlow>;
  /** The L7 proxy's requests, limited per (client, server, outcome) as kernel events are per flow key. */
  private readonly l7Limiter: FlowRateLimiter<FlowRecord>;
  private readonly writer: RotatingWriter;
  private readonly reader: FlowReader;
  private readonly now: () => number;
  private readonly denyGroup: number;
  private flushTimer: NodeJS.Timeout | undefined;
  private evictedReported = 0;
  private writeErrors = 0;

  constructor(private readonly opts: FlowRecorderOptions) {
    this.now = opts.now ?? Date.now;
    this.denyGroup = opts.denyGroup ?? DENY_NFLOG_GROUP;
    this.limiter = new FlowRateLimiter(opts.rateLimit ?? DEFAULT_RATE_LIMIT, this.now());
    this.l7Limiter = new FlowRateLimiter(opts.rateLimit ?? DEFAULT_RATE_LIMIT, this.now());
    this.writer = new RotatingWriter(opts.path, opts.rotation ?? DEFAULT_ROTATION);
    this.reader = new FlowReader({
      ...(opts.netns === undefined ? {} : { netns: opts.netns }),
      ...(opts.binary === undefined ? {} : { binary: opts.binary }),
      groups: [opts.logGroup ?? NFLOG_GROUP, this.denyGroup],
      log: opts.log,
      onFlow: (f) => this.handle(f),
      onLost: (n, source) => opts.metrics?.eventsLost(n, source),
    });
  }

  /** Starts the kernel reader; false when it cannot run (already logged), the agent goes on without it. */
  start(): boolean {
    try {
      this.writer.ensure();
    } catch (e) {
      this.opts.log('error', 'flow log cannot be created; lines will be retried', {
        path: this.opts.path,
        error: errorText(e),
      });
    }
    this.flushTimer = setInterval(() => this.flush(), 1000);
    this.flushTimer.unref();
    return this.reader.start();
  }

  /** The model and node rules the kernel now enforces: what the next events are attributed against. */
  applied(a: Pick<AppliedState, 'model' | 'rules'>): void {
    this.ctx = {
      node: this.opts.node,
      model: a.model,
      local: new Set(a.rules.endpoints.map((e) => e.key)),
    };
  }

  /** One kernel event: counted, rate limited, attributed, written. */
  private handle(f: KernelFlow): void {
    // Conntrack sees every connection in the netns (the node's own too); only pods' were judged by us.
    if (f.source === 'ct-new' && (this.ctx === undefined || !involvesLocalPod(f, this.ctx))) return;
    const verdict = f.source === 'ct-new' ? 'allowed' : f.group === this.denyGroup ? 'denied' : undefined;
    if (verdict !== undefined) this.opts.metrics?.event(verdict);
    const admitted = this.limiter.admit(flowKey(f), f, this.now());
    if (admitted !== undefined) this.write(admitted.value, admitted.suppressed);
    this.reportEvicted();
  }

  /**
   * One request the L7 proxy decided (attributed by the caller, agent/flows/l7-record.ts): counted per
   * policy before rate limiting, then written like kernel events, at most a few lines per second for
   * the same client, server and outcome, with the rest counted in `suppressed`.
   */
  l7(record: FlowRecord, key: string): void {
    this.opts.metrics?.l7Request(record);
    const admitted = this.l7Limiter.admit(key, record, this.now());
    if (admitted !== undefined) this.writeRecord(admitted.value, admitted.suppressed);
  }

  /** Writes what keys gone quiet held back; runs every second and at stop. */
  private flush(): void {
    for (const a of this.l7Limiter.flush(this.now())) this.writeRecord(a.value, a.suppressed);
    for (const a of this.limiter.flush(this.now())) this.write(a.value, a.suppressed);
    this.reportEvicted();
  }

  private reportEvicted(): void {
    const n = this.limiter.evictedSuppressed - this.evictedReported;
    if (n > 0) this.opts.metrics?.suppressedUnreported(n);
    this.evictedReported = this.limiter.evictedSuppressed;
  }

  private write(f: KernelFlow, suppressed: number): void {
    let record: FlowRecord;
    try {
      const r = attributeFlow(f, this.ctx, { denyGroup: this.denyGroup });
      record = suppressed > 0 ? { ...r, suppressed } : r;
    } catch (e) {
      // A bug in attribution must cost the line's attribution, not the agent.
      this.opts.log('error', 'flow attribution failed', { error: errorText(e) });
      return;
    }
    this.writeRecord(record, 0);
  }

  private writeRecord(r: FlowRecord, suppressed: number): void {
    const record = suppressed > 0 ? { ...r, suppressed } : r;
    try {
      this.writer.write(JSON.stringify(record));
      this.opts.metrics?.written(record);
    } catch (e) {
      this.writeErrors += 1;
      if (this.writeErrors === 1 || this.writeErrors % 1000 === 0)
        this.opts.log('error', 'flow log write failed', {
          path: this.opts.path,
          error: errorText(e),
          count: this.writeErrors,
        });
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.reader.stop();
    this.flush();
    this.writer.close();
  }
}
