/**
 * Desired nftables table → kernel: read what the kernel holds, diff, and send the difference as ONE
 * `nft -f` transaction (the kernel never sees a half-applied policy). Re-applying the same state sends
 * nothing. The only I/O of the nftables datapath.
 *
 * `createNftApplier` keeps the table it last applied successfully to one target and diffs the next one
 * against that instead of reading the kernel back (at 10k elements the read and parse cost more than the
 * write). It reads the kernel on first use, after any failed transaction, after `resync()`, and whenever
 * asked to `verify` (which is how hand edits get repaired).
 */
import { diffTables, isEmptyChangeset, renderChangeset } from '../compile/nft-diff.js';
import type { NftChangeset } from '../compile/nft-diff.js';
import type { NftTable, TableFingerprint } from '../compile/nft-state.js';
import { fingerprint } from '../compile/nft-state.js';
import { TABLE_NAME } from '../compile/nftables.js';
import { CommandError, run, runChecked } from '../../util/process.js';
import { parseNftJson } from './nft-json.js';

export interface NftTarget {
  /** Named network namespace to act in; absent: the caller's own. */
  readonly netns?: string;
  /** Defaults to `palisade`. */
  readonly table?: string;
}

export interface KernelTable {
  readonly table: TableFingerprint;
  readonly unreadable: readonly string[];
}

export interface NftApplyResult {
  /** What the diff started from: the kernel read back, or the applier's memory of its last apply. */
  readonly source: 'kernel' | 'cache';
  readonly changeset: NftChangeset;
  /** The transaction sent; '' when nothing changed and nothing was sent. */
  readonly script: string;
  readonly changed: boolean;
  readonly unreadable: readonly string[];
}

export type Outcome<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: Error };

const NFT = 'nft';

function isMissingTable(stderr: string): boolean {
  return /No such file or directory/.test(stderr);
}

/** The kernel's copy of the table; undefined when it does not exist. */
export async function readNftTable(target: NftTarget = {}): Promise<KernelTable | undefined> {
  const argv = [NFT, '-j', '-n', 'list', 'table', 'inet', target.table ?? TABLE_NAME];
  const r = await run(argv, target.netns === undefined ? {} : { netns: target.netns });
  if (r.code !== 0) {
    if (isMissingTable(r.stderr)) return undefined;
    throw new CommandError(argv, `exited with ${r.code}`, r.stderr, r.code);
  }
  return parseNftJson(r.stdout);
}

function plan(
  source: NftApplyResult['source'],
  current: KernelTable | undefined,
  desired: NftTable,
): NftApplyResult {
  const changeset = diffTables(current?.table, desired);
  const changed = !isEmptyChangeset(changeset);
  return {
    source,
    changeset,
    script: changed ? renderChangeset(changeset) : '',
    changed,
    unreadable: current?.unreadable ?? [],
  };
}

/** What `applyNftables` would send, without sending it. */
export async function planNftables(desired: NftTable, target: NftTarget = {}): Promise<NftApplyResult> {
  return plan('kernel', await readNftTable({ ...target, table: desired.name }), desired);
}

async function send(p: NftApplyResult, target: NftTarget): Promise<void> {
  if (!p.changed) return;
  await runChecked([NFT, '-f', '-'], {
    input: p.script,
    ...(target.netns === undefined ? {} : { netns: target.netns }),
  });
}

/** Brings the kernel table to `desired` in one transaction; throws CommandError if nft refuses. */
export async function applyNftables(desired: NftTable, target: NftTarget = {}): Promise<NftApplyResult> {
  const p = await planNftables(desired, target);
  await send(p, target);
  return p;
}

export interface NftApplyOptions {
  /** Read the kernel back and diff against that, repairing hand edits (periodic resync). */
  readonly verify?: boolean;
}

/** `applyNftables` for one target, diffing against the last table it applied there. */
export interface NftApplier {
  readonly target: NftTarget;
  /** Brings the kernel to `desired`; applies run one at a time, in call order. */
  apply(desired: NftTable, options?: NftApplyOptions): Promise<NftApplyResult>;
  /** Forget the last applied table: the next apply reads the kernel (after a teardown, say). */
  resync(): void;
}

export function createNftApplier(target: NftTarget = {}): NftApplier {
  // The kernel's table as of our last successful transaction; undefined: unknown, read it.
  let last: { readonly name: string; readonly table: TableFingerprint } | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  // Bumped by resync(): an apply that was in flight then must not restore the memory it started from.
  let epoch = 0;

  const applyNow = async (desired: NftTable, options: NftApplyOptions): Promise<NftApplyResult> => {
    const started = epoch;
    const known = options.verify !== true && last?.name === desired.name ? last : undefined;
    // Invalid until this transaction is known to have gone through: a refused or interrupted `nft -f`
    // leaves the kernel as it was, which the memory may no longer match.
    last = undefined;
    let p: NftApplyResult;
    if (known) {
      p = plan('cache', { table: known.table, unreadable: [] }, desired);
      try {
        await send(p, target);
      } catch {
        // Someone else changed the table (a hand edit, a teardown): diff against what is really there.
        p = await planNftables(desired, target);
        await send(p, target);
      }
    } else {
      p = await planNftables(desired, target);
      await send(p, target);
    }
    if (epoch === started) last = { name: desired.name, table: fingerprint(desired) };
    return p;
  };

  return {
    target,
    apply(desired, options = {}) {
      const result = queue.then(() => applyNow(desired, options));
      queue = result.catch(() => undefined);
      return result;
    },
    resync() {
      epoch += 1;
      last = undefined;
    },
  };
}

/** `applyNftables` as a result instead of an exception. */
export async function tryApplyNftables(
  desired: NftTable,
  target: NftTarget = {},
): Promise<Outcome<NftApplyResult>> {
  try {
    return { ok: true, value: await applyNftables(desired, target) };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e : new Error(String(e)) };
  }
}

/** Removes the table (and with it every chain, set and map). True when there was one. */
export async function teardownNftables(target: NftTarget = {}): Promise<boolean> {
  const argv = [NFT, 'delete', 'table', 'inet', target.table ?? TABLE_NAME];
  const r = await run(argv, target.netns === undefined ? {} : { netns: target.netns });
  if (r.code === 0) return true;
  if (isMissingTable(r.stderr)) return false;
  throw new CommandError(argv, `exited with ${r.code}`, r.stderr, r.code);
}
