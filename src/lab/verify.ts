/**
 * Probe == analyze: a measured matrix checked against the computed one (and, in the case tables, against
 * the expected one), cell by cell. A cell that timed out where the reference allows it gets a second,
 * longer look before it counts: an answer proves a pass, while a timeout under load proves nothing.
 *
 * How a cell is probed again is the caller's: a lab in this process probes directly (labReprobe), the
 * demo asks the lab daemon.
 */
import type { HttpRequest } from '../engine/index.js';
import type { Protocol } from '../ir/endpoint.js';
import { probeHttpMatrix } from './http-probe.js';
import type { HttpMeasuredEntry, HttpMeasuredMatrix, HttpProbeableLab, HttpSender } from './http-probe.js';
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

/** A cell of `analyze matrix --http` (engine computeHttpMatrix): what the client should observe. */
export interface HttpReferenceCell extends Cell {
  readonly response: string;
}

/** Sends one cell's request again with a longer timeout; undefined when the cell cannot be probed any more. */
export type HttpReprobe = (cell: Cell, timeoutMs: number) => Promise<HttpMeasuredEntry | undefined>;

/** A second look through a lab running in this process: the same request as probeHttpMatrix, on one cell. */
export function labHttpReprobe(
  lab: HttpProbeableLab,
  requestFor: (dst: { readonly key: string; readonly ip: string }) => HttpRequest,
  send?: HttpSender,
): HttpReprobe {
  return async (cell, timeoutMs) => {
    const m = await probeHttpMatrix(lab, [cell], requestFor, {
      timeoutMs,
      concurrency: 1,
      from: [cell.from],
      to: [cell.to],
      ...(send === undefined ? {} : { send }),
    });
    return m.results[0];
  };
}

/** Where the HTTP probe and `analyze matrix --http` disagree. */
export type HttpMismatch =
  | { readonly code: 'cell-set'; readonly measured: number; readonly computed: number }
  | {
      readonly code: 'cell';
      readonly cell: HttpMeasuredEntry;
      /** The analyzer's response; undefined when it has no such cell. */
      readonly analyzed: string | undefined;
    };

/**
 * Every disagreement between measured and computed HTTP cells: the same cells in the same order, and in
 * each the same response (`allowed` follows from it on both sides: forwarded).
 */
export function compareHttpMatrices(
  measured: readonly HttpMeasuredEntry[],
  computed: readonly HttpReferenceCell[],
): HttpMismatch[] {
  const out: HttpMismatch[] = [];
  const order = (xs: readonly Cell[]): string => xs.map(cellKey).join('\n');
  if (order(measured) !== order(computed))
    out.push({ code: 'cell-set', measured: measured.length, computed: computed.length });
  const analyzer = new Map(computed.map((c) => [cellKey(c), c.response]));
  for (const cell of measured) {
    const analyzed = analyzer.get(cellKey(cell));
    if (cell.response !== analyzed) out.push({ code: 'cell', cell, analyzed });
  }
  return out;
}

/** One line per HTTP mismatch, for humans. */
export function formatHttpMismatch(m: HttpMismatch): string {
  switch (m.code) {
    case 'cell-set':
      return `cells differ in set or order: ${m.measured} measured, ${m.computed} computed`;
    case 'cell':
      return (
        `${cellKey(m.cell)}: probe ${m.cell.response}${m.cell.error === undefined ? '' : ` (${m.cell.error})`}, ` +
        `analyzer ${m.analyzed ?? 'missing'}`
      );
  }
}

export interface HttpVerification {
  /** The measured matrix with each doubtful cell replaced by its last second look. */
  readonly matrix: HttpMeasuredMatrix;
  /** Cells measured dropped where the analyzer expects an answer, and answered on a second look. */
  readonly slow: number;
  readonly mismatches: readonly HttpMismatch[];
}

/**
 * `lab probe --http` == `analyze matrix --http` in one call: every cell measured `dropped` where the
 * analyzer expects another response gets up to `attempts` second looks (only another drop earns one
 * more), then every disagreement with the computed cells.
 */
export async function verifyHttp(
  measured: HttpMeasuredMatrix,
  computed: readonly HttpReferenceCell[],
  reprobe: HttpReprobe,
  opts: ConfirmOptions,
): Promise<HttpVerification> {
  const expected = new Map(computed.map((c) => [cellKey(c), c.response]));
  const doubtful = measured.results.filter(
    (r) => r.response === 'dropped' && expected.has(cellKey(r)) && expected.get(cellKey(r)) !== 'dropped',
  );
  const again = await mapLimit(doubtful, opts.concurrency, async (r) => {
    let last: HttpMeasuredEntry | undefined;
    for (
      let attempt = 0;
      attempt < opts.attempts && (last === undefined || last.response === 'dropped');
      attempt++
    )
      last = (await reprobe(r, opts.confirmMs)) ?? last;
    return last;
  });
  const byKey = new Map<string, HttpMeasuredEntry>();
  for (const m of again) if (m !== undefined) byKey.set(cellKey(m), m);
  const matrix = {
    pods: measured.pods,
    results: measured.results.map((r) => byKey.get(cellKey(r)) ?? r),
  };
  const slow = [...byKey.values()].filter((m) => m.response !== 'dropped').length;
  return { matrix, slow, mismatches: compareHttpMatrices(matrix.results, computed) };
}
