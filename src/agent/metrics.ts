/**
 * Prometheus metrics of the agent on a loopback HTTP port. `prom-client` provides the registry, the
 * histogram buckets and the text exposition format (with its escaping rules), which is what scrapers
 * parse; it has no dependencies of its own beyond two tiny ones, and is what Node services use.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { isIP } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SyncRecord, TimedEvent } from './agent.js';
import { FlowMetrics } from './flows/flow-metrics.js';
import type { SourceHealth } from './sources/source.js';

export class MetricsAddressError extends Error {
  override readonly name = 'MetricsAddressError';
}

/** `127.0.0.1:9090`, `[::1]:9090`, `localhost:9090`; anything not loopback is refused. */
export function parseMetricsAddr(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (host === undefined || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new MetricsAddressError(`--metrics-addr ${text}: expected HOST:PORT, e.g. 127.0.0.1:9464`);
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (!loopback)
    throw new MetricsAddressError(
      `--metrics-addr ${text}: metrics are served on loopback only (127.x or ::1)`,
    );
  return { host: host === 'localhost' ? '127.0.0.1' : host, port };
}

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly endpoints: Gauge;
  private readonly policies: Gauge;
  private readonly rules: Gauge;
  private readonly setElements: Gauge;
  private readonly datastoreUp: Gauge;
  private readonly syncDuration: Histogram<'result'>;
  private readonly syncs: Counter<'result'>;
  private readonly rejected: Counter;
  /** Flow log series: verdicts, drops by policy, suppressed lines, lost events. */
  readonly flows: FlowMetrics;
  private readonly strictCut: Counter;

  constructor(node: string) {
    this.registry.setDefaultLabels({ node });
    const registers = [this.registry];
    this.flows = new FlowMetrics(this.registry);
    this.endpoints = new Gauge({
      name: 'palisade_endpoints',
      help: 'Endpoints of this node with rules programmed',
      registers,
    });
    this.policies = new Gauge({
      name: 'palisade_policies',
      help: 'Policies applying to endpoints of this node',
      registers,
    });
    this.rules = new Gauge({
      name: 'palisade_rules',
      help: 'Resolved rules programmed for this node',
      registers,
    });
    this.setElements = new Gauge({
      name: 'palisade_set_elements',
      help: 'Elements of the nftables sets and maps programmed',
      registers,
    });
    this.datastoreUp = new Gauge({
      name: 'palisade_datastore_up',
      help: '1 when the datastore is reachable',
      registers,
    });
    this.syncDuration = new Histogram({
      name: 'palisade_sync_duration_seconds',
      help: 'Reconcile plus apply, per sync',
      labelNames: ['result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.syncs = new Counter({
      name: 'palisade_syncs_total',
      help: 'Syncs by result',
      labelNames: ['result'],
      registers,
    });
    this.rejected = new Counter({
      name: 'palisade_objects_rejected_total',
      help: 'Datastore objects rejected as invalid',
      registers,
    });
    this.strictCut = new Counter({
      name: 'palisade_strict_cut_connections_total',
      help: 'Established connections cut by strict mode after a policy change stopped allowing them',
      registers,
    });
  }

  sync(s: SyncRecord): void {
    const result = s.ok ? 'ok' : 'error';
    this.syncDuration.observe({ result }, s.ms / 1000);
    this.syncs.inc({ result });
    if (!s.ok) return;
    this.endpoints.set(s.counts.endpoints);
    this.policies.set(s.counts.policiesOnNode);
    this.rules.set(s.counts.rules);
    this.setElements.set(s.counts.setElements);
  }

  event(e: TimedEvent): void {
    if (e.type === 'object-rejected') this.rejected.inc();
  }

  strictCuts(n: number): void {
    this.strictCut.inc(n);
  }

  health(h: SourceHealth): void {
    this.datastoreUp.set(h.connected ? 1 : 0);
  }

  /** Serves GET /metrics on host:port; resolves with the bound address (port 0 picks one). */
  async serve(host: string, port: number): Promise<{ address: string; close(): Promise<void> }> {
    const server: Server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
        res.writeHead(404).end('not found\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500).end(`${e instanceof Error ? e.message : String(e)}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address();
    const bound = typeof a === 'object' && a !== null ? a.port : port;
    return {
      address: `${host.includes(':') ? `[${host}]` : host}:${bound}`,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }
}
