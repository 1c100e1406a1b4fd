/**
 * The flow log's Prometheus series, registered on the agent's registry (AgentMetrics.flows). Verdicts are
 * counted per kernel event, before rate limiting, so they stay true under a flood; drops by policy are
 * counted from written lines with their `suppressed` counts, which carry the same attribution (same flow
 * key, same model).
 */
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import type { FlowRecord, FlowVerdict } from './record.js';

export class FlowMetrics {
  private readonly flows: Counter<'verdict'>;
  private readonly drops: Counter<'tier' | 'kind' | 'namespace' | 'name'>;
  private readonly suppressed: Counter;
  private readonly lost: Counter<'source'>;
  private readonly l7: Counter<'tier' | 'kind' | 'namespace' | 'name' | 'response'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.flows = new Counter({
      name: 'palisade_flows_total',
      help: 'New connections the kernel reported, by verdict (allowed: conntrack NEW; denied: nflog drops)',
      labelNames: ['verdict'],
      registers,
    });
    this.drops = new Counter({
      name: 'palisade_policy_drops_total',
      help: 'Denied packets by the policy that decided (empty labels: no attribution)',
      labelNames: ['tier', 'kind', 'namespace', 'name'],
      registers,
    });
    this.suppressed = new Counter({
      name: 'palisade_flow_records_suppressed_total',
      help: 'Flow events not written as lines by the per-flow-key rate limit',
      registers,
    });
    this.l7 = new Counter({
      name: 'palisade_l7_requests_total',
      help: 'HTTP requests the L7 proxy decided, by the policy that decided (empty: no L7 rule had a say) and what the client observed',
      labelNames: ['tier', 'kind', 'namespace', 'name', 'response'],
      registers,
    });
    this.lost = new Counter({
      name: 'palisade_flow_events_lost_total',
      help: 'Kernel socket overruns (ENOBUFS) that lost flow events, a lower bound on events lost',
      labelNames: ['source'],
      registers,
    });
  }

  /** One request the L7 proxy decided, by the policy that decided it and what the client observed. */
  l7Request(r: FlowRecord): void {
    const p = r.policy;
    this.l7.inc({
      tier: p?.tier ?? '',
      kind: p?.kind ?? '',
      namespace: p?.namespace ?? '',
      name: p?.name ?? '',
      response: r.l7?.response ?? '',
    });
  }

  event(verdict: FlowVerdict): void {
    this.flows.inc({ verdict });
  }

  written(r: FlowRecord): void {
    const n = r.suppressed ?? 0;
    if (n > 0) this.suppressed.inc(n);
    if (r.verdict !== 'denied' || r.type !== 'verdict') return;
    const p = r.policy;
    this.drops.inc(
      { tier: p?.tier ?? '', kind: p?.kind ?? '', namespace: p?.namespace ?? '', name: p?.name ?? '' },
      1 + n,
    );
  }

  suppressedUnreported(n: number): void {
    if (n > 0) this.suppressed.inc(n);
  }

  eventsLost(n: number, source: string): void {
    this.lost.inc({ source }, n);
  }
}
