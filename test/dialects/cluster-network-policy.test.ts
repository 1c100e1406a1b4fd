/**
 * ClusterNetworkPolicy (v1alpha2) and AdminNetworkPolicy / BaselineAdminNetworkPolicy (v1alpha1).
 * Sources: kubernetes-sigs/network-policy-api HEAD (apis/v1alpha2/clusternetworkpolicy_types.go,
 * site-src/api-overview.md, config/crd/experimental) and v0.1.8 (apis/v1alpha1/*_types.go and CRDs);
 * conformance manifests from /work/shared/peer-data/network-policy-api.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLUSTER_NETWORK_POLICY_KIND_HANDLERS } from '../../src/dialects/cluster-network-policy.js';
import { KIND_HANDLERS, kindKey } from '../../src/dialects/kinds.js';
import { parseSources } from '../../src/dialects/parse.js';
import { buildModel, evaluate } from '../../src/engine/index.js';
import type {
  Diagnostic,
  DiagnosticCode,
  Endpoint,
  Policy,
  Rule,
  Selector,
  Severity,
  Tier,
} from '../../src/ir/index.js';
import { KUBERNETES_TIER, SELECT_ALL, TIER_ORDER } from '../../src/ir/index.js';
import { PEER_DATA, templated, yamlFiles } from '../support/network-policy-api.js';

const V2 = 'policy.networking.k8s.io/v1alpha2';
const V1 = 'policy.networking.k8s.io/v1alpha1';
const FILE = 'policies/cnp.yaml';

function cnp(spec: string, name = 'cnp'): string {
  return `apiVersion: ${V2}\nkind: ClusterNetworkPolicy\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
}
function anp(spec: string, name = 'anp'): string {
  return `apiVersion: ${V1}\nkind: AdminNetworkPolicy\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
}
function banp(spec: string, name = 'default'): string {
  return `apiVersion: ${V1}\nkind: BaselineAdminNetworkPolicy\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
}

function load(...docs: string[]) {
  return parseSources([{ file: FILE, text: docs.join('---\n') }]);
}

function errors(ds: readonly Diagnostic[]): Diagnostic[] {
  return ds.filter((d) => d.severity === 'error');
}

function onlyPolicy(doc: string): Policy {
  const { value, diagnostics } = load(doc);
  assert.deepEqual(errors(diagnostics), []);
  assert.equal(value.policies.length, 1);
  return value.policies[0] as Policy;
}

function labelsSel(labels: Record<string, string>): Selector {
  return {
    kind: 'match',
    requirements: Object.entries(labels).map(([key, v]) => ({ key, op: 'In', values: [v] })),
  };
}

const houseNs = (house: string) => ({ kind: 'selector', selector: labelsSel({ house }) }) as const;

describe('registration', () => {
  it('KIND_HANDLERS reads all three kinds', () => {
    for (const [apiVersion, kind] of [
      [V2, 'ClusterNetworkPolicy'],
      [V1, 'AdminNetworkPolicy'],
      [V1, 'BaselineAdminNetworkPolicy'],
    ] as const) {
      assert.equal(
        KIND_HANDLERS[kindKey(apiVersion, kind)],
        CLUSTER_NETWORK_POLICY_KIND_HANDLERS[kindKey(apiVersion, kind)],
      );
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Conformance manifests: every policy upstream's conformance suite applies must load without errors.

const CONFORMANCE_HANDLERS = {
  ...CLUSTER_NETWORK_POLICY_KIND_HANDLERS,
  [kindKey('v1', 'Namespace')]: KIND_HANDLERS[kindKey('v1', 'Namespace')]!,
};

describe('conformance manifests load with zero errors', () => {
  for (const version of ['HEAD', 'v0.1.8']) {
    const files = yamlFiles(join(PEER_DATA, version, 'conformance', 'base'));
    it(`${version}: found the manifests`, () => assert.ok(files.length >= 20, `${files.length} files`));
    for (const file of files) {
      it(`${version}: ${file.slice(PEER_DATA.length + 1)}`, () => {
        const text = templated(readFileSync(file, 'utf8'));
        // NetworkPolicy and StatefulSet documents are skipped (unknown-kind warnings): only this dialect's
        // kinds, and namespaces, are under test here.
        const { value, diagnostics } = parseSources([{ file, text }], CONFORMANCE_HANDLERS);
        assert.deepEqual(errors(diagnostics), []);
        const written = (
          text.match(/^kind: (ClusterNetworkPolicy|AdminNetworkPolicy|BaselineAdminNetworkPolicy)$/gm) ?? []
        ).length;
        const names = new Set(value.policies.map((p) => `${p.ref.kind}/${p.ref.name}`));
        // Files that hold the same name twice keep the last (duplicate warning), as kubectl apply would.
        assert.equal(value.policies.length, names.size);
        assert.ok(written > 0 ? value.policies.length > 0 : value.policies.length === 0);
        for (const p of value.policies) {
          assert.deepEqual(p.isolates, []);
          assert.ok(p.tier === 'admin' || p.tier === 'baseline');
        }
      });
    }
  }

  it('HEAD pkg/crdtest valid manifests load; the invalid one fails on its action', () => {
    for (const name of ['cluster-wide-deny.yaml', 'deny-with-ports.yaml']) {
      const file = join(PEER_DATA, 'HEAD/pkg/crdtest/testdata/valid', name);
      const { value, diagnostics } = parseSources([{ file, text: readFileSync(file, 'utf8') }]);
      assert.deepEqual(errors(diagnostics), [], name);
      assert.equal(value.policies.length, 1);
    }
    const file = join(PEER_DATA, 'HEAD/pkg/crdtest/testdata/invalid/invalid-ingress-action.yaml');
    const { value, diagnostics } = parseSources([{ file, text: readFileSync(file, 'utf8') }]);
    assert.equal(value.policies.length, 0);
    assert.ok(
      errors(diagnostics).some((d) => d.path === 'spec.ingress[0].action' && d.code === 'unsupported-value'),
    );
  });

  it('gress-rules-combined (HEAD admin_tier) maps to the expected rule actions, names and ports', () => {
    const file = join(PEER_DATA, 'HEAD/conformance/base/admin_tier/standard-gress-rules-combined.yaml');
    const p = onlyPolicy(readFileSync(file, 'utf8'));
    assert.equal(p.tier, 'admin');
    assert.equal(p.priority, 15);
    assert.deepEqual(
      p.egress.map((r) => [r.index, r.name, r.action, r.passTo]),
      [
        [0, 'allow-to-ravenclaw-everything', 'Allow', undefined],
        [1, 'deny-to-ravenclaw-everything', 'Deny', undefined],
        [2, 'pass-to-ravenclaw-everything', 'Pass', KUBERNETES_TIER],
        [3, 'deny-to-slytherin-at-ports-80-53-9003', 'Deny', undefined],
        [4, 'pass-to-slytherin-at-port-80-53-9003', 'Pass', KUBERNETES_TIER],
        [5, 'allow-to-hufflepuff-at-ports-8080-5353-9003', 'Allow', undefined],
        [6, 'deny-to-hufflepuff-everything-else', 'Deny', undefined],
      ],
    );
    assert.deepEqual(p.egress[3]?.ports, [
      { kind: 'range', protocol: 'TCP', from: 80, to: 80 },
      { kind: 'range', protocol: 'UDP', from: 53, to: 53 },
      { kind: 'range', protocol: 'SCTP', from: 9003, to: 9003 },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Placement: tier, priority, isolation, attribution.

interface PlacementCase {
  readonly name: string;
  readonly doc: string;
  readonly tier: string;
  readonly priority: number;
  readonly dialect: string;
  readonly kind: string;
  readonly ruleName?: string;
}

const placementCases: readonly PlacementCase[] = [
  {
    name: 'CNP tier Admin → built-in admin tier, spec.priority (api-overview.md "Tiers", "Priorities")',
    doc: cnp('{tier: Admin, priority: 7, subject: {namespaces: {}}}', 'a'),
    tier: 'admin',
    priority: 7,
    dialect: 'cluster-network-policy',
    kind: 'ClusterNetworkPolicy',
  },
  {
    name: 'CNP tier Baseline → built-in baseline tier, keeps its priority',
    doc: cnp('{tier: Baseline, priority: 1000, subject: {namespaces: {}}}', 'b'),
    tier: 'baseline',
    priority: 1000,
    dialect: 'cluster-network-policy',
    kind: 'ClusterNetworkPolicy',
  },
  {
    name: 'ANP → admin tier, priority 0 allowed (Minimum=0)',
    doc: anp('{priority: 0, subject: {namespaces: {}}}', 'a'),
    tier: 'admin',
    priority: 0,
    dialect: 'admin-network-policy',
    kind: 'AdminNetworkPolicy',
  },
  {
    name: 'BANP (singleton "default", no priority field) → baseline tier, priority 0',
    doc: banp('{subject: {namespaces: {}}}'),
    tier: 'baseline',
    priority: 0,
    dialect: 'admin-network-policy',
    kind: 'BaselineAdminNetworkPolicy',
  },
];

describe('placement', () => {
  for (const c of placementCases) {
    it(c.name, () => {
      const p = onlyPolicy(c.doc);
      assert.equal(p.tier, c.tier);
      assert.equal(p.priority, c.priority);
      // "there will not be any implicit isolation effects" (api-overview.md "General Notes").
      assert.deepEqual(p.isolates, []);
      assert.equal(p.ref.dialect, c.dialect);
      assert.equal(p.ref.kind, c.kind);
      assert.equal(p.ref.namespace, undefined);
      assert.equal(p.ref.file, FILE);
      assert.equal(p.ref.doc, 0);
    });
  }

  it('ref.doc is the document index', () => {
    const { value } = load(
      anp('{priority: 1, subject: {namespaces: {}}}', 'x'),
      banp('{subject: {namespaces: {}}}'),
    );
    assert.deepEqual(
      value.policies.map((p) => [p.ref.name, p.ref.doc]),
      [
        ['x', 0],
        ['default', 1],
      ],
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// Subjects.

describe('subject', () => {
  const cases = [
    {
      name: 'namespaces: every pod of the selected namespaces',
      subject: '{namespaces: {matchLabels: {house: g}}}',
      expected: { namespaces: houseNs('g'), pods: SELECT_ALL },
    },
    {
      name: 'pods: namespaceSelector AND podSelector',
      subject:
        '{pods: {namespaceSelector: {matchLabels: {house: g}}, podSelector: {matchLabels: {app: web}}}}',
      expected: { namespaces: houseNs('g'), pods: labelsSel({ app: 'web' }) },
    },
    {
      name: 'v1alpha2 pods without namespaceSelector: all namespaces (NamespacedPod: +optional, empty selects all)',
      subject: '{pods: {podSelector: {}}}',
      expected: { namespaces: { kind: 'selector', selector: SELECT_ALL }, pods: SELECT_ALL },
    },
  ] as const;
  for (const c of cases) {
    it(c.name, () => {
      const p = onlyPolicy(cnp(`{tier: Admin, priority: 1, subject: ${c.subject}}`));
      assert.deepEqual(p.subject, c.expected);
    });
  }
});

// ---------------------------------------------------------------------------------------------------------
// Rules: actions, peers, ports.

interface RuleCase {
  readonly name: string;
  readonly doc: string;
  readonly direction: 'ingress' | 'egress';
  readonly rules: readonly Rule[];
  /** Warnings expected, by path. */
  readonly warns?: readonly string[];
}

const allNs = {
  kind: 'endpoints',
  namespaces: { kind: 'selector', selector: SELECT_ALL },
  pods: SELECT_ALL,
} as const;
const cnpAdmin = (rules: string, dir = 'ingress') =>
  cnp(`{tier: Admin, priority: 1, subject: {namespaces: {}}, ${dir}: ${rules}}`);
const cnpBaseline = (rules: string, dir = 'ingress') =>
  cnp(`{tier: Baseline, priority: 1, subject: {namespaces: {}}, ${dir}: ${rules}}`);
const anpRules = (rules: string, dir = 'ingress') =>
  anp(`{priority: 1, subject: {namespaces: {}}, ${dir}: ${rules}}`);
const banpRules = (rules: string, dir = 'ingress') => banp(`{subject: {namespaces: {}}, ${dir}: ${rules}}`);
const named = (name: string) =>
  (['TCP', 'UDP', 'SCTP'] as const).map((protocol) => ({ kind: 'named', protocol, name }) as const);

const ruleCases: readonly RuleCase[] = [
  {
    name: 'CNP actions: Accept → Allow, Deny → Deny, Pass → Pass to the NetworkPolicy tier (ClusterNetworkPolicyRuleAction)',
    doc: cnpAdmin(
      '[{name: a, action: Accept, from: [{namespaces: {}}]}, {name: d, action: Deny, from: [{namespaces: {}}]}, {name: p, action: Pass, from: [{namespaces: {}}]}]',
    ),
    direction: 'ingress',
    rules: [
      { action: 'Allow', peers: [allNs], ports: 'any', index: 0, name: 'a' },
      { action: 'Deny', peers: [allNs], ports: 'any', index: 1, name: 'd' },
      { action: 'Pass', peers: [allNs], ports: 'any', passTo: KUBERNETES_TIER, index: 2, name: 'p' },
    ],
  },
  {
    name: 'Baseline CNP Pass goes to the next tier (the default), so it names no target',
    doc: cnpBaseline('[{action: Pass, from: [{namespaces: {}}]}]'),
    direction: 'ingress',
    rules: [{ action: 'Pass', peers: [allNs], ports: 'any', index: 0 }],
  },
  {
    name: 'ANP actions: Allow/Deny/Pass; Pass "pass[es] execution to any NetworkPolicies" (AdminNetworkPolicyRuleAction)',
    doc: anpRules('[{action: Allow, from: [{namespaces: {}}]}, {action: Pass, from: [{namespaces: {}}]}]'),
    direction: 'ingress',
    rules: [
      { action: 'Allow', peers: [allNs], ports: 'any', index: 0 },
      { action: 'Pass', peers: [allNs], ports: 'any', passTo: KUBERNETES_TIER, index: 1 },
    ],
  },
  {
    name: 'BANP actions: Allow and Deny',
    doc: banpRules(
      '[{action: Deny, to: [{namespaces: {}}]}, {action: Allow, to: [{namespaces: {}}]}]',
      'egress',
    ),
    direction: 'egress',
    rules: [
      { action: 'Deny', peers: [allNs], ports: 'any', index: 0 },
      { action: 'Allow', peers: [allNs], ports: 'any', index: 1 },
    ],
  },
  {
    name: 'peers: namespaces and pods are OR-ed; pods is namespaceSelector AND podSelector',
    doc: cnpAdmin(
      '[{action: Deny, from: [{namespaces: {matchLabels: {house: s}}}, {pods: {namespaceSelector: {matchLabels: {house: h}}, podSelector: {matchLabels: {app: db}}}}]}]',
    ),
    direction: 'ingress',
    rules: [
      {
        action: 'Deny',
        peers: [
          { kind: 'endpoints', namespaces: houseNs('s'), pods: SELECT_ALL },
          { kind: 'endpoints', namespaces: houseNs('h'), pods: labelsSel({ app: 'db' }) },
        ],
        ports: 'any',
        index: 0,
      },
    ],
  },
  {
    name: 'egress nodes → node peer over node labels (ClusterNetworkPolicyEgressPeer.nodes)',
    doc: cnpAdmin('[{action: Deny, to: [{nodes: {matchLabels: {"kubernetes.io/os": linux}}}]}]', 'egress'),
    direction: 'egress',
    rules: [
      {
        action: 'Deny',
        peers: [{ kind: 'nodes', selector: labelsSel({ 'kubernetes.io/os': 'linux' }) }],
        ports: 'any',
        index: 0,
      },
    ],
  },
  {
    // ClusterNetworkPolicyEgressPeer.networks: "cluster-internal traffic will be checked against the rule as
    // well. So if you Accept or Deny traffic to "0.0.0.0/0", that will allow or deny all IPv4 pod-to-pod
    // traffic as well" → matchesPods: true. Host bits are cleared (isCIDR accepts them).
    name: 'egress networks → one CIDR peer each, matching pod IPs too (networks doc), canonical text',
    doc: cnpAdmin(
      '[{action: Deny, to: [{networks: [0.0.0.0/0, "::/0", 10.1.2.3/16, "2001:DB8::/32"]}]}]',
      'egress',
    ),
    direction: 'egress',
    rules: [
      {
        action: 'Deny',
        peers: [
          { kind: 'cidr', cidr: '0.0.0.0/0', except: [], matchesPods: true },
          { kind: 'cidr', cidr: '::/0', except: [], matchesPods: true },
          { kind: 'cidr', cidr: '10.1.0.0/16', except: [], matchesPods: true },
          { kind: 'cidr', cidr: '2001:db8::/32', except: [], matchesPods: true },
        ],
        ports: 'any',
        index: 0,
      },
    ],
  },
  {
    name: 'egress domainNames (Accept only) → fqdn peers with a "modelled offline, enforced offline only" warning',
    doc: cnpAdmin('[{action: Accept, to: [{domainNames: [kubernetes.io, "*.example.com"]}]}]', 'egress'),
    direction: 'egress',
    rules: [
      {
        action: 'Allow',
        peers: [
          { kind: 'fqdn', pattern: 'kubernetes.io', semantics: 'network-policy-api', matchesPods: true },
          { kind: 'fqdn', pattern: '*.example.com', semantics: 'network-policy-api', matchesPods: true },
        ],
        ports: 'any',
        index: 0,
      },
    ],
    warns: ['spec.egress[0].to[0].domainNames'],
  },
  {
    name: 'v1alpha2 protocols: tcp number, udp range, sctp number',
    doc: cnpAdmin(
      '[{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {number: 80}}}, {udp: {destinationPort: {range: {start: 5000, end: 5010}}}}, {sctp: {destinationPort: {number: 9003}}}]}]',
    ),
    direction: 'ingress',
    rules: [
      {
        action: 'Deny',
        peers: [allNs],
        ports: [
          { kind: 'range', protocol: 'TCP', from: 80, to: 80 },
          { kind: 'range', protocol: 'UDP', from: 5000, to: 5010 },
          { kind: 'range', protocol: 'SCTP', from: 9003, to: 9003 },
        ],
        index: 0,
      },
    ],
  },
  {
    name: 'v1alpha2 destinationNamedPort: the container port of that name, whatever its protocol',
    doc: cnpAdmin('[{action: Accept, from: [{namespaces: {}}], protocols: [{destinationNamedPort: http}]}]'),
    direction: 'ingress',
    rules: [{ action: 'Allow', peers: [allNs], ports: named('http'), index: 0 }],
  },
  {
    name: 'v1alpha1 ports: portNumber (protocol defaults to TCP), portRange, namedPort',
    doc: anpRules(
      '[{action: Deny, from: [{namespaces: {}}], ports: [{portNumber: {port: 80}}, {portNumber: {protocol: UDP, port: 53}}, {portRange: {protocol: SCTP, start: 9000, end: 9010}}, {portRange: {start: 8080, end: 8080}}, {namedPort: dns}]}]',
    ),
    direction: 'ingress',
    rules: [
      {
        action: 'Deny',
        peers: [allNs],
        ports: [
          { kind: 'range', protocol: 'TCP', from: 80, to: 80 },
          { kind: 'range', protocol: 'UDP', from: 53, to: 53 },
          { kind: 'range', protocol: 'SCTP', from: 9000, to: 9010 },
          { kind: 'range', protocol: 'TCP', from: 8080, to: 8080 },
          ...named('dns'),
        ],
        index: 0,
      },
    ],
  },
  {
    name: 'v1alpha1 egress: nodes and networks peers, ports unrestricted when absent',
    doc: banpRules('[{action: Deny, to: [{nodes: {}}, {networks: [192.168.0.0/16]}]}]', 'egress'),
    direction: 'egress',
    rules: [
      {
        action: 'Deny',
        peers: [
          { kind: 'nodes', selector: SELECT_ALL },
          { kind: 'cidr', cidr: '192.168.0.0/16', except: [], matchesPods: true },
        ],
        ports: 'any',
        index: 0,
      },
    ],
  },
  {
    name: 'a named port that no container can declare only warns (it can never match)',
    doc: anpRules('[{action: Allow, from: [{namespaces: {}}], ports: [{namedPort: Not_A_Name}]}]'),
    direction: 'ingress',
    rules: [{ action: 'Allow', peers: [allNs], ports: named('Not_A_Name'), index: 0 }],
    warns: ['spec.ingress[0].ports[0].namedPort'],
  },
];

describe('rules', () => {
  for (const c of ruleCases) {
    it(c.name, () => {
      const { value, diagnostics } = load(c.doc);
      assert.deepEqual(errors(diagnostics), []);
      const p = value.policies[0] as Policy;
      assert.deepEqual(c.direction === 'ingress' ? p.ingress : p.egress, c.rules);
      assert.deepEqual(
        diagnostics.filter((d) => d.severity === 'warning').map((d) => d.path),
        c.warns ?? [],
      );
    });
  }

  it('the DNS warning says domainNames are modelled offline and enforced offline only', () => {
    const { diagnostics } = load(ruleCases[7]!.doc);
    assert.match(diagnostics[0]?.message ?? '', /DNS: domainNames is modelled offline/);
    assert.match(diagnostics[0]?.message ?? '', /enforced offline only/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Validation: the CRD schema and CEL rules, with API-server-style paths.

interface ValidationCase {
  readonly name: string;
  readonly doc: string;
  readonly code: DiagnosticCode;
  readonly path: string;
  readonly severity?: Severity;
  readonly says?: RegExp;
}

const S = 'subject: {namespaces: {}}';
const validationCases: readonly ValidationCase[] = [
  {
    name: 'CNP spec.tier is required',
    doc: cnp(`{priority: 1, ${S}}`),
    code: 'missing-field',
    path: 'spec.tier',
  },
  {
    name: 'CNP spec.tier is Admin or Baseline (enum)',
    doc: cnp(`{tier: admin, priority: 1, ${S}}`),
    code: 'unsupported-value',
    path: 'spec.tier',
  },
  {
    name: 'CNP spec.priority is required',
    doc: cnp(`{tier: Admin, ${S}}`),
    code: 'missing-field',
    path: 'spec.priority',
  },
  {
    name: 'CNP spec.priority ≤ 1000 (Maximum=1000)',
    doc: cnp(`{tier: Admin, priority: 1001, ${S}}`),
    code: 'invalid-value',
    path: 'spec.priority',
  },
  {
    name: 'ANP spec.priority ≥ 0 (Minimum=0)',
    doc: anp(`{priority: -1, ${S}}`),
    code: 'invalid-value',
    path: 'spec.priority',
  },
  { name: 'ANP spec.priority is required', doc: anp(`{${S}}`), code: 'missing-field', path: 'spec.priority' },
  {
    name: 'priority must be an integer',
    doc: anp(`{priority: "1", ${S}}`),
    code: 'invalid-type',
    path: 'spec.priority',
  },
  {
    name: 'spec.subject is required',
    doc: anp('{priority: 1}'),
    code: 'missing-field',
    path: 'spec.subject',
  },
  {
    name: 'subject needs exactly one field (MinProperties=1)',
    doc: anp('{priority: 1, subject: {}}'),
    code: 'missing-field',
    path: 'spec.subject',
  },
  {
    name: 'subject takes only one field (MaxProperties=1)',
    doc: anp('{priority: 1, subject: {namespaces: {}, pods: {namespaceSelector: {}, podSelector: {}}}}'),
    code: 'invalid-value',
    path: 'spec.subject',
  },
  {
    name: 'subject pods.podSelector is required',
    doc: cnp('{tier: Admin, priority: 1, subject: {pods: {namespaceSelector: {}}}}'),
    code: 'missing-field',
    path: 'spec.subject.pods.podSelector',
  },
  {
    name: 'v1alpha1 NamespacedPod.namespaceSelector is required',
    doc: anp('{priority: 1, subject: {pods: {podSelector: {}}}}'),
    code: 'missing-field',
    path: 'spec.subject.pods.namespaceSelector',
  },
  {
    name: 'subject selectors are validated as LabelSelectors',
    doc: anp('{priority: 1, subject: {namespaces: {matchExpressions: [{key: a, operator: In}]}}}'),
    code: 'missing-field',
    path: 'spec.subject.namespaces.matchExpressions[0].values',
  },
  {
    name: 'BANP metadata.name must be "default" (CEL self.metadata.name == \'default\')',
    doc: banp(`{${S}}`, 'other'),
    code: 'invalid-value',
    path: 'metadata.name',
    says: /default/,
  },
  {
    name: 'metadata.name is required',
    doc: `apiVersion: ${V2}\nkind: ClusterNetworkPolicy\nmetadata: {}\nspec: {tier: Admin, priority: 1, ${S}}\n`,
    code: 'missing-field',
    path: 'metadata.name',
  },
  {
    name: 'rule action is required',
    doc: cnpAdmin('[{from: [{namespaces: {}}]}]'),
    code: 'missing-field',
    path: 'spec.ingress[0].action',
  },
  {
    name: 'CNP action enum is Accept/Deny/Pass ("Allow" is the v1alpha1 word)',
    doc: cnpAdmin('[{action: Allow, from: [{namespaces: {}}]}]'),
    code: 'unsupported-value',
    path: 'spec.ingress[0].action',
  },
  {
    name: 'ANP action enum is Allow/Deny/Pass',
    doc: anpRules('[{action: Accept, from: [{namespaces: {}}]}]'),
    code: 'unsupported-value',
    path: 'spec.ingress[0].action',
  },
  {
    name: 'BANP has no Pass (BaselineAdminNetworkPolicyRuleAction enum Allow/Deny)',
    doc: banpRules('[{action: Pass, from: [{namespaces: {}}]}]'),
    code: 'unsupported-value',
    path: 'spec.ingress[0].action',
  },
  {
    name: 'rule name ≤ 100 characters (MaxLength=100)',
    doc: cnpAdmin(`[{name: ${'x'.repeat(101)}, action: Deny, from: [{namespaces: {}}]}]`),
    code: 'invalid-value',
    path: 'spec.ingress[0].name',
  },
  {
    name: 'from is required',
    doc: cnpAdmin('[{action: Deny}]'),
    code: 'missing-field',
    path: 'spec.ingress[0].from',
  },
  {
    name: 'from needs at least one peer (MinItems=1)',
    doc: cnpAdmin('[{action: Deny, from: []}]'),
    code: 'invalid-value',
    path: 'spec.ingress[0].from',
  },
  {
    name: 'to needs at least one peer (MinItems=1)',
    doc: anpRules('[{action: Deny, to: []}]', 'egress'),
    code: 'invalid-value',
    path: 'spec.egress[0].to',
  },
  {
    name: 'CNP allows at most 25 ingress rules (MaxItems=25)',
    doc: cnpAdmin(`[${Array(26).fill('{action: Deny, from: [{namespaces: {}}]}').join(', ')}]`),
    code: 'invalid-value',
    path: 'spec.ingress',
    says: /at most 25/,
  },
  {
    name: 'ANP allows at most 100 egress rules (MaxItems=100)',
    doc: anpRules(`[${Array(101).fill('{action: Deny, to: [{namespaces: {}}]}').join(', ')}]`, 'egress'),
    code: 'invalid-value',
    path: 'spec.egress',
    says: /at most 100/,
  },
  {
    name: 'CNP allows at most 25 peers in a rule',
    doc: cnpAdmin(`[{action: Deny, from: [${Array(26).fill('{namespaces: {}}').join(', ')}]}]`),
    code: 'invalid-value',
    path: 'spec.ingress[0].from',
  },
  {
    name: 'a peer needs exactly one field',
    doc: cnpAdmin('[{action: Deny, from: [{}]}]'),
    code: 'missing-field',
    path: 'spec.ingress[0].from[0]',
  },
  {
    name: 'a peer takes only one field',
    doc: cnpAdmin('[{action: Deny, to: [{namespaces: {}, networks: [10.0.0.0/8]}]}]', 'egress'),
    code: 'invalid-value',
    path: 'spec.egress[0].to[0]',
  },
  {
    name: 'networks is egress-only: in an ingress peer it is pruned, leaving the peer empty',
    doc: cnpAdmin('[{action: Deny, from: [{networks: [10.0.0.0/8]}]}]'),
    code: 'missing-field',
    path: 'spec.ingress[0].from[0]',
  },
  {
    name: 'BANP egress has no domainNames peer',
    doc: banpRules('[{action: Allow, to: [{domainNames: [a.io]}]}]', 'egress'),
    code: 'missing-field',
    path: 'spec.egress[0].to[0]',
  },
  {
    name: 'networks must be CIDRs (CEL isCIDR)',
    doc: cnpAdmin('[{action: Deny, to: [{networks: [10.0.0.1]}]}]', 'egress'),
    code: 'invalid-value',
    path: 'spec.egress[0].to[0].networks[0]',
    says: /Invalid CIDR format/,
  },
  {
    name: 'networks refuse leading zeros (isCIDR)',
    doc: cnpAdmin('[{action: Deny, to: [{networks: [010.0.0.0/8]}]}]', 'egress'),
    code: 'invalid-value',
    path: 'spec.egress[0].to[0].networks[0]',
  },
  {
    name: 'networks refuse IPv4-mapped IPv6 (isCIDR)',
    doc: cnpAdmin('[{action: Deny, to: [{networks: ["::ffff:10.0.0.0/104"]}]}]', 'egress'),
    code: 'invalid-value',
    path: 'spec.egress[0].to[0].networks[0]',
  },
  {
    name: 'networks is a set (listType=set)',
    doc: cnpAdmin('[{action: Deny, to: [{networks: [10.0.0.0/8, 10.0.0.0/8]}]}]', 'egress'),
    code: 'duplicate',
    path: 'spec.egress[0].to[0].networks[1]',
  },
  {
    name: 'networks needs at least one CIDR (MinItems=1)',
    doc: cnpAdmin('[{action: Deny, to: [{networks: []}]}]', 'egress'),
    code: 'invalid-value',
    path: 'spec.egress[0].to[0].networks',
  },
  {
    name: 'networks holds at most 25 CIDRs (MaxItems=25)',
    doc: anpRules(
      `[{action: Deny, to: [{networks: [${Array.from({ length: 26 }, (_, i) => `10.${i}.0.0/16`).join(', ')}]}]}]`,
      'egress',
    ),
    code: 'invalid-value',
    path: 'spec.egress[0].to[0].networks',
  },
  {
    name: 'domainNames follow the DomainName pattern (wildcard only as a "*." prefix)',
    doc: cnpAdmin('[{action: Accept, to: [{domainNames: ["www.*.io"]}]}]', 'egress'),
    code: 'invalid-value',
    path: 'spec.egress[0].to[0].domainNames[0]',
  },
  {
    name: 'domainNames are only supported for Accept rules (a Deny on them would silently match nothing)',
    doc: cnpAdmin('[{action: Deny, to: [{domainNames: [kubernetes.io]}]}]', 'egress'),
    code: 'unsupported-value',
    path: 'spec.egress[0].to[0].domainNames',
  },
  {
    name: 'CEL: networks/nodes/domainNames peers cannot be combined with a named port',
    doc: cnpAdmin('[{action: Deny, to: [{nodes: {}}], protocols: [{destinationNamedPort: http}]}]', 'egress'),
    code: 'invalid-value',
    path: 'spec.egress[0]',
    says: /namedPorts/,
  },
  {
    name: 'CEL (BANP): networks/nodes peers cannot be combined with a named port',
    doc: banpRules('[{action: Deny, to: [{networks: [10.0.0.0/8]}], ports: [{namedPort: http}]}]', 'egress'),
    code: 'invalid-value',
    path: 'spec.egress[0]',
    says: /^networks\/nodes peer/,
  },
  {
    name: 'protocols needs at least one entry when present (MinItems=1)',
    doc: cnpAdmin('[{action: Deny, from: [{namespaces: {}}], protocols: []}]'),
    code: 'invalid-value',
    path: 'spec.ingress[0].protocols',
  },
  {
    name: 'a protocol entry needs exactly one of tcp/udp/sctp/destinationNamedPort (an unknown icmp is pruned)',
    doc: cnpAdmin('[{action: Deny, from: [{namespaces: {}}], protocols: [{icmp: {type: 8}}]}]'),
    code: 'missing-field',
    path: 'spec.ingress[0].protocols[0]',
  },
  {
    name: 'tcp: {} is refused (MinProperties=1 on ClusterNetworkPolicyProtocolTCP)',
    doc: cnpAdmin('[{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {}}]}]'),
    code: 'missing-field',
    path: 'spec.ingress[0].protocols[0].tcp.destinationPort',
  },
  {
    name: 'destinationPort takes number or range, not both',
    doc: cnpAdmin(
      '[{action: Deny, from: [{namespaces: {}}], protocols: [{udp: {destinationPort: {number: 1, range: {start: 1, end: 2}}}}]}]',
    ),
    code: 'invalid-value',
    path: 'spec.ingress[0].protocols[0].udp.destinationPort',
  },
  {
    name: 'destinationPort.number in 1..65535',
    doc: cnpAdmin(
      '[{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {number: 0}}}]}]',
    ),
    code: 'invalid-value',
    path: 'spec.ingress[0].protocols[0].tcp.destinationPort.number',
  },
  {
    name: 'CEL on PortRange: start < end (equal is refused too)',
    doc: cnpAdmin(
      '[{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {range: {start: 80, end: 80}}}}]}]',
    ),
    code: 'invalid-value',
    path: 'spec.ingress[0].protocols[0].tcp.destinationPort.range',
    says: /Start port must be less than End port/,
  },
  {
    name: 'range end is required',
    doc: cnpAdmin(
      '[{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {range: {start: 80}}}}]}]',
    ),
    code: 'missing-field',
    path: 'spec.ingress[0].protocols[0].tcp.destinationPort.range.end',
  },
  {
    name: 'v1alpha1 a port entry needs exactly one of portNumber/namedPort/portRange',
    doc: anpRules(
      '[{action: Deny, from: [{namespaces: {}}], ports: [{portNumber: {port: 1}, namedPort: x}]}]',
    ),
    code: 'invalid-value',
    path: 'spec.ingress[0].ports[0]',
  },
  {
    name: 'v1alpha1 portNumber.port is required',
    doc: anpRules('[{action: Deny, from: [{namespaces: {}}], ports: [{portNumber: {protocol: TCP}}]}]'),
    code: 'missing-field',
    path: 'spec.ingress[0].ports[0].portNumber.port',
  },
  {
    name: 'v1alpha1 protocol is TCP, UDP or SCTP',
    doc: anpRules(
      '[{action: Deny, from: [{namespaces: {}}], ports: [{portNumber: {protocol: ICMP, port: 1}}]}]',
    ),
    code: 'unsupported-value',
    path: 'spec.ingress[0].ports[0].portNumber.protocol',
  },
  {
    name: 'v1alpha1 portRange end before start is refused (field doc: "Start value must be less than End")',
    doc: anpRules('[{action: Deny, from: [{namespaces: {}}], ports: [{portRange: {start: 90, end: 80}}]}]'),
    code: 'invalid-value',
    path: 'spec.ingress[0].ports[0].portRange.end',
  },
  {
    name: 'v1alpha1 ports needs at least one entry when present (MinItems=1)',
    doc: anpRules('[{action: Deny, from: [{namespaces: {}}], ports: []}]'),
    code: 'invalid-value',
    path: 'spec.ingress[0].ports',
  },
  {
    name: 'pre-v0.1.3 sameLabels cannot be expressed in the IR',
    doc: anpRules('[{action: Deny, from: [{namespaces: {sameLabels: [tenant]}}]}]'),
    code: 'unsupported-value',
    path: 'spec.ingress[0].from[0].namespaces.sameLabels',
  },
  {
    name: 'pre-v0.1.3 notSameLabels cannot be expressed in the IR',
    doc: anpRules('[{action: Allow, from: [{namespaces: {notSameLabels: [tenant]}}]}]'),
    code: 'unsupported-value',
    path: 'spec.ingress[0].from[0].namespaces.notSameLabels',
  },
  {
    name: 'pre-v0.1.3 namespaces.namespaceSelector is refused rather than read as "all namespaces"',
    doc: anpRules('[{action: Deny, from: [{namespaces: {namespaceSelector: {matchLabels: {a: b}}}}]}]'),
    code: 'unsupported-value',
    path: 'spec.ingress[0].from[0].namespaces.namespaceSelector',
  },
  {
    name: 'pre-v0.1.3 pods.namespaces is refused',
    doc: anpRules('[{action: Deny, from: [{pods: {namespaces: {namespaceSelector: {}}, podSelector: {}}}]}]'),
    code: 'unsupported-value',
    path: 'spec.ingress[0].from[0].pods.namespaces',
  },
  {
    name: 'unknown spec fields warn (the API server prunes them)',
    doc: anp(`{priority: 1, ${S}, policyTypes: [Ingress]}`),
    code: 'unknown-field',
    path: 'spec.policyTypes',
    severity: 'warning',
  },
  {
    name: 'ANP has no spec.tier: it is an unknown field',
    doc: anp(`{priority: 1, tier: Admin, ${S}}`),
    code: 'unknown-field',
    path: 'spec.tier',
    severity: 'warning',
  },
];

describe('validation', () => {
  for (const c of validationCases) {
    it(c.name, () => {
      const { value, diagnostics } = load(c.doc);
      const severity = c.severity ?? 'error';
      const hit = diagnostics.find((d) => d.path === c.path && d.code === c.code && d.severity === severity);
      assert.ok(
        hit,
        `expected ${severity} ${c.code} at ${c.path}, got ${JSON.stringify(diagnostics, null, 1)}`,
      );
      if (c.says) assert.match(hit.message, c.says);
      assert.equal(hit.file, FILE);
      assert.equal(value.policies.length, severity === 'error' ? 0 : 1);
    });
  }

  it('a v1alpha1 portRange of one port (start == end) is accepted: the v1alpha1 CRD has no CEL rule', () => {
    const p = onlyPolicy(
      anpRules('[{action: Deny, from: [{namespaces: {}}], ports: [{portRange: {start: 80, end: 80}}]}]'),
    );
    assert.deepEqual(p.ingress[0]?.ports, [{ kind: 'range', protocol: 'TCP', from: 80, to: 80 }]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Evaluation through the engine: tier order, priority, Pass, no isolation, networks matching pods.

const CLUSTER = [
  ...['g', 's', 'h', 'r'].map(
    (h) => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ns-${h}, labels: {house: ${h}}}\n`,
  ),
  ...[
    ['harry', 'g', '10.0.1.1'],
    ['draco', 's', '10.0.2.1'],
    ['cedric', 'h', '10.0.3.1'],
    ['luna', 'r', '10.0.4.1'],
  ].map(
    ([name, h, ip]) =>
      `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: ns-${h}, labels: {app: ${name}}}\n` +
      `spec: {containers: [{name: c, ports: [{containerPort: 80, name: http}]}]}\nstatus: {podIP: ${ip}}\n`,
  ),
];

const NP_G_ALLOWS_FROM_S =
  'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-s, namespace: ns-g}\n' +
  'spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {house: s}}}]}]}\n';

const G = '{namespaces: {matchLabels: {house: g}}}';
const fromHouse = (action: string, h: string) =>
  `{action: ${action}, from: [{namespaces: {matchLabels: {house: ${h}}}}]}`;

interface EvalCase {
  readonly name: string;
  readonly policies: readonly string[];
  readonly from: string;
  readonly to: string;
  readonly port?: number;
  readonly allowed: boolean;
  /** Tier and policy name of the deciding rule; undefined when the default decided. */
  readonly decidedBy?: readonly [string, string];
  readonly extraTiers?: readonly Tier[];
  readonly extraPolicies?: readonly Policy[];
}

/** A first-match tier between admin and the Kubernetes stage (an Antrea-like one), with one deny-all. */
const MIDDLE: Tier = { name: 'middle', order: TIER_ORDER.antrea + 100, semantics: 'first-match' };
const MIDDLE_DENY: Policy = {
  ref: { dialect: 'antrea', kind: 'ClusterNetworkPolicy', name: 'middle-deny' },
  tier: 'middle',
  priority: 1,
  subject: { namespaces: { kind: 'selector', selector: SELECT_ALL }, pods: SELECT_ALL },
  isolates: [],
  ingress: [{ action: 'Deny', peers: 'any', ports: 'any', index: 0 }],
  egress: [],
};

const evalCases: readonly EvalCase[] = [
  {
    name: 'admin Deny beats a NetworkPolicy that allows (Admin tier "cannot be overridden")',
    policies: [
      anp(`{priority: 1, subject: ${G}, ingress: [${fromHouse('Deny', 's')}]}`, 'deny-s'),
      NP_G_ALLOWS_FROM_S,
    ],
    from: 'ns-s/draco',
    to: 'ns-g/harry',
    allowed: false,
    decidedBy: ['admin', 'deny-s'],
  },
  {
    name: 'admin Accept beats a baseline Deny and NetworkPolicy isolation',
    policies: [
      cnp(`{tier: Admin, priority: 1, subject: ${G}, ingress: [${fromHouse('Accept', 'h')}]}`, 'accept-h'),
      NP_G_ALLOWS_FROM_S,
      banp(`{subject: ${G}, ingress: [${fromHouse('Deny', 'h')}]}`),
    ],
    from: 'ns-h/cedric',
    to: 'ns-g/harry',
    allowed: true,
    decidedBy: ['admin', 'accept-h'],
  },
  {
    name: 'lower priority first: priority 40 Pass beats priority 50 Deny (conformance standard-priority-field)',
    policies: [
      anp(`{priority: 50, subject: ${G}, ingress: [${fromHouse('Deny', 's')}]}`, 'deny-50'),
      anp(`{priority: 40, subject: ${G}, ingress: [${fromHouse('Pass', 's')}]}`, 'pass-40'),
      banp(`{subject: ${G}, ingress: [${fromHouse('Allow', 's')}]}`),
    ],
    from: 'ns-s/draco',
    to: 'ns-g/harry',
    allowed: true,
    decidedBy: ['baseline', 'default'],
  },
  {
    name: 'Pass hands over to NetworkPolicy, whose allow wins over the baseline Deny (api-integration test)',
    policies: [
      cnp(`{tier: Admin, priority: 10, subject: ${G}, ingress: [${fromHouse('Pass', 's')}]}`, 'pass-example'),
      NP_G_ALLOWS_FROM_S,
      cnp(`{tier: Baseline, priority: 10, subject: ${G}, ingress: [${fromHouse('Deny', 's')}]}`, 'default'),
    ],
    from: 'ns-s/draco',
    to: 'ns-g/harry',
    allowed: true,
    decidedBy: [KUBERNETES_TIER, 'allow-s'],
  },
  {
    name: 'Pass with no NetworkPolicy selecting the pod reaches the baseline Deny',
    policies: [
      cnp(`{tier: Admin, priority: 10, subject: ${G}, ingress: [${fromHouse('Pass', 's')}]}`, 'pass-example'),
      cnp(`{tier: Baseline, priority: 10, subject: ${G}, ingress: [${fromHouse('Deny', 's')}]}`, 'default'),
    ],
    from: 'ns-s/draco',
    to: 'ns-g/harry',
    allowed: false,
    decidedBy: ['baseline', 'default'],
  },
  {
    name: 'Admin Pass goes straight to NetworkPolicy, skipping tiers in between (passTo)',
    policies: [anp(`{priority: 1, subject: ${G}, ingress: [${fromHouse('Pass', 's')}]}`, 'pass-s')],
    extraTiers: [MIDDLE],
    extraPolicies: [MIDDLE_DENY],
    from: 'ns-s/draco',
    to: 'ns-g/harry',
    allowed: true,
  },
  {
    name: 'without the Pass, that middle tier decides (control for the case above)',
    policies: [],
    extraTiers: [MIDDLE],
    extraPolicies: [MIDDLE_DENY],
    from: 'ns-s/draco',
    to: 'ns-g/harry',
    allowed: false,
    decidedBy: ['middle', 'middle-deny'],
  },
  {
    name: 'Baseline Pass skips the remaining baseline rules and falls to the default allow',
    policies: [
      cnp(`{tier: Baseline, priority: 1, subject: ${G}, ingress: [${fromHouse('Pass', 's')}]}`, 'b-pass'),
      cnp(`{tier: Baseline, priority: 2, subject: ${G}, ingress: [${fromHouse('Deny', 's')}]}`, 'b-deny'),
    ],
    from: 'ns-s/draco',
    to: 'ns-g/harry',
    allowed: true,
  },
  {
    name: 'no implicit isolation: traffic no rule matches is allowed',
    policies: [anp(`{priority: 1, subject: ${G}, ingress: [${fromHouse('Allow', 'r')}]}`, 'allow-r')],
    from: 'ns-h/cedric',
    to: 'ns-g/harry',
    allowed: true,
  },
  {
    name: 'networks 0.0.0.0/0 Deny also denies pod-to-pod egress (conformance inline-cidr test), after an earlier Accept',
    policies: [
      cnp(
        `{tier: Admin, priority: 85, subject: ${G}, egress: [{action: Accept, to: [{namespaces: {matchLabels: {house: s}}}]}, {action: Deny, to: [{networks: [0.0.0.0/0, "::/0"]}]}]}`,
        'inline-cidr',
      ),
    ],
    from: 'ns-g/harry',
    to: 'ns-h/cedric',
    allowed: false,
    decidedBy: ['admin', 'inline-cidr'],
  },
  {
    name: '…while the earlier Accept still lets slytherin through',
    policies: [
      cnp(
        `{tier: Admin, priority: 85, subject: ${G}, egress: [{action: Accept, to: [{namespaces: {matchLabels: {house: s}}}]}, {action: Deny, to: [{networks: [0.0.0.0/0]}]}]}`,
        'inline-cidr',
      ),
    ],
    from: 'ns-g/harry',
    to: 'ns-s/draco',
    allowed: true,
    decidedBy: ['admin', 'inline-cidr'],
  },
  {
    name: 'a named port matches the destination container port of that name',
    policies: [
      cnp(
        `{tier: Admin, priority: 1, subject: ${G}, ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{destinationNamedPort: http}]}]}`,
        'deny-http',
      ),
    ],
    from: 'ns-h/cedric',
    to: 'ns-g/harry',
    port: 80,
    allowed: false,
    decidedBy: ['admin', 'deny-http'],
  },
];

describe('evaluation', () => {
  for (const c of evalCases) {
    it(c.name, () => {
      const { value, diagnostics } = load(...CLUSTER, ...c.policies);
      assert.deepEqual(errors(diagnostics), []);
      const model = buildModel(
        value.cluster,
        [...value.policies, ...(c.extraPolicies ?? [])],
        [...value.tiers, ...(c.extraTiers ?? [])],
      );
      const ep = (key: string): Endpoint => {
        const e = value.cluster.endpoints.find((x) => `${x.namespace}/${x.name}` === key);
        assert.ok(e, key);
        return e;
      };
      const verdict = evaluate(model, {
        src: { kind: 'endpoint', endpoint: ep(c.from) },
        dst: { kind: 'endpoint', endpoint: ep(c.to) },
        protocol: 'TCP',
        port: c.port ?? 80,
      });
      assert.equal(verdict.allowed, c.allowed);
      const decided = c.allowed
        ? [verdict.egress, verdict.ingress].find((d) => d.decidedBy !== undefined)
        : [verdict.egress, verdict.ingress].find((d) => !d.allowed);
      if (c.decidedBy === undefined) {
        // The default (allow) decided: no rule did in either direction.
        assert.equal(decided?.decidedBy, undefined, JSON.stringify(verdict));
      } else {
        assert.ok(decided?.decidedBy, JSON.stringify(verdict));
        assert.deepEqual([decided.decidedBy.tier, decided.decidedBy.policy.name], c.decidedBy);
      }
    });
  }
});
