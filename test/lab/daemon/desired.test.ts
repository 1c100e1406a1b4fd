// The lab daemon's desired state and its edits (src/lab/daemon/desired.ts): pure, no root needed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSources } from '../../../src/dialects/index.js';
import type { Source } from '../../../src/dialects/index.js';
import type { Outcome } from '../../../src/ir/outcome.js';
import { unwrap } from '../../../src/ir/outcome.js';
import type { DesiredState, LabInputError } from '../../../src/lab/daemon/desired.js';
import {
  applyLoaded,
  deleteLoaded,
  labNodes,
  labelObject,
  parseLabelChanges,
  prepareLab,
} from '../../../src/lab/daemon/desired.js';

const pod = (name: string, extra = ''): string => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: x}
spec: {${extra} containers: [{name: c, image: i, ports: [{name: http, containerPort: 80}]}]}
`;
const node = (name: string, cidr: string): string =>
  `apiVersion: v1\nkind: Node\nmetadata: {name: ${name}}\nspec: {podCIDR: ${cidr}}\n`;
const src = (file: string, ...docs: string[]): Source => ({ file, text: docs.join('\n---\n') });
const DENY = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress]}
`;

function prepared(...sources: Source[]): DesiredState {
  const r = prepareLab(sources, { id: 'unit', routing: 'native' });
  assert.ok(r.ok, r.ok ? '' : `${r.error}: ${JSON.stringify(r.diagnostics)}`);
  return r.value.desired;
}

const loaded = (...sources: Source[]) => parseSources(sources).value;
/** The typed error of a refused input, as `code: message`. */
const problem = (r: Outcome<unknown, LabInputError>): string =>
  r.ok ? 'no problem' : `${r.error.code}: ${r.error.message}`;

describe('lab nodes', () => {
  const cases: { name: string; sources: Source[]; count?: number; want: string[] | RegExp }[] = [
    {
      name: 'Node objects win over spec.nodeName',
      sources: [src('c.yaml', node('n1', '10.1.0.0/24'), pod('a', 'nodeName: n1,'))],
      want: ['n1'],
    },
    {
      name: 'else the spec.nodeName values, sorted',
      sources: [src('c.yaml', pod('a', 'nodeName: w2,'), pod('b', 'nodeName: w1,'), pod('c'))],
      want: ['w1', 'w2'],
    },
    {
      name: 'else --nodes N generated ones',
      sources: [src('c.yaml', pod('a'))],
      count: 3,
      want: ['node-1', 'node-2', 'node-3'],
    },
    { name: 'else one', sources: [src('c.yaml', pod('a'))], want: ['node-1'] },
    {
      name: '--nodes with named nodes is a conflict',
      sources: [src('c.yaml', pod('a', 'nodeName: w1,'))],
      count: 2,
      want: /^nodes-already-named: .*already names its nodes in spec.nodeName values \(w1\)/,
    },
    {
      name: '--nodes 0 is refused',
      sources: [src('c.yaml', pod('a'))],
      count: 0,
      want: /^bad-node-count: .*between 1 and/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = labNodes(loaded(...c.sources).cluster, c.count);
      if (c.want instanceof RegExp) assert.match(problem(r), c.want);
      else assert.deepEqual(r.ok ? r.value.map((n) => n.name) : problem(r), c.want);
    });
  }
});

describe('prepareLab', () => {
  it('names file, doc and field path of a podIP outside its node pod CIDR (List item)', () => {
    const list = `apiVersion: v1\nkind: List\nitems:\n- ${pod('a', 'nodeName: n1,')
      .trim()
      .replace(/\n/g, '\n  ')}\n  status: {podIP: 10.9.0.1}`;
    const r = prepareLab([src('c.yaml', node('n1', '10.1.0.0/24'), list)], { id: 'unit', routing: 'native' });
    assert.ok(!r.ok);
    assert.deepEqual(
      r.diagnostics.map((d) => [d.file, d.doc, d.path]),
      [['c.yaml', 1, 'items[0].status.podIP']],
    );
    assert.match(r.diagnostics[0]?.message ?? '', /outside node n1's pod CIDR 10\.1\.0\.0\/24/);
  });

  it('points an unknown node at spec.nodeName and overlapping CIDRs at the Node', () => {
    const r = prepareLab(
      [src('c.yaml', node('n1', '10.1.0.0/16'), node('n2', '10.1.2.0/24'), pod('a', 'nodeName: n3,'))],
      { id: 'unit', routing: 'native' },
    );
    assert.ok(!r.ok);
    assert.deepEqual(r.diagnostics.map((d) => `${d.doc}:${d.path}`).sort(), [
      '1:spec.podCIDR',
      '2:spec.nodeName',
    ]);
  });

  it('reports YAML and schema errors as the loader does, before planning', () => {
    const r = prepareLab([src('c.yaml', 'kind: Pod\nmetadata: {name: 1x_}\n')], {
      id: 'unit',
      routing: 'native',
    });
    assert.ok(!r.ok);
    assert.ok(r.diagnostics.length > 0);
  });
});

describe('apply, delete and label', () => {
  const base = (): DesiredState =>
    prepared(src('c.yaml', pod('a', 'nodeName: n1,'), pod('b', 'nodeName: n1,')));

  it('apply creates, then configures or keeps a policy by kind/namespace/name', () => {
    const s = src('p.yaml', DENY);
    const first = applyLoaded(base(), loaded(s), [s]);
    assert.ok(first.ok);
    assert.deepEqual(first.value.edits, ['created NetworkPolicy x/deny']);
    const again = applyLoaded(first.value.desired, loaded(s), [s]);
    assert.ok(again.ok);
    assert.deepEqual(again.value.edits, ['unchanged NetworkPolicy x/deny']);
    assert.equal(again.value.desired.policies.length, 1);
    const changed = src('p.yaml', DENY.replace('[Ingress]', '[Ingress, Egress]'));
    const third = applyLoaded(again.value.desired, loaded(changed), [changed]);
    assert.ok(third.ok);
    assert.deepEqual(third.value.edits, ['configured NetworkPolicy x/deny']);
  });

  it('apply refuses a pod the lab does not have, naming where it is written', () => {
    const s = src('more.yaml', DENY, pod('zz'));
    const r = applyLoaded(base(), loaded(s), [s]);
    assert.ok(!r.ok);
    assert.deepEqual(
      r.diagnostics.map((d) => [d.file, d.doc, d.path]),
      [['more.yaml', 1, 'metadata.name']],
    );
  });

  it('apply takes new labels of a known pod', () => {
    const s = src(
      'relabel.yaml',
      pod('a', 'nodeName: n1,').replace('namespace: x}', 'namespace: x, labels: {k: v}}'),
    );
    const r = applyLoaded(base(), loaded(s), [s]);
    assert.ok(r.ok);
    assert.deepEqual(r.value.edits, ['relabeled Pod x/a']);
    assert.deepEqual(r.value.desired.cluster.endpoints.find((e) => e.name === 'a')?.labels, { k: 'v' });
  });

  it('delete removes by identity and says what it did not find', () => {
    const s = src('p.yaml', DENY);
    const applied = applyLoaded(base(), loaded(s), [s]);
    assert.ok(applied.ok);
    const r = deleteLoaded(applied.value.desired, loaded(s));
    assert.deepEqual(r.edits, ['deleted NetworkPolicy x/deny']);
    assert.equal(r.desired.policies.length, 0);
    assert.deepEqual(deleteLoaded(r.desired, loaded(s)).edits, ['not found: NetworkPolicy x/deny']);
  });

  it('label sets and removes pod labels, and namespace labels reach every pod of the namespace', () => {
    const set = unwrap(labelObject(base(), 'pod', 'x/a', [{ key: 'role', value: 'db' }]));
    assert.deepEqual(set.desired.cluster.endpoints.find((e) => e.name === 'a')?.labels, { role: 'db' });
    const removed = unwrap(labelObject(set.desired, 'pod', 'x/a', [{ key: 'role' }]));
    assert.deepEqual(removed.edits, ['Pod x/a labeled -role']);
    const ns = unwrap(labelObject(base(), 'ns', 'x', [{ key: 'team', value: 'blue' }]));
    for (const e of ns.desired.cluster.endpoints) assert.equal(e.namespaceLabels['team'], 'blue');
    assert.match(problem(labelObject(base(), 'pod', 'x/none', [])), /^unknown-pod: no pod x\/none/);
    assert.match(problem(labelObject(base(), 'ns', 'y', [])), /^unknown-namespace: no namespace y/);
    assert.match(
      problem(labelObject(base(), 'ns', 'x', [{ key: 'kubernetes.io/metadata.name' }])),
      /^immutable-label: .*cannot be changed/,
    );
  });

  const labelCases: [string[], unknown][] = [
    [
      ['a=b', 'c-'],
      [{ key: 'a', value: 'b' }, { key: 'c' }],
    ],
    [['a='], [{ key: 'a', value: '' }]],
    [['example.com/x=1'], [{ key: 'example.com/x', value: '1' }]],
    [['novalue'], 'bad-label-syntax: "novalue": expected KEY=VALUE or KEY-'],
    [['-bad=1'], /^bad-label-key: .*label key/],
    [['k=bad value'], /^bad-label-value: .*label value/],
    [[], /^no-label-changes: /],
  ];
  for (const [args, want] of labelCases) {
    it(`label arguments ${args.join(' ') || '(none)'}`, () => {
      const r = parseLabelChanges(args);
      if (want instanceof RegExp) assert.match(problem(r), want);
      else assert.deepEqual(r.ok ? r.value : problem(r), want);
    });
  }
});
