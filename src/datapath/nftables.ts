/**
 * The nftables datapath as a backend (backend.ts): the incremental compiler of compile/nftables.ts and the
 * applier of apply/nftables.ts, which diffs against what it last applied and sends one transaction.
 */
import type {
  ApplyResult,
  Capabilities,
  DatapathBackend,
  DatapathTarget,
  NodeDatapath,
  StateSize,
  Touched,
} from './backend.js';
import { createNftApplier, readNftTable, teardownNftables } from './apply/nftables.js';
import { changesetSummary } from './compile/nft-diff.js';
import type { NftChangeset } from './compile/nft-diff.js';
import type { NftTable, TableFingerprint } from './compile/nft-state.js';
import { createNftCompiler } from './compile/nftables.js';

const CAPABILITIES: Capabilities = {
  statefulReplies: true,
  tiers: true,
  reject: true,
  log: true,
  strictCut: true,
  l7Redirect: false,
  incrementalApply: true,
  nestedExclusions: true,
  icmpCodeWithoutType: true,
};

/** What the changeset touched, by name. */
export function touchedBy(c: NftChangeset): Touched {
  const chains = new Set([
    ...c.addChains.map((x) => x.name),
    ...c.replaceChains.map((x) => x.name),
    ...c.deleteChains,
  ]);
  const sets = new Set([
    ...c.addSets.map((s) => s.name),
    ...c.addMaps.map((m) => m.name),
    ...c.setElements.map((s) => s.name),
    ...c.mapElements.map((m) => m.name),
    ...c.deleteSets,
    ...c.deleteMaps,
  ]);
  return { chains: [...chains].sort(), sets: [...sets].sort() };
}

function elements(t: Pick<NftTable, 'sets' | 'maps'>): number {
  return (
    t.sets.reduce((n, s) => n + s.elements.length, 0) + t.maps.reduce((n, m) => n + m.elements.length, 0)
  );
}

/** The size of a table as compiled or as read back (whose chains hold rule ids, not rules). */
function sizeOf(t: NftTable | TableFingerprint, rules: number): StateSize {
  return { chains: t.chains.length, sets: t.sets.length, maps: t.maps.length, elements: elements(t), rules };
}

export function tableSize(t: NftTable): StateSize {
  return sizeOf(
    t,
    t.chains.reduce((n, c) => n + c.rules.length, 0),
  );
}

function fingerprintSize(t: TableFingerprint): StateSize {
  return sizeOf(
    t,
    t.chains.reduce((n, c) => n + c.ruleIds.length, 0),
  );
}

function create(target: DatapathTarget = {}): NodeDatapath<NftTable> {
  const compiler = createNftCompiler();
  const applier = createNftApplier(target.netns === undefined ? {} : { netns: target.netns });
  return {
    backend: nftablesBackend,
    target,
    compile(rules) {
      const desired = compiler.compile(rules);
      return { desired, size: tableSize(desired), unsupported: [] };
    },
    async apply(desired, options = {}): Promise<ApplyResult> {
      const r = await applier.apply(desired, options);
      return { changed: r.changed, summary: changesetSummary(r.changeset), touched: touchedBy(r.changeset) };
    },
    async readBack() {
      const k = await readNftTable(applier.target);
      return k === undefined ? undefined : { size: fingerprintSize(k.table), unreadable: k.unreadable };
    },
    async teardown() {
      // The applier's memory of the table is about to be wrong: its next apply reads the kernel.
      applier.resync();
      return teardownNftables(applier.target);
    },
  };
}

export const nftablesBackend: DatapathBackend<NftTable> = {
  name: 'nftables',
  description: 'one nftables table: per-endpoint chains, one set lookup per verdict, diffed transactions',
  capabilities: CAPABILITIES,
  tools: ['nft'],
  create,
};
