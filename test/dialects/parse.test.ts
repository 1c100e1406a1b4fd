import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSources, type Source } from '../../src/dialects/parse.js';
import type { Diagnostic } from '../../src/ir/index.js';
import { lineOf } from '../../src/ir/index.js';
import { withoutLines } from './support.js';

const ns = (name: string, labels = '{}') =>
  `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${name}, labels: ${labels}}\n`;
const pod = (name: string, namespace?: string) =>
  `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}${namespace ? `, namespace: ${namespace}` : ''}}\n`;
const np = (name: string, namespace: string, spec = '{podSelector: {}}') =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec: ${spec}\n`;

function parse(...texts: string[]) {
  const sources: Source[] = texts.map((text, i) => ({ file: `f${i}.yaml`, text }));
  return parseSources(sources);
}

function brief(ds: readonly Diagnostic[]) {
  return ds.map((d) => [d.severity, d.code, d.file, d.doc, d.path]);
}

void describe('parseSources: documents', () => {
  void it('reads every document of a stream, skipping empty ones without renumbering', () => {
    const { value, diagnostics } = parse(`${ns('a')}---\n# just a comment\n---\n---\n${pod('p', 'a')}`);
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(
      value.cluster.namespaces.map((n) => n.name),
      ['a'],
    );
    assert.deepEqual(
      value.cluster.endpoints.map((e) => `${e.namespace}/${e.name}`),
      ['a/p'],
    );
  });

  void it('reads JSON documents', () => {
    const { value, diagnostics } = parse(
      JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'j', namespace: 'x' } }),
    );
    assert.deepEqual(diagnostics, []);
    assert.equal(value.cluster.endpoints[0]?.name, 'j');
  });

  void it('names file, document and line of a YAML syntax error and keeps the other documents', () => {
    const { value, diagnostics } = parse(ns('ok'), `${ns('a')}---\nkind: [Pod\n---\n${ns('b')}`);
    assert.deepEqual(brief(diagnostics), [['error', 'yaml-syntax', 'f1.yaml', 1, '']]);
    assert.match(diagnostics[0]?.message ?? '', /^line \d+, column \d+: /);
    assert.deepEqual(
      value.cluster.namespaces.map((n) => n.name),
      ['ok', 'a', 'b'],
    );
  });

  void it('reports a duplicate mapping key as a syntax error', () => {
    const { diagnostics } = parse('apiVersion: v1\nkind: Pod\nkind: Node\n');
    assert.deepEqual(brief(diagnostics), [['error', 'yaml-syntax', 'f0.yaml', 0, '']]);
  });

  const shapeCases: readonly { name: string; text: string; want: unknown[][] }[] = [
    {
      name: 'a scalar document is not an object',
      text: 'hello',
      want: [['error', 'not-an-object', 'f0.yaml', 0, '']],
    },
    {
      name: 'a sequence document is not an object',
      text: '- a\n- b',
      want: [['error', 'not-an-object', 'f0.yaml', 0, '']],
    },
    {
      name: 'kind is required',
      text: 'apiVersion: v1\nmetadata: {name: x}',
      want: [['error', 'missing-field', 'f0.yaml', 0, 'kind']],
    },
    {
      name: 'apiVersion is required',
      text: 'kind: Pod\nmetadata: {name: x}',
      want: [['error', 'missing-field', 'f0.yaml', 0, 'apiVersion']],
    },
    {
      name: 'an unknown kind is skipped with a warning',
      text: 'apiVersion: v1\nkind: Service\nmetadata: {name: s}',
      want: [['warning', 'unknown-kind', 'f0.yaml', 0, 'kind']],
    },
    {
      name: 'a known kind at an unknown version is skipped',
      text: 'apiVersion: extensions/v1beta1\nkind: NetworkPolicy\nmetadata: {name: s}',
      want: [['warning', 'unknown-kind', 'f0.yaml', 0, 'kind']],
    },
  ];
  for (const c of shapeCases) {
    void it(c.name, () => {
      const { value, diagnostics } = parse(c.text);
      assert.deepEqual(brief(diagnostics), c.want);
      assert.deepEqual(value.cluster.endpoints, []);
      assert.deepEqual(value.policies, []);
    });
  }
});

void describe('parseSources: lists', () => {
  void it('unwraps kind: List; items keep the document index and get an items[i] path prefix', () => {
    const text = `${ns('a')}---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: p, namespace: a}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n`;
    const { value, diagnostics } = parse(text);
    assert.deepEqual(brief(diagnostics), [['warning', 'unknown-kind', 'f0.yaml', 1, 'items[1].kind']]);
    assert.deepEqual(
      value.cluster.endpoints.map((e) => e.name),
      ['p'],
    );
  });

  void it('unwraps a typed list whose items omit apiVersion and kind', () => {
    const text = `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicyList\nitems:\n- {metadata: {name: a, namespace: x}, spec: {podSelector: {}}}\n- {metadata: {name: b, namespace: x}, spec: {podSelector: {}}}\n`;
    const { value, diagnostics } = parse(text);
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(
      value.policies.map((p) => [p.ref.name, p.ref.doc]),
      [
        ['a', 0],
        ['b', 0],
      ],
    );
  });

  void it('drops the whole document when one item has an error', () => {
    const text = `apiVersion: v1\nkind: List\nitems:\n- ${JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'good' } })}\n- ${JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'bad' }, spec: { policyTypes: ['Sideways'] } })}\n`;
    const { value, diagnostics } = parse(text);
    assert.deepEqual(
      brief(diagnostics).filter(([severity]) => severity === 'error'),
      [['error', 'unsupported-value', 'f0.yaml', 0, 'items[1].spec.policyTypes[0]']],
    );
    assert.deepEqual(value.cluster.endpoints, []);
    assert.deepEqual(value.policies, []);
  });

  void it('rejects an item that is not an object', () => {
    const { diagnostics } = parse('apiVersion: v1\nkind: List\nitems: [3]\n');
    assert.deepEqual(brief(diagnostics), [['error', 'not-an-object', 'f0.yaml', 0, 'items[0]']]);
  });
});

void describe('parseSources: assembling the cluster', () => {
  void it('warns about a duplicate object and keeps the last one', () => {
    const { value, diagnostics } = parse(
      np('deny', 'a', '{podSelector: {matchLabels: {v: "1"}}}'),
      np('deny', 'a'),
    );
    assert.deepEqual(brief(diagnostics), [['warning', 'duplicate', 'f1.yaml', 0, 'metadata.name']]);
    assert.match(diagnostics[0]?.message ?? '', /f0\.yaml/);
    assert.equal(value.policies.length, 1);
    assert.equal(value.policies[0]?.ref.file, 'f1.yaml');
  });

  void it('does not confuse objects of different kinds or namespaces with the same name', () => {
    const { value, diagnostics } = parse(
      `${np('x', 'a')}---\n${np('x', 'b')}---\n${pod('x', 'a')}---\n${ns('x')}`,
    );
    assert.deepEqual(diagnostics, []);
    assert.equal(value.policies.length, 2);
    assert.equal(value.cluster.endpoints.length, 1);
  });

  void it('adds namespaces that pods and policies live in but nobody declared', () => {
    const { value } = parse(
      `${ns('declared', '{team: a}')}---\n${pod('p', 'from-pod')}---\n${np('n', 'from-policy')}---\n${pod('q')}`,
    );
    assert.deepEqual(value.cluster.namespaces, [
      { name: 'declared', labels: { team: 'a', 'kubernetes.io/metadata.name': 'declared' } },
      { name: 'from-pod', labels: { 'kubernetes.io/metadata.name': 'from-pod' } },
      { name: 'default', labels: { 'kubernetes.io/metadata.name': 'default' } },
      { name: 'from-policy', labels: { 'kubernetes.io/metadata.name': 'from-policy' } },
    ]);
  });

  void it('gives endpoints the labels of their namespace, even when it is declared later', () => {
    const { value } = parse(pod('p', 'prod'), pod('q', 'dev'), ns('prod', '{env: production}'));
    assert.deepEqual(
      value.cluster.endpoints.map((e) => [e.name, e.namespaceLabels]),
      [
        ['p', { env: 'production', 'kubernetes.io/metadata.name': 'prod' }],
        ['q', { 'kubernetes.io/metadata.name': 'dev' }],
      ],
    );
  });

  void it('reads nodes', () => {
    const { value, diagnostics } = parse(
      'apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {addresses: [{type: InternalIP, address: 10.1.0.1}]}\n',
    );
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(value.cluster.nodes, [{ name: 'n1', labels: {}, ips: ['10.1.0.1'], podCIDRs: [] }]);
  });

  void it('lets a new dialect register a kind through the handler table', () => {
    const { value, diagnostics } = parseSources(
      [{ file: 'c.yaml', text: 'apiVersion: example.io/v1\nkind: Thing\n' }],
      {
        'example.io/v1/Thing': () => ({
          kind: 'node',
          node: { name: 'thing', labels: {}, ips: [], podCIDRs: [] },
        }),
      },
    );
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(
      value.cluster.nodes.map((n) => n.name),
      ['thing'],
    );
  });
});

void describe('parseSources: where each policy field is written (Policy.lines)', () => {
  const text = [
    '# a comment first',
    'apiVersion: networking.k8s.io/v1',
    'kind: NetworkPolicy',
    'metadata: {name: web, namespace: x}',
    'spec:',
    '  podSelector: {}',
    '  ingress:',
    '  - ports:',
    '    - port: 80',
    '      endPort: 90',
    '',
  ].join('\n');

  void it('records the line of the object, of each key and of each list entry, by diagnostic path', () => {
    const p = parse(ns('x'), text).value.policies[0];
    assert.ok(p);
    assert.equal(p.ref.file, 'f1.yaml');
    assert.deepEqual(
      [
        '',
        'kind',
        'spec',
        'spec.ingress',
        'spec.ingress[0]',
        'spec.ingress[0].ports[0]',
        'spec.ingress[0].ports[0].endPort',
      ].map((path) => p.lines?.[path]),
      [2, 3, 5, 7, 8, 9, 10],
    );
  });

  void it('lineOf falls back to the nearest written ancestor, then the object', () => {
    const p = parse(text).value.policies[0];
    assert.ok(p);
    assert.equal(lineOf(p, 'spec.ingress[0].ports[0].protocol'), 9, 'an unwritten key: its list entry');
    assert.equal(lineOf(p, 'spec.egress'), 5, 'an unwritten list: its spec');
    assert.equal(lineOf(p, 'status'), 2, 'nothing of it written: the object');
    assert.equal(lineOf(withoutLines(p), 'spec'), undefined, 'built in code: no line');
  });

  void it('counts lines from the start of the source, across documents', () => {
    const p = parse(`${ns('x')}---\n${text}`).value.policies[0];
    assert.equal(p?.ref.doc, 1);
    assert.equal(p?.lines?.['spec.ingress[0].ports[0].endPort'], 14);
  });

  void it('gives a List item the lines of its own fields, by paths relative to the item', () => {
    const list = [
      'apiVersion: v1',
      'kind: List',
      'items:',
      `- ${np('a', 'x').trimEnd().split('\n').join('\n  ')}`,
      `- ${np('b', 'x', '{podSelector: {}, policyTypes: [Egress]}').trimEnd().split('\n').join('\n  ')}`,
      '',
    ].join('\n');
    const { value, diagnostics } = parse(list);
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(
      value.policies.map((p) => [p.ref.name, p.lines?.[''], p.lines?.['spec']]),
      [
        ['a', 4, 7],
        ['b', 8, 11],
      ],
    );
  });

  void it('reads the lines of JSON sources too', () => {
    const json = JSON.stringify(
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'j', namespace: 'x' },
        spec: { podSelector: {} },
      },
      null,
      2,
    );
    const p = parse(json).value.policies[0];
    assert.deepEqual([p?.lines?.[''], p?.lines?.['spec']], [1, 8]);
  });

  void it('gives every piece of one object the same table (a Cilium `specs` list)', () => {
    const { value } = parse(
      'apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: m, namespace: x}\nspecs:\n' +
        '- {endpointSelector: {}, ingress: [{}]}\n- {endpointSelector: {}, egress: [{}]}\n',
    );
    const [a, b] = value.policies;
    assert.ok(a && b);
    assert.equal(a.lines, b.lines);
    assert.deepEqual([a.lines?.['specs[0]'], b.lines?.['specs[1]']], [5, 6]);
  });
});
