import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HttpMeasuredEntry, HttpObserved } from '../../src/lab/http-probe.js';
import type { HttpReferenceCell, HttpReprobe } from '../../src/lab/verify.js';
import { compareHttpMatrices, formatHttpMismatch, verifyHttp } from '../../src/lab/verify.js';

const measured = (from: string, to: string, response: HttpObserved, error?: string): HttpMeasuredEntry => ({
  from,
  to,
  port: 80,
  protocol: 'TCP',
  allowed: response === 'forwarded',
  response,
  ...(error === undefined ? {} : { error }),
});
const ref = (from: string, to: string, response: string): HttpReferenceCell => ({
  from,
  to,
  port: 80,
  protocol: 'TCP',
  response,
});

const CONFIRM = { confirmMs: 500, attempts: 2, concurrency: 4 };

void describe('compareHttpMatrices', () => {
  void it('equal responses in the same order: no mismatch', () => {
    const m = [measured('a', 'b', 'forwarded'), measured('b', 'a', 'http:403')];
    assert.deepEqual(compareHttpMatrices(m, [ref('a', 'b', 'forwarded'), ref('b', 'a', 'http:403')]), []);
  });
  void it('each differing response is one mismatch, named for humans', () => {
    const m = [
      measured('a', 'b', 'reset'),
      measured('b', 'a', 'grpc:7'),
      measured('a', 'a', 'error', 'answered by c'),
    ];
    const out = compareHttpMatrices(m, [
      ref('a', 'b', 'http:403'),
      ref('b', 'a', 'grpc:7'),
      ref('a', 'a', 'forwarded'),
    ]);
    assert.deepEqual(out.map(formatHttpMismatch), [
      'TCP/80 a -> b: probe reset, analyzer http:403',
      'TCP/80 a -> a: probe error (answered by c), analyzer forwarded',
    ]);
  });
  void it('a different cell set or order is reported once, and missing cells as missing', () => {
    const out = compareHttpMatrices([measured('a', 'b', 'forwarded')], [ref('b', 'a', 'forwarded')]);
    assert.deepEqual(out.map(formatHttpMismatch), [
      'cells differ in set or order: 1 measured, 1 computed',
      'TCP/80 a -> b: probe forwarded, analyzer missing',
    ]);
  });
});

void describe('verifyHttp', () => {
  void it('a drop where the analyzer expects an answer gets second looks; one that answers is slow, not wrong', async () => {
    const looks: string[] = [];
    const reprobe: HttpReprobe = (cell) => {
      looks.push(`${cell.from}>${cell.to}`);
      return Promise.resolve(measured(cell.from, cell.to, cell.from === 'a' ? 'forwarded' : 'dropped'));
    };
    const m = {
      pods: ['a', 'b', 'c'],
      results: [measured('a', 'b', 'dropped'), measured('b', 'c', 'dropped'), measured('c', 'a', 'dropped')],
    };
    const v = await verifyHttp(
      m,
      [ref('a', 'b', 'forwarded'), ref('b', 'c', 'http:403'), ref('c', 'a', 'dropped')],
      reprobe,
      CONFIRM,
    );
    assert.equal(v.slow, 1);
    assert.deepEqual(looks.sort(), ['a>b', 'b>c', 'b>c'], 'a drop the analyzer expects gets no second look');
    assert.deepEqual(v.mismatches.map(formatHttpMismatch), [
      'TCP/80 b -> c: probe dropped, analyzer http:403',
    ]);
    assert.equal(v.matrix.results[0]?.response, 'forwarded');
  });
});
