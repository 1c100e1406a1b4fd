/**
 * Desired nftables table → kernel: read what the kernel holds, diff, and send the difference as ONE
 * `nft -f` transaction (the kernel never sees a half-applied policy). Re-applying the same state sends
 * nothing. The only I/O of the nftables datapath.
 */
import { diffTables, isEmptyChangeset, renderChangeset } from '../compile/nft-diff.js';
import type { NftChangeset } from '../compile/nft-diff.js';
import type { NftTable, TableFingerprint } from '../compile/nft-state.js';
import { TABLE_NAME } from '../compile/nftables.js';
import { DatapathCommandError, run, runChecked } from './exec.js';
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
    throw new DatapathCommandError(argv, r.code, r.stderr);
  }
  return parseNftJson(r.stdout);
}

/** What `applyNftables` would send, without sending it. */
export async function planNftables(desired: NftTable, target: NftTarget = {}): Promise<NftApplyResult> {
  const current = await readNftTable({ ...target, table: desired.name });
  const changeset = diffTables(current?.table, desired);
  const changed = !isEmptyChangeset(changeset);
  return {
    changeset,
    script: changed ? renderChangeset(changeset) : '',
    changed,
    unreadable: current?.unreadable ?? [],
  };
}

/** Brings the kernel table to `desired` in one transaction; throws DatapathCommandError if nft refuses. */
export async function applyNftables(desired: NftTable, target: NftTarget = {}): Promise<NftApplyResult> {
  const plan = await planNftables(desired, target);
  if (plan.changed) {
    await runChecked([NFT, '-f', '-'], {
      input: plan.script,
      ...(target.netns === undefined ? {} : { netns: target.netns }),
    });
  }
  return plan;
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
  throw new DatapathCommandError(argv, r.code, r.stderr);
}
