/**
 * Probe == analyze: a measured matrix checked against the computed one (and, in the case tables, against
 * the expected one), cell by cell. A cell that timed out where the reference allows it gets a second,
 * longer look before it counts: an answer proves a pass, while a timeout under load proves nothing.
 *
 * How a cell is probed again is the caller's: a lab in this process probes directly (labReprobe), the
 * demo asks the lab daemon.
 */
import type { Protocol } from '../ir/endpoint.js';
import { mapLimit } from './netns.js';
import type { MeasuredEntry, MeasuredMatrix, ProbeableLab } from './probe.js';
import { probeMatrix } from './probe.js';

export interface Cell {
  readonly from: string;
  readonly to: string;
  readonly port: number;
  readonly protocol: Protocol;
}

/** A cell with the verdict a reference (the analyzer, a case table, upstream's truth table) gives it. */
export interface ReferenceCell extends Cell {
  readonly allowed: boolean;
}

/** `TCP/80 ns/a -> ns/b`: how every report names a cell. */
export const cellKey = (c: Cell): string => `${c.protocol}/${c.port} ${c.from} -> ${c.to}`;

/** Probes one cell again with a longer timeout; undefined when the cell cannot be probed any more. */
export type Reprobe = (cell: Cell, timeoutMs: number) => Promise<MeasuredEntry | undefined>;

export interface ConfirmOptions {
  /** Timeout of a second look. */
  readonly confirmMs: number;
  /** Second looks per doubtful cell; only another timeout earns one more. */
  readonly attempts: number;
  /** Second looks in flight at once, so that a hiccup affecting many cells costs seconds, not cells × seconds. */
  readonly concurrency: number;
}

export interface Confirmed {
  /** The measured matrix with each doubtful cell replaced by its last second look. */
  readonly matrix: MeasuredMatrix;
  /** Cells that timed out though the reference allows them, and answered on a second look. */
  readonly slow: number;
}

/** Gives every cell that timed out where `reference` allows it up to `attempts` second looks. */
export async function confirmTimeouts(
  measured: MeasuredMatrix,
  reference: readonly ReferenceCell[],
  reprobe: Reprobe,
  opts: ConfirmOptions,
): Promise<Confirmed> {
  const allowed = new Map(reference.map((c) => [cellKey(c), c.allowed]));
  const doubtful = measured.results.filter((r) => r.result === 'timeout' && allowed.get(cellKey(r)) === true);
  if (doubtful.length === 0) return { matrix: measured, slow: 0 };
  const again = await mapLimit(doubtful, opts.concurrency, async (r) => {
    let last: MeasuredEntry | undefined;
    for (
      let attempt = 0;
      attempt < opts.attempts && (last === undefined || last.result === 'timeout');
      attempt++
    )
      last = (await reprobe(r, opts.confirmMs)) ?? last;
    return last;
  });
  const byKey = new Map<string, MeasuredEntry>();
  for (const m of again) if (m !== undefined) byKey.set(cellKey(m), m);
  const slow = [...byKey.values()].filter((m) => m.allowed).length;
  return {
    matrix: { pods: measured.pods, results: measured.results.map((r) => byKey.get(cellKey(r)) ?? r) },
    slow,
  };
}

/** A second look through a lab running in this process: the same probe as probeMatrix, on one cell. */
export function labReprobe(lab: ProbeableLab): Reprobe {
  return async (cell, timeoutMs) => {
    const m = await probeMatrix(lab, [cell], { timeoutMs, concurrency: 1, from: [cell.from], to: [cell.to] });
    return m.results[0];
  };
}

/** Where probe, analyzer and expected table disagree. */
export type Mismatch =
  | { readonly code: 'cell-set'; readonly measured: number; readonly computed: number }
  | { readonly code: 'expected-count'; readonly expected: number; readonly measured: number }
  | {
      readonly code: 'cell';
      readonly cell: MeasuredEntry;
      /** The analyzer's verdict; undefined when it has no such cell. */
      readonly analyzed: boolean | undefined;
      /** Only when an expected table was given; undefined inside it when the table has no such cell. */
      readonly expected?: { readonly allowed: boolean | undefined };
    };

/**
 * Every disagreement between the measured cells, the computed ones and, when given, the expected ones:
 * both matrices must list the same cells in the same order, and every measured verdict must equal the
 * others.
 */
export function compareMatrices(
  measured: readonly MeasuredEntry[],
  computed: readonly ReferenceCell[],
  expected?: readonly ReferenceCell[],
): Mismatch[] {
  const out: Mismatch[] = [];
  const order = (xs: readonly Cell[]): string => xs.map(cellKey).join('\n');
  if (order(measured) !== order(computed))
    out.push({ code: 'cell-set', measured: measured.length, computed: computed.length });
  if (expected && expected.length !== measured.length)
    out.push({ code: 'expected-count', expected: expected.length, measured: measured.length });
  const analyzer = new Map(computed.map((c) => [cellKey(c), c.allowed]));
  const table = new Map((expected ?? []).map((c) => [cellKey(c), c.allowed]));
  for (const cell of measured) {
    const key = cellKey(cell);
    const analyzed = analyzer.get(key);
    const want = table.get(key);
    if (cell.allowed === analyzed && (expected === undefined || cell.allowed === want)) continue;
    out.push({
      code: 'cell',
      cell,
      analyzed,
      ...(expected === undefined ? {} : { expected: { allowed: want } }),
    });
  }
  return out;
}

const verdict = (b: boolean | undefined): string => (b === undefined ? 'missing' : b ? 'allowed' : 'denied');

/** One line per mismatch, for humans. */
export function formatMismatch(m: Mismatch): string {
  switch (m.code) {
    case 'cell-set':
      return `cells differ in set or order: ${m.measured} measured, ${m.computed} computed`;
    case 'expected-count':
      return `${m.expected} expected cells, ${m.measured} measured`;
    case 'cell':
      return (
        `${cellKey(m.cell)}: probe ${m.cell.result} (${verdict(m.cell.allowed)}), analyzer ${verdict(m.analyzed)}` +
        (m.expected === undefined ? '' : `, table ${verdict(m.expected.allowed)}`)
      );
  }
}

export interface Verification extends Confirmed {
  readonly mismatches: readonly Mismatch[];
}

/**
 * Probe == analyze in one call: second looks at the cells that timed out where the analyzer allows them,
 * then every disagreement with the computed matrix and, when given, the expected one.
 */
export async function verify(
  measured: MeasuredMatrix,
  computed: readonly ReferenceCell[],
  reprobe: Reprobe,
  opts: ConfirmOptions & { readonly expected?: readonly ReferenceCell[] },
): Promise<Verification> {
  const confirmed = await confirmTimeouts(measured, computed, reprobe, opts);
  return { ...confirmed, mismatches: compareMatrices(confirmed.matrix.results, computed, opts.expected) };
}
