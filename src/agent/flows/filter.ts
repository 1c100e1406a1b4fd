/** Which flow records a reader of the flow log wants (`palisade flows --verdict --pod --since --l7`). Pure. */
import type { FlowEndpoint, FlowRecord, FlowVerdict } from './record.js';

export interface FlowFilter {
  readonly verdict?: FlowVerdict;
  /** `ns/name`: either side. */
  readonly pod?: string;
  /** Epoch ms: records at or after. */
  readonly since?: number;
  /** Only requests the L7 proxy decided (`palisade flows --l7`). */
  readonly l7?: boolean;
}

function podKey(e: FlowEndpoint): string | undefined {
  return e.pod === undefined ? undefined : `${e.namespace ?? ''}/${e.pod}`;
}

export function matchesFilter(r: FlowRecord, f: FlowFilter): boolean {
  if (f.verdict !== undefined && r.verdict !== f.verdict) return false;
  if (f.pod !== undefined && podKey(r.source) !== f.pod && podKey(r.destination) !== f.pod) return false;
  if (f.since !== undefined && Date.parse(r.time) < f.since) return false;
  if (f.l7 === true && r.type !== 'l7') return false;
  return true;
}
