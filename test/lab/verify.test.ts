import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MeasuredEntry, MeasuredMatrix, MeasuredResult } from '../../src/lab/probe.js';
import type { Cell, ReferenceCell, Reprobe } from '../../src/lab/verify.js';
import { cellKey, compareMatrices, confirmTimeouts, formatMismatch, verify } from '../../src/lab/verify.js';

const cell = (from: string, to: string, port = 80): Cell => ({ from, to, port, protocol: 'TCP' });
const measured = (c: Cell, result: MeasuredResult): MeasuredEntry => ({
  ...c,
  result,
  allowed: result === 'ok',
});
const ref = (c: Cell, allowed: boolean): ReferenceCell => ({ ...c, allowed });
const matrix = (...results: MeasuredEntry[]): MeasuredMatrix => ({ pods: ['x/a', 'x/b'], results });

const AB = cell('x/a', 'x/b');
const BA = cell('x/b', 'x/a');
const OPTS = { confirmMs: 3000, attempts: 2, concurrency: 4 };

/** A reprobe answering from a script per cell, recording each call. */
function scripted(answers: Record<string, MeasuredResult[]>): Reprobe & { calls: string[] } {
  const calls: string[] = [];
  const fn = (c: Cell, timeoutMs: number): Promise<MeasuredEntry | undefined> => {
    calls.push(`${cellKey(c)} @${timeoutMs}`);
    const next = answers[cellKey(c)]?.shift();
    return Promise.resolve(next === undefined ? undefined : measured(c, next));
  };
  return Object.assign(fn, { calls });
}

describe('confirmTimeouts', () => {
  const cases: {
    name: string;
    results: MeasuredEntry[];
    reference: ReferenceCell[];
    answers: Record<string, MeasuredResult[]>;
    want: MeasuredResult[];
    slow: number;
    calls: number;
  }[] = [
    {
      name: 'a timeout the reference allows answers on the second look: counted allowed and slow',
      results: [measured(AB, 'timeout'), measured(BA, 'ok')],
      reference: [ref(AB, true), ref(BA, true)],
      answers: { [cellKey(AB)]: ['ok'] },
      want: ['ok', 'ok'],
      slow: 1,
      calls: 1,
    },
    {
      name: 'a timeout the reference denies gets no second look',
      results: [measured(AB, 'timeout')],
      reference: [ref(AB, false)],
      answers: { [cellKey(AB)]: ['ok'] },
      want: ['timeout'],
      slow: 0,
      calls: 0,
    },
    {
      name: 'a refused cell gets no second look, whatever the reference says',
      results: [measured(AB, 'refused')],
      reference: [ref(AB, true)],
      answers: { [cellKey(AB)]: ['ok'] },
      want: ['refused'],
      slow: 0,
      calls: 0,
    },
    {
      name: 'only another timeout earns one more look, up to the attempts',
      results: [measured(AB, 'timeout')],
      reference: [ref(AB, true)],
      answers: { [cellKey(AB)]: ['timeout', 'timeout', 'ok'] },
      want: ['timeout'],
      slow: 0,
      calls: 2,
    },
    {
      name: 'a second look that is refused ends the looks and counts as measured',
      results: [measured(AB, 'timeout')],
      reference: [ref(AB, true)],
      answers: { [cellKey(AB)]: ['refused', 'ok'] },
      want: ['refused'],
      slow: 0,
      calls: 1,
    },
    {
      name: 'a cell that cannot be probed again keeps its first measure',
      results: [measured(AB, 'timeout')],
      reference: [ref(AB, true)],
      answers: {},
      want: ['timeout'],
      slow: 0,
      calls: 2,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const reprobe = scripted(c.answers);
      const { matrix: m, slow } = await confirmTimeouts(matrix(...c.results), c.reference, reprobe, OPTS);
      assert.deepEqual(
        m.results.map((r) => r.result),
        c.want,
      );
      assert.deepEqual(
        m.results.map((r) => r.allowed),
        c.want.map((r) => r === 'ok'),
      );
      assert.equal(slow, c.slow);
      assert.equal(reprobe.calls.length, c.calls);
      for (const call of reprobe.calls) assert.match(call, / @3000$/, 'second looks use confirmMs');
    });
  }
});

describe('compareMatrices', () => {
  it('agreeing matrices have no mismatch', () => {
    assert.deepEqual(
      compareMatrices([measured(AB, 'ok'), measured(BA, 'timeout')], [ref(AB, true), ref(BA, false)]),
      [],
    );
  });

  it('a cell measured otherwise than computed is a mismatch, and says both', () => {
    const ms = compareMatrices([measured(AB, 'timeout'), measured(BA, 'ok')], [ref(AB, true), ref(BA, true)]);
    assert.deepEqual(ms, [{ code: 'cell', cell: measured(AB, 'timeout'), analyzed: true }]);
    assert.deepEqual(ms.map(formatMismatch), ['TCP/80 x/a -> x/b: probe timeout (denied), analyzer allowed']);
  });

  it('matrices with other cells or another order are a mismatch', () => {
    const ms = compareMatrices([measured(BA, 'ok'), measured(AB, 'ok')], [ref(AB, true), ref(BA, true)]);
    assert.deepEqual(ms.map(formatMismatch), ['cells differ in set or order: 2 measured, 2 computed']);
    const missing = compareMatrices([measured(AB, 'ok')], [ref(AB, true), ref(BA, true)]);
    assert.deepEqual(missing.map(formatMismatch), ['cells differ in set or order: 1 measured, 2 computed']);
    const extra = compareMatrices([measured(AB, 'ok'), measured(BA, 'ok')], [ref(AB, true)]);
    assert.deepEqual(extra.map(formatMismatch), [
      'cells differ in set or order: 2 measured, 1 computed',
      'TCP/80 x/b -> x/a: probe ok (allowed), analyzer missing',
    ]);
  });

  it('with an expected table, a cell must agree with it too', () => {
    const ms = compareMatrices(
      [measured(AB, 'ok'), measured(BA, 'ok')],
      [ref(AB, true), ref(BA, true)],
      [ref(AB, true), ref(BA, false)],
    );
    assert.deepEqual(ms.map(formatMismatch), [
      'TCP/80 x/b -> x/a: probe ok (allowed), analyzer allowed, table denied',
    ]);
    const short = compareMatrices(
      [measured(AB, 'ok'), measured(BA, 'ok')],
      [ref(AB, true), ref(BA, true)],
      [ref(AB, true)],
    );
    assert.deepEqual(short.map(formatMismatch), [
      '1 expected cells, 2 measured',
      'TCP/80 x/b -> x/a: probe ok (allowed), analyzer allowed, table missing',
    ]);
  });
});

describe('verify', () => {
  it('compares after the second looks: a slow allowed cell is no mismatch, a dropped one is', async () => {
    const reprobe = scripted({ [cellKey(AB)]: ['ok'], [cellKey(BA)]: ['timeout', 'timeout'] });
    const v = await verify(
      matrix(measured(AB, 'timeout'), measured(BA, 'timeout')),
      [ref(AB, true), ref(BA, true)],
      reprobe,
      OPTS,
    );
    assert.equal(v.slow, 1);
    assert.deepEqual(v.mismatches.map(formatMismatch), [
      'TCP/80 x/b -> x/a: probe timeout (denied), analyzer allowed',
    ]);
  });
});
