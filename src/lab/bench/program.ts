/**
 * Time to program a rule set, and to change one policy on top of it, through `enforceLab` (the path the
 * lab and the agent use: model, per-node resolve and compile, read back, diff, apply). Two clocks: wall
 * time around the whole call, and the slowest node's own time as the enforcer reports it (resolve,
 * compile, read back, apply; without building the model). Turning manifests into IR is left out: the
 * agent converts an object when it arrives, not when the datapath is programmed.
 */
import { performance } from 'node:perf_hooks';
import type { Cluster } from '../../ir/endpoint.js';
import type { Policy } from '../../ir/policy.js';
import type { DatapathKind, EnforceReport, EnforceableLab } from '../enforce.js';
import { enforceLab } from '../enforce.js';

export interface Programmed {
  readonly wallMs: number;
  /** The slowest node's own time (nodes are programmed in parallel). */
  readonly applierMs: number;
  readonly report: EnforceReport;
}

const round1 = (ms: number): number => Math.round(ms * 10) / 10;

export async function enforceTimed(
  lab: EnforceableLab,
  cluster: Cluster,
  policies: readonly Policy[],
  datapath: DatapathKind,
): Promise<Programmed> {
  const started = performance.now();
  // As the agent between resyncs: diff against what was last applied, not a read-back of the kernel.
  const report = await enforceLab(lab, { cluster, policies }, { datapath, verify: false });
  const wallMs = round1(performance.now() - started);
  return { wallMs, applierMs: round1(Math.max(0, ...report.nodes.map((n) => n.ms))), report };
}
