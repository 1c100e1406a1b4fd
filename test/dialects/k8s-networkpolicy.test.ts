import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSources } from '../../src/dialects/parse.js';
import type { DiagnosticCode, Policy, Severity } from '../../src/ir/index.js';
import { KUBERNETES_TIER, SELECT_ALL } from '../../src/ir/index.js';

const FILE = 'policies/np.yaml';

/**
 * A NetworkPolicy manifest as the second document of a file (the first is a Namespace), so that the
 * tests also see that diagnostics carry the right document index.
 */
function manifest(spec: string, metadata = '{name: np, namespace: prod}'): string {
  return [
    'apiVersion: v1',
    'kind: Namespace',
    'metadata: {name: prod}',
    '---',
    'apiVersion: networking.k8s.io/v1',
    'kind: NetworkPolicy',
    `metadata: ${metadata}`,
    `spec: ${spec}`,
    '',
  ].join('\n');
}

function load(text: string) {
  return parseSources([{ file: FILE, text }]);
}

function onlyPolicy(text: string): Policy {
  const { value, diagnostics } = load(text);
  assert.deepEqual(
    diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
  assert.equal(value.policies.length, 1);
  return value.policies[0] as Policy;
}

interface ValidationCase {
  readonly name: string;
  readonly spec: string;
  readonly metadata?: string;
  readonly code: DiagnosticCode;
  readonly path: string;
  readonly severity?: Severity;
  /** A piece of the message the user should see. */
  readonly says?: string;
}

const validationCases: readonly ValidationCase[] = [
  {
    name: 'metadata.name is required',
    metadata: '{namespace: prod}',
    spec: '{podSelector: {}}',
    code: 'missing-field',
    path: 'metadata.name',
  },
  {
    name: 'metadata.name must be a DNS-1123 subdomain',
    metadata: '{name: Bad_Name}',
    spec: '{podSelector: {}}',
    code: 'invalid-value',
    path: 'metadata.name',
  },
  {
    name: 'metadata.namespace must be a DNS-1123 label',
    metadata: '{name: np, namespace: a.b}',
    spec: '{podSelector: {}}',
    code: 'invalid-value',
    path: 'metadata.namespace',
  },
  {
    name: 'metadata.labels keys must be qualified names',
    metadata: '{name: np, labels: {"a b": x}}',
    spec: '{podSelector: {}}',
    code: 'invalid-value',
    path: 'metadata.labels',
  },
  {
    name: 'a missing spec.podSelector is read as {} with a warning, as the API server decodes it',
    spec: '{ingress: []}',
    code: 'missing-field',
    path: 'spec.podSelector',
    severity: 'warning',
  },
  {
    name: 'a missing spec means a missing podSelector (a warning)',
    spec: 'null',
    code: 'missing-field',
    path: 'spec.podSelector',
    severity: 'warning',
  },
  {
    name: 'podSelector must be an object',
    spec: '{podSelector: [a]}',
    code: 'invalid-type',
    path: 'spec.podSelector',
  },
  {
    name: 'In needs values',
    spec: '{podSelector: {matchExpressions: [{key: app, operator: In}]}}',
    code: 'missing-field',
    path: 'spec.podSelector.matchExpressions[0].values',
    says: "'In' or 'NotIn'",
  },
  {
    name: 'NotIn needs non-empty values',
    spec: '{podSelector: {matchExpressions: [{key: app, operator: NotIn, values: []}]}}',
    code: 'missing-field',
    path: 'spec.podSelector.matchExpressions[0].values',
  },
  {
    name: 'Exists takes no values',
    spec: '{podSelector: {matchExpressions: [{key: app, operator: Exists, values: [a]}]}}',
    code: 'invalid-value',
    path: 'spec.podSelector.matchExpressions[0].values',
  },
  {
    name: 'DoesNotExist takes no values',
    spec: '{podSelector: {matchExpressions: [{key: app, operator: DoesNotExist, values: [a]}]}}',
    code: 'invalid-value',
    path: 'spec.podSelector.matchExpressions[0].values',
  },
  {
    name: 'unknown selector operator',
    spec: '{podSelector: {matchExpressions: [{key: app, operator: Has}]}}',
    code: 'unsupported-value',
    path: 'spec.podSelector.matchExpressions[0].operator',
    says: 'not a valid selector operator',
  },
  {
    name: 'selector operator is required',
    spec: '{podSelector: {matchExpressions: [{key: app}]}}',
    code: 'missing-field',
    path: 'spec.podSelector.matchExpressions[0].operator',
  },
  {
    name: 'matchExpressions key must be a qualified name',
    spec: '{podSelector: {matchExpressions: [{key: "-app", operator: Exists}]}}',
    code: 'invalid-value',
    path: 'spec.podSelector.matchExpressions[0].key',
  },
  {
    name: 'matchExpressions values must be label values',
    spec: '{podSelector: {matchExpressions: [{key: app, operator: In, values: [ok, "not ok"]}]}}',
    code: 'invalid-value',
    path: 'spec.podSelector.matchExpressions[0].values[1]',
  },
  {
    name: 'matchLabels key with an empty prefix',
    spec: '{podSelector: {matchLabels: {"/app": web}}}',
    code: 'invalid-value',
    path: 'spec.podSelector.matchLabels',
    says: 'prefix part must be non-empty',
  },
  {
    name: 'matchLabels value must be a label value',
    spec: '{podSelector: {matchLabels: {app: "web!"}}}',
    code: 'invalid-value',
    path: 'spec.podSelector.matchLabels',
  },
  {
    name: 'matchLabels value must be a string',
    spec: '{podSelector: {matchLabels: {app: 1}}}',
    code: 'invalid-type',
    path: 'spec.podSelector.matchLabels',
  },
  {
    name: 'namespaceSelector is validated like podSelector',
    spec: '{podSelector: {}, ingress: [{from: [{namespaceSelector: {matchExpressions: [{key: a, operator: In}]}}]}]}',
    code: 'missing-field',
    path: 'spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values',
  },
  {
    name: 'policyTypes only Ingress or Egress',
    spec: '{podSelector: {}, policyTypes: [Ingress, Both]}',
    code: 'unsupported-value',
    path: 'spec.policyTypes[1]',
  },
  {
    name: 'policyTypes at most two',
    spec: '{podSelector: {}, policyTypes: [Ingress, Egress, Ingress]}',
    code: 'invalid-value',
    path: 'spec.policyTypes',
    says: 'more than two',
  },
  {
    name: 'repeated policyType is a warning (the API server accepts it)',
    spec: '{podSelector: {}, policyTypes: [Egress, Egress]}',
    code: 'duplicate',
    path: 'spec.policyTypes[1]',
    severity: 'warning',
  },
  {
    name: 'protocol must be TCP, UDP or SCTP',
    spec: '{podSelector: {}, ingress: [{ports: [{protocol: ICMP, port: 1}]}]}',
    code: 'unsupported-value',
    path: 'spec.ingress[0].ports[0].protocol',
  },
  {
    name: 'protocol is case-sensitive',
    spec: '{podSelector: {}, ingress: [{ports: [{protocol: tcp}]}]}',
    code: 'unsupported-value',
    path: 'spec.ingress[0].ports[0].protocol',
  },
  {
    name: 'port 0 is out of range',
    spec: '{podSelector: {}, ingress: [{ports: [{port: 0}]}]}',
    code: 'invalid-value',
    path: 'spec.ingress[0].ports[0].port',
    says: 'between 1 and 65535',
  },
  {
    name: 'port 65536 is out of range',
    spec: '{podSelector: {}, egress: [{ports: [{port: 80}, {port: 65536}]}]}',
    code: 'invalid-value',
    path: 'spec.egress[0].ports[1].port',
  },
  {
    name: 'named port must be lower case',
    spec: '{podSelector: {}, ingress: [{ports: [{port: HTTP}]}]}',
    code: 'invalid-value',
    path: 'spec.ingress[0].ports[0].port',
  },
  {
    name: 'named port at most 15 characters',
    spec: '{podSelector: {}, ingress: [{ports: [{port: abcdefghijklmnop}]}]}',
    code: 'invalid-value',
    path: 'spec.ingress[0].ports[0].port',
    says: '15 characters',
  },
  {
    name: 'a quoted number is a port name and needs a letter',
    spec: '{podSelector: {}, ingress: [{ports: [{port: "80"}]}]}',
    code: 'invalid-value',
    path: 'spec.ingress[0].ports[0].port',
    says: 'at least one letter',
  },
  {
    name: 'named port without consecutive hyphens',
    spec: '{podSelector: {}, ingress: [{ports: [{port: a--b}]}]}',
    code: 'invalid-value',
    path: 'spec.ingress[0].ports[0].port',
  },
  {
    name: 'port must be an integer or a string',
    spec: '{podSelector: {}, ingress: [{ports: [{port: true}]}]}',
    code: 'invalid-type',
    path: 'spec.ingress[0].ports[0].port',
  },
  {
    name: 'endPort needs a numeric port',
    spec: '{podSelector: {}, ingress: [{ports: [{port: http, endPort: 90}]}]}',
    code: 'invalid-value',
    path: 'spec.ingress[0].ports[0].endPort',
    says: 'non-numeric',
  },
  {
    name: 'endPort needs a port',
    spec: '{podSelector: {}, ingress: [{ports: [{endPort: 90}]}]}',
    code: 'invalid-value',
    path: 'spec.ingress[0].ports[0].endPort',
    says: 'not specified',
  },
  {
    name: 'endPort at least port',
    spec: '{podSelector: {}, ingress: [{ports: [{port: 90, endPort: 80}]}]}',
    code: 'invalid-value',
    path: 'spec.ingress[0].ports[0].endPort',
    says: 'greater than or equal to `port`',
  },
  {
    name: 'endPort at most 65535',
    spec: '{podSelector: {}, ingress: [{ports: [{port: 90, endPort: 70000}]}]}',
    code: 'invalid-value',
    path: 'spec.ingress[0].ports[0].endPort',
    says: 'between 1 and 65535',
  },
  {
    name: 'ipBlock.cidr must be a CIDR',
    spec: '{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0}}]}]}',
    code: 'invalid-value',
    path: 'spec.egress[0].to[0].ipBlock.cidr',
    says: 'valid CIDR',
  },
  {
    name: 'ipBlock.cidr rejects leading zeros',
    spec: '{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 010.0.0.0/8}}]}]}',
    code: 'invalid-value',
    path: 'spec.egress[0].to[0].ipBlock.cidr',
  },
  {
    name: 'ipBlock.cidr is required',
    spec: '{podSelector: {}, egress: [{to: [{ipBlock: {except: [10.0.0.0/8]}}]}]}',
    code: 'missing-field',
    path: 'spec.egress[0].to[0].ipBlock.cidr',
  },
  {
    name: 'except must be a CIDR',
    spec: '{podSelector: {}, ingress: [{from: [{}, {ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/33]}}]}]}',
    code: 'invalid-value',
    path: 'spec.ingress[0].from[1].ipBlock.except[0]',
  },
  {
    name: 'except equal to cidr is not a strict subset',
    spec: '{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/8]}}]}]}',
    code: 'invalid-value',
    path: 'spec.ingress[0].from[0].ipBlock.except[0]',
    says: 'must be a strict subset of `cidr`',
  },
  {
    name: 'except outside cidr',
    spec: '{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, 11.0.0.0/16]}}]}]}',
    code: 'invalid-value',
    path: 'spec.ingress[0].from[0].ipBlock.except[1]',
    says: 'strict subset',
  },
  {
    name: 'except of the other address family',
    spec: '{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: ["fd00::/64"]}}]}]}',
    code: 'invalid-value',
    path: 'spec.ingress[0].from[0].ipBlock.except[0]',
  },
  {
    name: 'ipBlock with podSelector in one peer',
    spec: '{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]}',
    code: 'invalid-value',
    path: 'spec.ingress[0].from[0]',
    says: 'both ipBlock and another peer',
  },
  {
    name: 'ipBlock with namespaceSelector in one peer',
    spec: '{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}, namespaceSelector: {}}]}]}',
    code: 'invalid-value',
    path: 'spec.egress[0].to[0]',
  },
  {
    name: 'a peer must name something',
    spec: '{podSelector: {}, ingress: [{from: [{podSelector: {}}, {}]}]}',
    code: 'missing-field',
    path: 'spec.ingress[0].from[1]',
    says: 'must specify a peer',
  },
  {
    name: 'ingress must be a list',
    spec: '{podSelector: {}, ingress: {from: []}}',
    code: 'invalid-type',
    path: 'spec.ingress',
  },
  {
    name: 'unknown spec field is pruned with a warning',
    spec: '{podSelector: {}, ingres: []}',
    code: 'unknown-field',
    path: 'spec.ingres',
    severity: 'warning',
  },
  {
    name: 'unknown peer field is pruned with a warning',
    spec: '{podSelector: {}, ingress: [{from: [{podSelector: {}, namespace: prod}]}]}',
    code: 'unknown-field',
    path: 'spec.ingress[0].from[0].namespace',
    severity: 'warning',
  },
  {
    name: 'unknown port field is pruned with a warning',
    spec: '{podSelector: {}, ingress: [{ports: [{port: 80, proto: UDP}]}]}',
    code: 'unknown-field',
    path: 'spec.ingress[0].ports[0].proto',
    severity: 'warning',
  },
  {
    name: 'ingress rules outside policyTypes have no effect',
    spec: '{podSelector: {}, policyTypes: [Egress], ingress: [{}]}',
    code: 'invalid-value',
    path: 'spec.ingress',
    severity: 'warning',
    says: 'no effect',
  },
  {
    name: 'empty egress without policyTypes does not isolate egress',
    spec: '{podSelector: {}, egress: []}',
    code: 'invalid-value',
    path: 'spec.egress',
    severity: 'warning',
    says: 'policyTypes',
  },
];

void describe('NetworkPolicy validation', () => {
  void it('the base manifest is clean', () => {
    const { value, diagnostics } = load(manifest('{podSelector: {}}'));
    assert.deepEqual(diagnostics, []);
    assert.equal(value.policies.length, 1);
  });

  for (const c of validationCases) {
    void it(c.name, () => {
      const { value, diagnostics } = load(manifest(c.spec, c.metadata));
      const severity = c.severity ?? 'error';
      const hit = diagnostics.find((d) => d.code === c.code && d.path === c.path && d.severity === severity);
      assert.ok(
        hit,
        `expected ${severity} ${c.code} at ${c.path}, got ${JSON.stringify(diagnostics, null, 1)}`,
      );
      assert.equal(hit.file, FILE);
      assert.equal(hit.doc, 1);
      if (c.says !== undefined)
        assert.match(hit.message, new RegExp(c.says.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      // An error drops the whole policy; a warning keeps it.
      assert.equal(value.policies.length, severity === 'error' ? 0 : 1);
      // The Namespace document before it is unaffected either way.
      assert.ok(value.cluster.namespaces.some((n) => n.name === 'prod'));
    });
  }
});

void describe('NetworkPolicy mapping', () => {
  void it('places the policy in the Kubernetes tier with attribution', () => {
    const p = onlyPolicy(manifest('{podSelector: {}}'));
    assert.deepEqual(p.ref, {
      dialect: 'kubernetes',
      kind: 'NetworkPolicy',
      namespace: 'prod',
      name: 'np',
      file: FILE,
      doc: 1,
    });
    assert.equal(p.tier, KUBERNETES_TIER);
    assert.equal(p.priority, 1000); // Calico's order for Kubernetes policies
    assert.deepEqual(p.subject, { namespaces: { kind: 'names', names: ['prod'] }, pods: SELECT_ALL });
  });

  void it('defaults the namespace to default', () => {
    const p = onlyPolicy(manifest('{podSelector: {}}', '{name: np}'));
    assert.equal(p.ref.namespace, 'default');
    assert.deepEqual(p.subject.namespaces, { kind: 'names', names: ['default'] });
  });

  void it('maps matchLabels to In and keeps matchExpressions', () => {
    const p = onlyPolicy(
      manifest(
        '{podSelector: {matchLabels: {app: web}, matchExpressions: [{key: tier, operator: NotIn, values: [db, cache]}, {key: canary, operator: DoesNotExist}]}}',
      ),
    );
    assert.deepEqual(p.subject.pods, {
      kind: 'match',
      requirements: [
        { key: 'app', op: 'In', values: ['web'] },
        { key: 'tier', op: 'NotIn', values: ['db', 'cache'] },
        { key: 'canary', op: 'DoesNotExist' },
      ],
    });
  });

  const policyTypeCases: readonly {
    name: string;
    spec: string;
    isolates: string[];
    ingress: number;
    egress: number;
  }[] = [
    {
      name: 'absent policyTypes with only ingress → Ingress',
      spec: '{podSelector: {}, ingress: [{}]}',
      isolates: ['Ingress'],
      ingress: 1,
      egress: 0,
    },
    {
      name: 'absent policyTypes and no rules → Ingress (deny all ingress)',
      spec: '{podSelector: {}}',
      isolates: ['Ingress'],
      ingress: 0,
      egress: 0,
    },
    {
      name: 'absent policyTypes with egress rules → Ingress, Egress',
      spec: '{podSelector: {}, egress: [{}]}',
      isolates: ['Ingress', 'Egress'],
      ingress: 0,
      egress: 1,
    },
    {
      name: 'absent policyTypes with egress: [] → Ingress only, as SetDefaults_NetworkPolicy',
      spec: '{podSelector: {}, egress: []}',
      isolates: ['Ingress'],
      ingress: 0,
      egress: 0,
    },
    {
      name: 'empty policyTypes is defaulted like an absent one',
      spec: '{podSelector: {}, policyTypes: [], egress: [{}]}',
      isolates: ['Ingress', 'Egress'],
      ingress: 0,
      egress: 1,
    },
    {
      name: 'explicit Egress only drops ingress rules',
      spec: '{podSelector: {}, policyTypes: [Egress], ingress: [{}], egress: [{}, {}]}',
      isolates: ['Egress'],
      ingress: 0,
      egress: 2,
    },
    {
      name: 'explicit Egress with no rules denies all egress',
      spec: '{podSelector: {}, policyTypes: [Egress]}',
      isolates: ['Egress'],
      ingress: 0,
      egress: 0,
    },
    {
      name: 'explicit list keeps its order',
      spec: '{podSelector: {}, policyTypes: [Egress, Ingress], ingress: [{}]}',
      isolates: ['Egress', 'Ingress'],
      ingress: 1,
      egress: 0,
    },
  ];
  for (const c of policyTypeCases) {
    void it(c.name, () => {
      const p = onlyPolicy(manifest(c.spec));
      assert.deepEqual(p.isolates, c.isolates);
      assert.equal(p.ingress.length, c.ingress);
      assert.equal(p.egress.length, c.egress);
    });
  }

  const ruleCases: readonly { name: string; rule: string; peers: unknown; ports: unknown }[] = [
    { name: 'missing from and ports allow everything', rule: '{}', peers: 'any', ports: 'any' },
    {
      name: 'empty from and ports allow everything',
      rule: '{from: [], ports: []}',
      peers: 'any',
      ports: 'any',
    },
    {
      name: 'podSelector alone means pods of the policy namespace',
      rule: '{from: [{podSelector: {matchLabels: {app: db}}}]}',
      peers: [
        {
          kind: 'endpoints',
          namespaces: { kind: 'names', names: ['prod'] },
          pods: { kind: 'match', requirements: [{ key: 'app', op: 'In', values: ['db'] }] },
        },
      ],
      ports: 'any',
    },
    {
      name: 'namespaceSelector alone means every pod of matching namespaces',
      rule: '{from: [{namespaceSelector: {matchLabels: {team: a}}}]}',
      peers: [
        {
          kind: 'endpoints',
          namespaces: {
            kind: 'selector',
            selector: { kind: 'match', requirements: [{ key: 'team', op: 'In', values: ['a'] }] },
          },
          pods: SELECT_ALL,
        },
      ],
      ports: 'any',
    },
    {
      name: 'both selectors in one peer are an AND',
      rule: '{from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}]}',
      peers: [
        {
          kind: 'endpoints',
          namespaces: { kind: 'selector', selector: SELECT_ALL },
          pods: { kind: 'match', requirements: [{ key: 'app', op: 'In', values: ['db'] }] },
        },
      ],
      ports: 'any',
    },
    {
      name: 'selectors in two peers are an OR',
      rule: '{from: [{namespaceSelector: {}}, {podSelector: {}}]}',
      peers: [
        { kind: 'endpoints', namespaces: { kind: 'selector', selector: SELECT_ALL }, pods: SELECT_ALL },
        { kind: 'endpoints', namespaces: { kind: 'names', names: ['prod'] }, pods: SELECT_ALL },
      ],
      ports: 'any',
    },
    {
      name: 'ipBlock is canonical and matches pods',
      rule: '{from: [{ipBlock: {cidr: 10.1.2.3/8, except: [10.1.0.0/16]}}, {ipBlock: {cidr: "2001:DB8:0:0::/32"}}]}',
      peers: [
        { kind: 'cidr', cidr: '10.0.0.0/8', except: ['10.1.0.0/16'], matchesPods: true },
        { kind: 'cidr', cidr: '2001:db8::/32', except: [], matchesPods: true },
      ],
      ports: 'any',
    },
    {
      name: 'ports: number, range, named, protocol only',
      rule: '{ports: [{port: 80}, {protocol: UDP, port: 5000, endPort: 5010}, {port: http}, {protocol: SCTP}]}',
      peers: 'any',
      ports: [
        { kind: 'range', protocol: 'TCP', from: 80, to: 80 },
        { kind: 'range', protocol: 'UDP', from: 5000, to: 5010 },
        { kind: 'named', protocol: 'TCP', name: 'http' },
        { kind: 'protocol', protocol: 'SCTP' },
      ],
    },
  ];
  for (const c of ruleCases) {
    void it(c.name, () => {
      const p = onlyPolicy(manifest(`{podSelector: {}, ingress: [{}, ${c.rule}]}`));
      const rule = p.ingress[1];
      assert.ok(rule);
      assert.deepEqual(rule, { action: 'Allow', peers: c.peers, ports: c.ports, index: 1 });
    });
  }

  void it('egress rules use `to` and keep their index', () => {
    const p = onlyPolicy(
      manifest(
        '{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}]}, {ports: [{port: 53, protocol: UDP}]}]}',
      ),
    );
    assert.deepEqual(
      p.egress.map((r) => [
        r.index,
        r.peers === 'any' ? 'any' : r.peers.length,
        r.ports === 'any' ? 'any' : r.ports.length,
      ]),
      [
        [0, 1, 'any'],
        [1, 'any', 1],
      ],
    );
  });
});
