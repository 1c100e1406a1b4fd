import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scopeMatches, selectorMatches } from '../../src/ir/label-match.js';
import type { Labels, NamespaceScope, Requirement, Selector } from '../../src/ir/index.js';
import { SELECT_ALL, SELECT_NOTHING } from '../../src/ir/index.js';

const req = (r: Requirement): Selector => ({ kind: 'match', requirements: [r] });
const LABELS: Labels = { app: 'web', tier: 'frontend-v2' };

void describe('selectorMatches', () => {
  const cases: { name: string; sel: Selector; labels?: Labels; want: boolean }[] = [
    { name: 'empty match selects everything', sel: SELECT_ALL, want: true },
    { name: 'empty match selects unlabelled objects', sel: SELECT_ALL, labels: {}, want: true },
    { name: 'nothing selects nothing', sel: SELECT_NOTHING, want: false },
    { name: 'In with the value', sel: req({ key: 'app', op: 'In', values: ['db', 'web'] }), want: true },
    { name: 'In without the value', sel: req({ key: 'app', op: 'In', values: ['db'] }), want: false },
    { name: 'In with the key absent', sel: req({ key: 'zone', op: 'In', values: ['a'] }), want: false },
    { name: 'NotIn with the value', sel: req({ key: 'app', op: 'NotIn', values: ['web'] }), want: false },
    { name: 'NotIn with another value', sel: req({ key: 'app', op: 'NotIn', values: ['db'] }), want: true },
    {
      name: 'NotIn with the key absent (Kubernetes)',
      sel: req({ key: 'zone', op: 'NotIn', values: ['a'] }),
      want: true,
    },
    { name: 'Exists present', sel: req({ key: 'app', op: 'Exists' }), want: true },
    { name: 'Exists absent', sel: req({ key: 'zone', op: 'Exists' }), want: false },
    { name: 'DoesNotExist present', sel: req({ key: 'app', op: 'DoesNotExist' }), want: false },
    { name: 'DoesNotExist absent', sel: req({ key: 'zone', op: 'DoesNotExist' }), want: true },
    { name: 'Contains yes', sel: req({ key: 'tier', op: 'Contains', value: 'end-v' }), want: true },
    { name: 'Contains no', sel: req({ key: 'tier', op: 'Contains', value: 'back' }), want: false },
    { name: 'Contains key absent', sel: req({ key: 'zone', op: 'Contains', value: '' }), want: false },
    { name: 'StartsWith yes', sel: req({ key: 'tier', op: 'StartsWith', value: 'front' }), want: true },
    { name: 'StartsWith no', sel: req({ key: 'tier', op: 'StartsWith', value: 'v2' }), want: false },
    { name: 'EndsWith yes', sel: req({ key: 'tier', op: 'EndsWith', value: '-v2' }), want: true },
    { name: 'EndsWith no', sel: req({ key: 'tier', op: 'EndsWith', value: 'front' }), want: false },
    {
      name: 'match is the AND of its requirements',
      sel: {
        kind: 'match',
        requirements: [
          { key: 'app', op: 'In', values: ['web'] },
          { key: 'tier', op: 'DoesNotExist' },
        ],
      },
      want: false,
    },
    {
      name: 'and of all true',
      sel: { kind: 'and', of: [SELECT_ALL, req({ key: 'app', op: 'Exists' })] },
      want: true,
    },
    { name: 'and with one false', sel: { kind: 'and', of: [SELECT_ALL, SELECT_NOTHING] }, want: false },
    { name: 'or with one true', sel: { kind: 'or', of: [SELECT_NOTHING, SELECT_ALL] }, want: true },
    { name: 'or of nothing', sel: { kind: 'or', of: [] }, want: false },
    { name: 'not of nothing', sel: { kind: 'not', of: SELECT_NOTHING }, want: true },
    {
      name: 'not of a match',
      sel: { kind: 'not', of: req({ key: 'app', op: 'In', values: ['web'] }) },
      want: false,
    },
    {
      name: 'inherited object keys are not labels',
      sel: req({ key: 'constructor', op: 'Exists' }),
      labels: {},
      want: false,
    },
  ];
  for (const c of cases) {
    void it(c.name, () => assert.equal(selectorMatches(c.sel, c.labels ?? LABELS), c.want));
  }
});

void describe('scopeMatches', () => {
  const cases: { name: string; scope: NamespaceScope; ns: string; labels: Labels; want: boolean }[] = [
    { name: 'listed name', scope: { kind: 'names', names: ['x', 'y'] }, ns: 'y', labels: {}, want: true },
    { name: 'unlisted name', scope: { kind: 'names', names: ['x'] }, ns: 'y', labels: {}, want: false },
    {
      name: 'selector over namespace labels',
      scope: { kind: 'selector', selector: req({ key: 'team', op: 'In', values: ['a'] }) },
      ns: 'y',
      labels: { team: 'a' },
      want: true,
    },
    {
      name: 'selector not matching',
      scope: { kind: 'selector', selector: req({ key: 'team', op: 'In', values: ['a'] }) },
      ns: 'y',
      labels: { team: 'b' },
      want: false,
    },
  ];
  for (const c of cases) void it(c.name, () => assert.equal(scopeMatches(c.scope, c.ns, c.labels), c.want));
});
