/** Which flow records a reader of the flow log wants (`palisade flows --verdict --pod --since`). Pure. */
import type { FlowEndpoint, FlowRecord, FlowVerdict } from './record.js';

export interface FlowFilter {
  readonly verdict?: FlowVerdict;
  /** `ns/name`: either side. */
  readonly pod?: string;
  /** Epoch ms: records at or after. */
  readonly since?: number;
}

function podKey(e: FlowEndpoint): string | undefined {
  return e.pod === undefined ? undefined : `${e.namespace ?? ''}/${e.pod}`;
}

export function matchesFilter(r: FlowRecord, f: FlowFilter): boolean {
  if (f.verdict !== undefined && r.verdict !== f.verdict) return false;
  if (f.pod !== undefined && podKey(r.source) !== f.pod && podKey(r.destination) !== f.pod) return false;
  if (f.since !== undefined && Date.parse(r.time) < f.since) return false;
  return true;
}
