/**
 * The iptables baseline as a backend (backend.ts): compile/iptables.ts and apply/iptables.ts, a full
 * `iptables-restore` of the filter table on every apply, as classic iptables CNIs do. What it lacks is in
 * its capability record: no strict cut (its chains do not test the conntrack mark), no incremental apply,
 * and the two shapes compile/iptables.ts reports as unsupported.
 */
import type {
  Capabilities,
  DatapathBackend,
  DatapathTarget,
  KernelState,
  NodeDatapath,
  StateSize,
} from './backend.js';
import { applyIptables, teardownIptables } from './apply/iptables.js';
import { runChecked } from '../util/process.js';
import { compileIptables } from './compile/iptables.js';
import type { IptablesScripts } from './compile/iptables.js';

const CAPABILITIES: Capabilities = {
  statefulReplies: true,
  tiers: true,
  reject: true,
  log: true,
  strictCut: false,
  l7Redirect: false,
  incrementalApply: false,
  nestedExclusions: false,
  icmpCodeWithoutType: false,
};

const OWN_CHAIN = /^:(PAL-[^ ]+)/;

/** Palisade's chains and every rule of `iptables-save`/`iptables-restore` text. */
function scriptSize(texts: readonly string[]): StateSize {
  const lines = texts.flatMap((t) => t.split('\n'));
  return {
    chains: lines.filter((l) => OWN_CHAIN.test(l)).length,
    sets: 0,
    maps: 0,
    elements: 0,
    rules: lines.filter((l) => l.startsWith('-A ')).length,
  };
}

const countRules = (script: string): number => script.split('\n').filter((l) => l.startsWith('-A ')).length;

async function save(command: string, target: DatapathTarget): Promise<string> {
  return (
    await runChecked([command, '-t', 'filter'], target.netns === undefined ? {} : { netns: target.netns })
  ).stdout;
}

function create(target: DatapathTarget = {}): NodeDatapath<IptablesScripts> {
  return {
    backend: iptablesBackend,
    target,
    compile(rules) {
      const desired = compileIptables(rules);
      return { desired, size: scriptSize([desired.v4, desired.v6]), unsupported: desired.unsupported };
    },
    async apply(desired) {
      await applyIptables(desired, target);
      const chains = new Set(desired.v4.split('\n').flatMap((l) => OWN_CHAIN.exec(l)?.slice(1, 2) ?? []));
      // A full restore rewrites every chain, every time.
      return {
        changed: true,
        summary: { v4Rules: countRules(desired.v4), v6Rules: countRules(desired.v6) },
        touched: { chains: [...chains].sort(), sets: [] },
      };
    },
    async readBack(): Promise<KernelState | undefined> {
      const size = scriptSize([await save('iptables-save', target), await save('ip6tables-save', target)]);
      return size.chains === 0 ? undefined : { size, unreadable: [] };
    },
    async teardown() {
      // An empty restore always rewrites the filter table: there is no cheaper way to know it was empty.
      await teardownIptables(target);
      return true;
    },
  };
}

export const iptablesBackend: DatapathBackend<IptablesScripts> = {
  name: 'iptables',
  description: 'the baseline: rule lists in the filter table, restored whole by iptables-restore',
  capabilities: CAPABILITIES,
  tools: ['iptables-restore', 'ip6tables-restore', 'iptables-save', 'ip6tables-save'],
  create,
};
