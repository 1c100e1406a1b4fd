/**
 * Applies the iptables baseline: a full `iptables-restore` / `ip6tables-restore` of the filter table, in
 * one netns. Full restore (not --noflush) keeps the baseline simple and stale-chain free, and is why it
 * must only be pointed at a namespace whose filter table Palisade owns (a lab node, a test netns). Uses
 * whichever `iptables-restore` the system provides (iptables-nft on current distributions; see
 * `iptablesVariant`).
 */
import type { IptablesScripts } from '../compile/iptables.js';
import { run, runChecked } from '../../util/process.js';

export interface IptablesTarget {
  readonly netns?: string;
}

const EMPTY_FILTER = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n';

function opts(target: IptablesTarget, input: string): { netns?: string; input: string } {
  return target.netns === undefined ? { input } : { netns: target.netns, input };
}

/** "nf_tables" or "legacy": the backend of the `iptables-restore` on PATH. */
export async function iptablesVariant(): Promise<string> {
  const r = await run(['iptables-restore', '--version']);
  return /nf_tables/.test(r.stdout + r.stderr) ? 'nf_tables' : 'legacy';
}

export async function applyIptables(scripts: IptablesScripts, target: IptablesTarget = {}): Promise<void> {
  await runChecked(['iptables-restore'], opts(target, scripts.v4));
  await runChecked(['ip6tables-restore'], opts(target, scripts.v6));
}

/** Empties the filter table again (both families). */
export async function teardownIptables(target: IptablesTarget = {}): Promise<void> {
  await runChecked(['iptables-restore'], opts(target, EMPTY_FILTER));
  await runChecked(['ip6tables-restore'], opts(target, EMPTY_FILTER));
}
