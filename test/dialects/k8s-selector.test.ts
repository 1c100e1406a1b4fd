import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labelSelectorToIr } from '../../src/dialects/k8s-selector.js';
import { collectingReporter } from '../../src/dialects/report.js';
import type { Selector } from '../../src/ir/index.js';
import { SELECT_ALL } from '../../src/ir/index.js';

function convert(value: unknown, base = '') {
  const r = collectingReporter({ file: 'f.yaml', doc: 3 }, base);
  const selector = labelSelectorToIr(value, 'spec.selector', r);
  return { selector, diagnostics: r.diagnostics };
}

const good: readonly { name: string; input: unknown; want: Selector }[] = [
  { name: 'empty selects all', input: {}, want: SELECT_ALL },
  { name: 'empty lists select all', input: { matchLabels: {}, matchExpressions: [] }, want: SELECT_ALL },
  {
    name: 'matchLabels become In with one value, in written order',
    input: { matchLabels: { b: '2', a: '1' } },
    want: {
      kind: 'match',
      requirements: [
        { key: 'b', op: 'In', values: ['2'] },
        { key: 'a', op: 'In', values: ['1'] },
      ],
    },
  },
  {
    name: 'matchExpressions keep their operators, after matchLabels',
    input: {
      matchExpressions: [
        { key: 'x', operator: 'Exists' },
        { key: 'y', operator: 'In', values: ['1', '2'] },
      ],
      matchLabels: { z: '' },
    },
    want: {
      kind: 'match',
      requirements: [
        { key: 'z', op: 'In', values: [''] },
        { key: 'x', op: 'Exists' },
        { key: 'y', op: 'In', values: ['1', '2'] },
      ],
    },
  },
  {
    name: 'Exists with an empty values list',
    input: { matchExpressions: [{ key: 'x', operator: 'Exists', values: [] }] },
    want: { kind: 'match', requirements: [{ key: 'x', op: 'Exists' }] },
  },
];

const bad: readonly { name: string; input: unknown; path: string; code: string }[] = [
  { name: 'not an object', input: 'app=web', path: 'spec.selector', code: 'invalid-type' },
  {
    name: 'matchExpressions not a list',
    input: { matchExpressions: { key: 'a' } },
    path: 'spec.selector.matchExpressions',
    code: 'invalid-type',
  },
  {
    name: 'expression not an object',
    input: { matchExpressions: ['a'] },
    path: 'spec.selector.matchExpressions[0]',
    code: 'invalid-type',
  },
  {
    name: 'key missing',
    input: { matchExpressions: [{ operator: 'Exists' }] },
    path: 'spec.selector.matchExpressions[0].key',
    code: 'missing-field',
  },
  {
    name: 'values not strings',
    input: { matchExpressions: [{ key: 'a', operator: 'In', values: [1] }] },
    path: 'spec.selector.matchExpressions[0].values[0]',
    code: 'invalid-type',
  },
  {
    name: 'operator case matters',
    input: { matchExpressions: [{ key: 'a', operator: 'in', values: ['x'] }] },
    path: 'spec.selector.matchExpressions[0].operator',
    code: 'unsupported-value',
  },
];

void describe('labelSelectorToIr', () => {
  for (const c of good) {
    void it(c.name, () => {
      const { selector, diagnostics } = convert(c.input);
      assert.deepEqual(diagnostics, []);
      assert.deepEqual(selector, c.want);
    });
  }
  for (const c of bad) {
    void it(`rejects: ${c.name}`, () => {
      const { selector, diagnostics } = convert(c.input);
      assert.equal(selector, undefined);
      assert.ok(
        diagnostics.some((d) => d.path === c.path && d.code === c.code && d.severity === 'error'),
        JSON.stringify(diagnostics),
      );
    });
  }
  void it('prefixes paths of List items and keeps file and doc', () => {
    const { diagnostics } = convert({ matchExpressions: [{ key: 'a', operator: 'In' }] }, 'items[2]');
    assert.deepEqual(
      diagnostics.map((d) => [d.file, d.doc, d.path]),
      [['f.yaml', 3, 'items[2].spec.selector.matchExpressions[0].values']],
    );
  });
  void it('warns about unknown selector fields but still converts', () => {
    const { selector, diagnostics } = convert({ matchLabel: { a: 'b' } });
    assert.deepEqual(selector, SELECT_ALL);
    assert.deepEqual(
      diagnostics.map((d) => [d.severity, d.code, d.path]),
      [['warning', 'unknown-field', 'spec.selector.matchLabel']],
    );
  });
});
