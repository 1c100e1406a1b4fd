import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  calicoExprToSelector,
  parseCalicoSelector,
  printCalicoSelector,
  splitEndpointSelector,
  type CalicoExpr,
} from '../../src/dialects/calico-selector.js';
import { selectorMatches } from '../../src/ir/label-match.js';
import type { Labels, Requirement, Selector } from '../../src/ir/index.js';
import { NAMESPACE_NAME_LABEL, SELECT_ALL } from '../../src/ir/index.js';

function parse(text: string): CalicoExpr {
  const r = parseCalicoSelector(text);
  if (!r.ok) assert.fail(`"${text}" did not parse: column ${r.error.column}: ${r.error.message}`);
  return r.expr;
}

function toIr(text: string): Selector {
  return calicoExprToSelector(parse(text), { kind: 'nothing' });
}

/**
 * Calico docs, reference "Selectors" table: what each operator matches. Every case is checked on a label
 * set that has the key and on one that lacks it, since the table is explicit about the absent case.
 */
const semantics: readonly { name: string; text: string; yes: Labels[]; no: Labels[] }[] = [
  { name: 'k == v: label present with value v', text: "k == 'v'", yes: [{ k: 'v' }], no: [{ k: 'w' }, {}] },
  {
    name: 'k != v: matches resources without label k (Selectors table)',
    text: "k != 'v'",
    yes: [{ k: 'w' }, {}],
    no: [{ k: 'v' }],
  },
  { name: 'has(k): present with any value', text: 'has(k)', yes: [{ k: '' }, { k: 'x' }], no: [{}] },
  { name: '!has(k): absent', text: '!has(k)', yes: [{}], no: [{ k: 'x' }] },
  { name: 'k in set', text: "k in { 'a', 'b' }", yes: [{ k: 'a' }, { k: 'b' }], no: [{ k: 'c' }, {}] },
  {
    name: 'k not in set: matches resources without label k',
    text: "k not in { 'a', 'b' }",
    yes: [{ k: 'c' }, {}],
    no: [{ k: 'a' }],
  },
  { name: 'notin is accepted as one word', text: "k notin {'a'}", yes: [{ k: 'b' }], no: [{ k: 'a' }] },
  { name: 'empty set matches nothing', text: 'k in {}', yes: [], no: [{ k: '' }, {}] },
  { name: 'trailing comma in a set', text: "k in {'a',}", yes: [{ k: 'a' }], no: [{ k: 'b' }] },
  { name: 'k contains s', text: "k contains 'ell'", yes: [{ k: 'hello' }], no: [{ k: 'help' }, {}] },
  { name: 'k starts with s', text: "k starts with 'pr'", yes: [{ k: 'prod' }], no: [{ k: 'dev' }, {}] },
  { name: 'k ends with s', text: "k ends with 'od'", yes: [{ k: 'prod' }], no: [{ k: 'dev' }, {}] },
  { name: 'all() matches everything', text: 'all()', yes: [{}, { a: 'b' }], no: [] },
  { name: 'the empty selector is all()', text: '', yes: [{}, { a: 'b' }], no: [] },
  { name: 'blank selector is all()', text: ' \t ', yes: [{}], no: [] },
  { name: '!all() matches nothing', text: '!all()', yes: [], no: [{}] },
  { name: 'double negation cancels', text: "!!k == 'v'", yes: [{ k: 'v' }], no: [{}] },
  { name: 'double-quoted strings', text: 'k == "v"', yes: [{ k: 'v' }], no: [{}] },
  {
    name: 'label names may hold / . - _',
    text: "app.kubernetes.io/name-x_y == 'a'",
    yes: [{ 'app.kubernetes.io/name-x_y': 'a' }],
    no: [{}],
  },
  { name: 'a label may be called "all"', text: "all == 'x'", yes: [{ all: 'x' }], no: [{}] },
  { name: 'blanks inside has()', text: 'has( k )', yes: [{ k: '' }], no: [{}] },
  {
    name: 'precedence example of the Selectors reference',
    text: "! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}",
    yes: [{}, { 'my-label': 'prod-1', role: 'frontend' }],
    no: [{ 'my-label': 'prod-1' }, { 'my-label': 'dev', role: 'frontend' }],
  },
  {
    name: '! binds tighter than &&',
    text: "!a == 'x' && b == 'y'",
    yes: [{ b: 'y' }],
    no: [{ a: 'x', b: 'y' }],
  },
  {
    name: 'parentheses group',
    text: "(a == 'x' || b == 'y') && c == 'z'",
    yes: [{ a: 'x', c: 'z' }],
    no: [{ a: 'x' }, { c: 'z' }],
  },
];

describe('Calico selector expressions', () => {
  for (const c of semantics) {
    it(c.name, () => {
      const s = toIr(c.text);
      for (const l of c.yes) assert.equal(selectorMatches(s, l), true, JSON.stringify(l));
      for (const l of c.no) assert.equal(selectorMatches(s, l), false, JSON.stringify(l));
    });
  }

  it('maps operators to IR requirements (!= and not in become NotIn: absent keys match)', () => {
    assert.deepEqual(toIr("a != 'x' && b not in {'y'} && has(c) && d contains 'z'"), {
      kind: 'match',
      requirements: [
        { key: 'a', op: 'NotIn', values: ['x'] },
        { key: 'b', op: 'NotIn', values: ['y'] },
        { key: 'c', op: 'Exists' },
        { key: 'd', op: 'Contains', value: 'z' },
      ],
    });
  });

  it('global() means whatever the context says (a pod namespaceSelector: nothing)', () => {
    assert.deepEqual(calicoExprToSelector(parse('global()'), { kind: 'nothing' }), { kind: 'nothing' });
  });
});

const syntaxErrors: readonly { name: string; text: string; column: number; says: string }[] = [
  { name: 'single =', text: "a = 'b'", column: 3, says: '"=="' },
  { name: 'single &', text: "a == 'b' & c == 'd'", column: 10, says: '"&&"' },
  { name: 'unterminated string', text: "a == 'b", column: 6, says: 'unterminated' },
  { name: 'unquoted value', text: 'a == b', column: 6, says: 'quoted string' },
  { name: 'label without operator', text: 'a', column: 2, says: 'end of selector' },
  { name: 'unknown operator word', text: "a is 'b'", column: 3, says: 'expected an operator' },
  { name: 'missing closing paren', text: "(a == 'b'", column: 10, says: '")"' },
  { name: 'unclosed has', text: 'has(a', column: 6, says: '")"' },
  { name: 'has with a space before (', text: 'has (a)', column: 5, says: 'expected an operator' },
  { name: 'set without braces', text: "a in 'b'", column: 6, says: '"{"' },
  { name: 'set without commas', text: "a in {'b' 'c'}", column: 11, says: '"," or "}"' },
  { name: 'trailing operator', text: "a == 'b' &&", column: 12, says: 'end of selector' },
  { name: 'junk after expression', text: "a == 'b' c", column: 10, says: '"&&", "||"' },
  {
    name: 'line break (Calico trims only spaces and tabs)',
    text: "a == 'b'\n",
    column: 9,
    says: 'line break',
  },
  { name: 'label too long', text: `${'x'.repeat(513)} == 'a'`, column: 1, says: 'longer than 512' },
];

describe('Calico selector syntax errors carry the column', () => {
  for (const c of syntaxErrors) {
    it(c.name, () => {
      const r = parseCalicoSelector(c.text);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.error.column, c.column, r.error.message);
      assert.ok(r.error.message.includes(c.says), r.error.message);
    });
  }
});

describe('splitting the endpoint label space into namespaces × pods', () => {
  const ns = (requirements: Requirement[]): Selector => ({ kind: 'match', requirements });
  const cases: readonly { name: string; text: string; want: { namespaces: Selector; pods: Selector }[] }[] = [
    {
      name: 'pod labels only',
      text: "app == 'a'",
      want: [{ namespaces: SELECT_ALL, pods: toIr("app == 'a'") }],
    },
    {
      name: 'projectcalico.org/namespace is the namespace name (GlobalNetworkPolicy reference)',
      text: "projectcalico.org/namespace not in {'kube-system'}",
      want: [
        {
          namespaces: ns([{ key: NAMESPACE_NAME_LABEL, op: 'NotIn', values: ['kube-system'] }]),
          pods: SELECT_ALL,
        },
      ],
    },
    {
      name: 'pcns. keys are namespace labels, pcns.projectcalico.org/name the name',
      text: "pcns.team == 'a' && pcns.projectcalico.org/name == 'x' && app == 'w'",
      want: [
        {
          namespaces: ns([
            { key: 'team', op: 'In', values: ['a'] },
            { key: NAMESPACE_NAME_LABEL, op: 'In', values: ['x'] },
          ]),
          pods: toIr("app == 'w'"),
        },
      ],
    },
    {
      name: 'a disjunction across the two spaces becomes two alternatives',
      text: "app == 'w' || pcns.team == 'a'",
      want: [
        { namespaces: SELECT_ALL, pods: toIr("app == 'w'") },
        { namespaces: ns([{ key: 'team', op: 'In', values: ['a'] }]), pods: SELECT_ALL },
      ],
    },
    {
      name: 'negation is pushed through mixed nodes (De Morgan)',
      text: "!(app == 'w' && pcns.team == 'a')",
      want: [
        { namespaces: SELECT_ALL, pods: { kind: 'not', of: toIr("app == 'w'") } },
        { namespaces: { kind: 'not', of: ns([{ key: 'team', op: 'In', values: ['a'] }]) }, pods: SELECT_ALL },
      ],
    },
    {
      name: 'orchestrator is k8s for every pod',
      text: "projectcalico.org/orchestrator == 'k8s'",
      want: [{ namespaces: SELECT_ALL, pods: SELECT_ALL }],
    },
    {
      name: 'another orchestrator selects no pod',
      text: "projectcalico.org/orchestrator == 'openstack'",
      want: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = splitEndpointSelector(parse(c.text));
      assert.ok(r.ok);
      if (r.ok) assert.deepEqual(r.alternatives, c.want);
    });
  }

  for (const text of ["projectcalico.org/serviceaccount == 'sa'", "pcsa.role == 'x'", 'global()']) {
    it(`refuses ${text}`, () => assert.equal(splitEndpointSelector(parse(text)).ok, false));
  }
});

// ---------------------------------------------------------------------------------------------------------
// Property: IR selector → Calico text → parse → IR selects the same label sets.

const KEYS = ['a', 'b', 'app.io/c'] as const;
const VALUES = ['', 'x', 'y', 'xy', "o'k"] as const;
const key = fc.constantFrom(...KEYS);
const value = fc.constantFrom(...VALUES);

const requirement: fc.Arbitrary<Requirement> = fc.oneof(
  fc.record({
    key,
    op: fc.constantFrom('In' as const, 'NotIn' as const),
    values: fc.array(value, { maxLength: 3 }),
  }),
  fc.record({ key, op: fc.constantFrom('Exists' as const, 'DoesNotExist' as const) }),
  fc.record({
    key,
    op: fc.constantFrom('Contains' as const, 'StartsWith' as const, 'EndsWith' as const),
    value,
  }),
);

const selector: fc.Arbitrary<Selector> = fc.letrec<{ sel: Selector }>((tie) => ({
  sel: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ kind: fc.constant('match' as const), requirements: fc.array(requirement, { maxLength: 3 }) }),
    fc.constant<Selector>({ kind: 'nothing' }),
    fc.record({ kind: fc.constant('and' as const), of: fc.array(tie('sel'), { maxLength: 3 }) }),
    fc.record({ kind: fc.constant('or' as const), of: fc.array(tie('sel'), { maxLength: 3 }) }),
    fc.record({ kind: fc.constant('not' as const), of: tie('sel') }),
  ),
})).sel;

const labelSet: fc.Arbitrary<Labels> = fc.dictionary(key, value, { maxKeys: 3 });

describe('property: printing and re-parsing a selector keeps its meaning', () => {
  it('on random selectors and label sets', () => {
    fc.assert(
      fc.property(selector, fc.array(labelSet, { minLength: 1, maxLength: 8 }), (s, sets) => {
        const text = printCalicoSelector(s);
        const back = toIr(text);
        for (const l of sets)
          assert.equal(selectorMatches(back, l), selectorMatches(s, l), `${text} on ${JSON.stringify(l)}`);
      }),
      { numRuns: 500 },
    );
  });
});
