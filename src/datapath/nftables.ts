/**
 * The nftables datapath as a backend (backend.ts): the incremental compiler of compile/nftables.ts and the
 * applier of apply/nftables.ts, which diffs against what it last applied and sends one transaction, with
 * the policy routing L7 steering needs (apply/l7-routing.ts) kept in step around that transaction.
 */
import type { Family } from '../ir/cidr.js';
import type {
  ApplyOptions,
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
import { createNftCompiler, steeredFamilies } from './compile/nftables.js';
import { readL7Routing, syncL7Routing } from './apply/l7-routing.js';
import { L7_ROUTE_TABLE } from './l7-steering.js';

const CAPABILITIES: Capabilities = {
  statefulReplies: true,
  tiers: true,
  reject: true,
  log: true,
  strictCut: true,
  l7Redirect: true,
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

const sameFamilies = (a: readonly Family[], b: readonly Family[]): boolean =>
  a.length === b.length && a.every((f, i) => f === b[i]);

function create(target: DatapathTarget = {}): NodeDatapath<NftTable> {
  const compiler = createNftCompiler();
  const where = target.netns === undefined ? {} : { netns: target.netns };
  const applier = createNftApplier(where);
  // The families whose L7 policy routing our last apply left in place; undefined: unknown, look.
  let routed: readonly Family[] | undefined;
  // Applies and teardowns run one at a time, in call order: the routing steps sit around the
  // transaction, and must not interleave with another call's.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const result = queue.then(fn);
    queue = result.catch(() => undefined);
    return result;
  };

  const applyNow = async (desired: NftTable, options: ApplyOptions): Promise<ApplyResult> => {
    const want = steeredFamilies(desired);
    const known = options.verify !== true && routed !== undefined && sameFamilies(routed, want);
    routed = undefined;
    // Routing for a newly steered family comes before the transaction that marks its packets (else they
    // would be routed as usual, past the proxy), and goes after the one that stops marking them.
    let routing = known ? false : await syncL7Routing(want, 'add', where);
    const r = await applier.apply(desired, options);
    if (!known) routing = (await syncL7Routing(want, 'remove', where)) || routing;
    routed = want;
    return {
      changed: r.changed || routing,
      summary: { ...changesetSummary(r.changeset), ...(routing ? { l7Routing: 1 } : {}) },
      touched: touchedBy(r.changeset),
    };
  };

  return {
    backend: nftablesBackend,
    target,
    compile(rules) {
      const desired = compiler.compile(rules);
      return { desired, size: tableSize(desired), unsupported: [] };
    },
    apply(desired, options = {}): Promise<ApplyResult> {
      return serial(() => applyNow(desired, options));
    },
    async readBack() {
      const k = await readNftTable(applier.target);
      if (k === undefined) return undefined;
      // The table steers, but packets it marks would not reach the proxy without the policy routing.
      const steered = steeredFamilies(k.table);
      const routed = steered.length === 0 ? [] : await readL7Routing(where);
      const missing = steered
        .filter((f) => !routed.includes(f))
        .map((f) => `L7 policy routing (fwmark → table ${L7_ROUTE_TABLE}) for IPv${f} is missing`);
      return { size: fingerprintSize(k.table), unreadable: [...k.unreadable, ...missing] };
    },
    teardown() {
      return serial(async () => {
        // The applier's memory of the table is about to be wrong: its next apply reads the kernel.
        applier.resync();
        routed = undefined;
        const table = await teardownNftables(applier.target);
        // After the table: nothing marks packets any more once it is gone.
        const routing = await syncL7Routing([], 'remove', where);
        return table || routing;
      });
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
