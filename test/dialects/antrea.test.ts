import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ANTREA_KIND_HANDLERS,
  ANTREA_STATIC_TIERS,
  antreaClusterNetworkPolicyToIr,
  antreaNetworkPolicyToIr,
} from '../../src/dialects/antrea.js';
import { parseSources } from '../../src/dialects/parse.js';
import { collectingReporter } from '../../src/dialects/report.js';
import { parse as parseYaml } from 'yaml';
import { buildModel, evaluate } from '../../src/engine/index.js';
import type { Diagnostic, DiagnosticCode, Endpoint, Policy, Severity, Tier } from '../../src/ir/index.js';
import { KUBERNETES_TIER, NAMESPACE_NAME_LABEL, SELECT_ALL, TIER_ORDER } from '../../src/ir/index.js';
import { withoutLines } from './support.js';

/**
 * Antrea-native policies. Every case cites the section of antrea-io/antrea docs/antrea-network-policy.md
 * ("the doc" below) it checks; YAML of the doc's examples is kept as written there.
 */
const FILE = 'policies/antrea.yaml';

function load(text: string) {
  return parseSources([{ file: FILE, text }]);
}

function errors(ds: readonly Diagnostic[]): Diagnostic[] {
  return ds.filter((d) => d.severity === 'error');
}

/** The IR of one object converted directly (so split policies are visible), with its diagnostics. */
function convert(text: string): { policies: Policy[] | undefined; diagnostics: readonly Diagnostic[] } {
  const obj = parseYaml(text) as Record<string, unknown>;
  const r = collectingReporter({ file: FILE, doc: 0 });
  const fn =
    obj['kind'] === 'ClusterNetworkPolicy' ? antreaClusterNetworkPolicyToIr : antreaNetworkPolicyToIr;
  const policies = fn(obj, r, { file: FILE, doc: 0 });
  return { policies, diagnostics: r.diagnostics };
}

function onlyPolicy(text: string): Policy {
  const { value, diagnostics } = load(text);
  assert.deepEqual(errors(diagnostics), []);
  assert.equal(value.policies.length, 1);
  return value.policies[0] as Policy;
}

const label = (key: string, value: string) => ({
  kind: 'match' as const,
  requirements: [{ key, op: 'In' as const, values: [value] }],
});
const allNamespaces = { kind: 'selector' as const, selector: SELECT_ALL };
const ref = (kind: string, name: string, namespace?: string) => ({
  dialect: 'antrea' as const,
  kind,
  ...(namespace === undefined ? {} : { namespace }),
  name,
  file: FILE,
  doc: 0,
});

describe('Antrea static tiers (the doc, "Static tiers")', () => {
  it('lists the six static tiers, baseline after the Kubernetes stage and the rest before it', () => {
    const byName = Object.fromEntries(ANTREA_STATIC_TIERS.map((t) => [t.name, t.order]));
    assert.deepEqual(byName, {
      'antrea:emergency': TIER_ORDER.antrea + 50,
      'antrea:securityops': TIER_ORDER.antrea + 100,
      'antrea:networkops': TIER_ORDER.antrea + 150,
      'antrea:platform': TIER_ORDER.antrea + 200,
      'antrea:application': TIER_ORDER.antrea + 250,
      'antrea:baseline': TIER_ORDER.antreaBaseline,
    });
    for (const t of ANTREA_STATIC_TIERS) {
      assert.equal(t.semantics, 'first-match');
      assert.equal(t.dialect, 'antrea');
      const kubernetes = TIER_ORDER.kubernetes;
      assert.equal(t.order < kubernetes, t.name !== 'antrea:baseline', t.name);
    }
  });

  it('registers ClusterNetworkPolicy, NetworkPolicy and Tier for crd.antrea.io v1beta1 and v1alpha1', () => {
    assert.deepEqual(Object.keys(ANTREA_KIND_HANDLERS).sort(), [
      'crd.antrea.io/v1alpha1/ClusterNetworkPolicy',
      'crd.antrea.io/v1alpha1/NetworkPolicy',
      'crd.antrea.io/v1alpha1/Tier',
      'crd.antrea.io/v1beta1/ClusterNetworkPolicy',
      'crd.antrea.io/v1beta1/NetworkPolicy',
      'crd.antrea.io/v1beta1/Tier',
    ]);
  });
});

function tierDoc(name: string, spec: string, apiVersion = 'crd.antrea.io/v1beta1'): string {
  return `apiVersion: ${apiVersion}\nkind: Tier\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
}

interface TierCase {
  readonly name: string;
  readonly text: string;
  readonly tiers: readonly Tier[];
  readonly diagnostic?: { code: DiagnosticCode; path: string; severity: Severity };
}

const tierCases: readonly TierCase[] = [
  {
    name: 'a custom Tier (the doc, "Tier CRDs" example mytier, priority 10) sits before emergency',
    text: tierDoc('mytier', '{priority: 10, description: "my custom tier"}'),
    tiers: [
      { name: 'antrea:mytier', order: TIER_ORDER.antrea + 10, semantics: 'first-match', dialect: 'antrea' },
    ],
  },
  {
    name: 'v1alpha1 Tier reads the same',
    text: tierDoc('mytier', '{priority: 0}', 'crd.antrea.io/v1alpha1'),
    tiers: [{ name: 'antrea:mytier', order: TIER_ORDER.antrea, semantics: 'first-match', dialect: 'antrea' }],
  },
  {
    name: 'priority is required',
    text: tierDoc('mytier', '{description: x}'),
    tiers: [],
    diagnostic: { code: 'missing-field', path: 'spec.priority', severity: 'error' },
  },
  {
    name: 'priority above 255 is outside the CRD schema',
    text: tierDoc('mytier', '{priority: 256}'),
    tiers: [],
    diagnostic: { code: 'invalid-value', path: 'spec.priority', severity: 'error' },
  },
  {
    name: 'custom tiers may not use 250..255 ("priority values greater than or equal to 250 are not allowed")',
    text: tierDoc('late', '{priority: 251}'),
    tiers: [],
    diagnostic: { code: 'invalid-value', path: 'spec.priority', severity: 'error' },
  },
  {
    name: 'no two tiers share a priority: 100 is securityops',
    text: tierDoc('mine', '{priority: 100}'),
    tiers: [],
    diagnostic: { code: 'duplicate', path: 'spec.priority', severity: 'error' },
  },
  {
    name: 'a static tier as dumped by kubectl contributes nothing (it is built in)',
    text: tierDoc('securityops', '{priority: 100}'),
    tiers: [],
    diagnostic: { code: 'duplicate', path: 'metadata.name', severity: 'warning' },
  },
  {
    name: 'a static tier with another priority is an error (static tiers are read-only)',
    text: tierDoc('emergency', '{priority: 5}'),
    tiers: [],
    diagnostic: { code: 'invalid-value', path: 'spec.priority', severity: 'error' },
  },
];

describe('Antrea Tier objects (the doc, "Tier CRDs")', () => {
  for (const c of tierCases) {
    it(c.name, () => {
      const { value, diagnostics } = load(c.text);
      assert.deepEqual(value.tiers, c.tiers);
      if (c.diagnostic === undefined) assert.deepEqual(diagnostics, []);
      else {
        assert.ok(
          diagnostics.some(
            (d) =>
              d.code === c.diagnostic?.code &&
              d.path === c.diagnostic.path &&
              d.severity === c.diagnostic.severity,
          ),
          JSON.stringify(diagnostics),
        );
      }
    });
  }
});

interface IrCase {
  readonly name: string;
  readonly text: string;
  readonly policies: readonly Policy[];
  /** Warnings expected besides none (path → piece of message). */
  readonly warnings?: readonly { path: string; says: string }[];
}

const irCases: readonly IrCase[] = [
  {
    name: 'Antrea NetworkPolicy example ("The Antrea NetworkPolicy resource"): tier, priority, own-namespace podSelector',
    text: `
apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata:
  name: test-annp
  namespace: default
spec:
  priority: 5
  tier: securityops
  appliedTo:
    - podSelector:
        matchLabels:
          role: db
  ingress:
    - action: Allow
      from:
        - podSelector:
            matchLabels:
              role: frontend
        - podSelector:
            matchLabels:
              role: nondb
          namespaceSelector:
            matchLabels:
              role: db
      ports:
        - protocol: TCP
          port: 8080
          endPort: 9000
      name: AllowFromFrontend
  egress:
    - action: Drop
      to:
        - ipBlock:
            cidr: 10.0.10.0/24
      ports:
        - protocol: TCP
          port: 5978
      name: DropToThirdParty
`,
    policies: [
      {
        ref: ref('AntreaNetworkPolicy', 'test-annp', 'default'),
        tier: 'antrea:securityops',
        priority: 5,
        subject: { namespaces: { kind: 'names', names: ['default'] }, pods: label('role', 'db') },
        isolates: [],
        ingress: [
          {
            action: 'Allow',
            peers: [
              {
                kind: 'endpoints',
                namespaces: { kind: 'names', names: ['default'] },
                pods: label('role', 'frontend'),
              },
              {
                kind: 'endpoints',
                namespaces: { kind: 'selector', selector: label('role', 'db') },
                pods: label('role', 'nondb'),
              },
            ],
            ports: [{ kind: 'range', protocol: 'TCP', from: 8080, to: 9000 }],
            index: 0,
            name: 'AllowFromFrontend',
          },
        ],
        egress: [
          {
            action: 'Deny',
            peers: [{ kind: 'cidr', cidr: '10.0.10.0/24', except: [], matchesPods: true }],
            ports: [{ kind: 'range', protocol: 'TCP', from: 5978, to: 5978 }],
            index: 0,
            name: 'DropToThirdParty',
          },
        ],
      },
    ],
  },
  {
    name: 'ACNP for complete Pod isolation: empty from/to match everything, Drop → Deny, no isolation',
    text: `
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: isolate-all-pods-in-namespace
spec:
  priority: 1
  tier: securityops
  appliedTo:
    - namespaceSelector:
        matchLabels:
          app: no-network-access-required
  ingress:
    - action: Drop
      name: drop-all-ingress
  egress:
    - action: Drop
      name: drop-all-egress
`,
    policies: [
      {
        ref: ref('AntreaClusterNetworkPolicy', 'isolate-all-pods-in-namespace'),
        tier: 'antrea:securityops',
        priority: 1,
        subject: {
          namespaces: { kind: 'selector', selector: label('app', 'no-network-access-required') },
          pods: SELECT_ALL,
        },
        isolates: [],
        ingress: [{ action: 'Deny', peers: 'any', ports: 'any', index: 0, name: 'drop-all-ingress' }],
        egress: [{ action: 'Deny', peers: 'any', ports: 'any', index: 0, name: 'drop-all-egress' }],
      },
    ],
  },
  {
    name: 'ACNP for default zero-trust cluster security posture: baseline tier, unnamed rules',
    text: `
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: default-cluster-deny
spec:
  priority: 1
  tier: baseline
  appliedTo:
    - namespaceSelector: {}
  ingress:
    - action: Drop
  egress:
    - action: Drop
`,
    policies: [
      {
        ref: ref('AntreaClusterNetworkPolicy', 'default-cluster-deny'),
        tier: 'antrea:baseline',
        priority: 1,
        subject: { namespaces: allNamespaces, pods: SELECT_ALL },
        isolates: [],
        ingress: [{ action: 'Deny', peers: 'any', ports: 'any', index: 0 }],
        egress: [{ action: 'Deny', peers: 'any', ports: 'any', index: 0 }],
      },
    ],
  },
  {
    name: 'ACNP for ICMP traffic: Reject with icmpType/icmpCode, matching ICMP and ICMPv6',
    text: `
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: acnp-reject-ping-request
spec:
  priority: 5
  tier: securityops
  appliedTo:
    - podSelector:
        matchLabels:
          role: server
      namespaceSelector:
        matchLabels:
          env: prod
  egress:
    - action: Reject
      protocols:
        - icmp:
            icmpType: 8
            icmpCode: 0
      name: DropPingRequest
`,
    policies: [
      {
        ref: ref('AntreaClusterNetworkPolicy', 'acnp-reject-ping-request'),
        tier: 'antrea:securityops',
        priority: 5,
        subject: {
          namespaces: { kind: 'selector', selector: label('env', 'prod') },
          pods: label('role', 'server'),
        },
        isolates: [],
        ingress: [],
        egress: [
          {
            action: 'Reject',
            peers: 'any',
            ports: [
              { kind: 'icmp', family: 4, type: 8, code: 0 },
              { kind: 'icmp', family: 6, type: 8, code: 0 },
            ],
            index: 0,
            name: 'DropPingRequest',
          },
        ],
      },
    ],
  },
  {
    name: 'ACNP for HTTP traffic: l7Protocols parse into Rule.l7 with the L7 warning; no tier means application',
    text: `
apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata:
  name: ingress-allow-http-request-to-api-v2
spec:
  priority: 5
  appliedTo:
    - podSelector:
        matchLabels:
          app: web
  ingress:
    - name: allow-http
      action: Allow
      from:
        - podSelector:
            matchLabels:
              app: client
      l7Protocols:
        - http:
            path: "/api/v2/*"
            host: "foo.bar.com"
            method: "GET"
    - name: drop-other
      action: Drop
`,
    policies: [
      {
        ref: ref('AntreaNetworkPolicy', 'ingress-allow-http-request-to-api-v2', 'default'),
        tier: 'antrea:application',
        priority: 5,
        subject: { namespaces: { kind: 'names', names: ['default'] }, pods: label('app', 'web') },
        isolates: [],
        ingress: [
          {
            action: 'Allow',
            peers: [
              {
                kind: 'endpoints',
                namespaces: { kind: 'names', names: ['default'] },
                pods: label('app', 'client'),
              },
            ],
            ports: 'any',
            l7: {
              kind: 'http',
              semantics: 'antrea-suricata',
              rules: [{ method: 'GET', path: '/api/v2/*', host: 'foo.bar.com' }],
            },
            index: 0,
            name: 'allow-http',
          },
          { action: 'Deny', peers: 'any', ports: 'any', index: 1, name: 'drop-other' },
        ],
        egress: [],
      },
    ],
    // HTTP rules are enforced by the node's L7 proxy: no warning.
    warnings: [],
  },
  {
    name: 'FQDN based filtering: fqdn peer with the L7 warning, then a catch-all Drop',
    text: `
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: acnp-fqdn-all-foobar
spec:
  priority: 1
  appliedTo:
  - podSelector:
      matchLabels:
        app: client
  egress:
  - action: Allow
    to:
      - fqdn: "*foobar.com"
    ports:
      - protocol: TCP
        port: 8080
  - action: Drop
`,
    policies: [
      {
        ref: ref('AntreaClusterNetworkPolicy', 'acnp-fqdn-all-foobar'),
        tier: 'antrea:application',
        priority: 1,
        subject: { namespaces: allNamespaces, pods: label('app', 'client') },
        isolates: [],
        ingress: [],
        egress: [
          {
            action: 'Allow',
            peers: [{ kind: 'fqdn', pattern: '*foobar.com', semantics: 'antrea', matchesPods: true }],
            ports: [{ kind: 'range', protocol: 'TCP', from: 8080, to: 8080 }],
            index: 0,
          },
          { action: 'Deny', peers: 'any', ports: 'any', index: 1 },
        ],
      },
    ],
    warnings: [{ path: 'spec.egress[0].to[0].fqdn', says: 'DNS: fqdn is modelled offline' }],
  },
  {
    name: 'Node Selector peer ("Node Selector"): nodes peer; a bare podSelector in an ACNP spans all namespaces',
    text: `
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: egress-control-plane
spec:
  priority: 1
  appliedTo:
    - podSelector:
        matchLabels:
          app: antrea-test-app
  egress:
    - action: Drop
      to:
        - nodeSelector:
            matchLabels:
              node-role.kubernetes.io/control-plane: ""
      ports:
        - protocol: TCP
          port: 6443
`,
    policies: [
      {
        ref: ref('AntreaClusterNetworkPolicy', 'egress-control-plane'),
        tier: 'antrea:application',
        priority: 1,
        subject: { namespaces: allNamespaces, pods: label('app', 'antrea-test-app') },
        isolates: [],
        ingress: [],
        egress: [
          {
            action: 'Deny',
            peers: [{ kind: 'nodes', selector: label('node-role.kubernetes.io/control-plane', '') }],
            ports: [{ kind: 'range', protocol: 'TCP', from: 6443, to: 6443 }],
            index: 0,
          },
        ],
      },
    ],
  },
  {
    name: 'Pass before baseline continues at the Kubernetes stage (the doc, **action**)',
    text: `
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: pass-web}
spec:
  priority: 2.5
  tier: securityops
  appliedTo: [{podSelector: {matchLabels: {app: web}}}]
  ingress:
    - action: Pass
      from: [{namespaceSelector: {matchLabels: {team: a}}}]
      ports: [{port: http}]
`,
    policies: [
      {
        ref: ref('AntreaClusterNetworkPolicy', 'pass-web'),
        tier: 'antrea:securityops',
        priority: 2.5,
        subject: { namespaces: allNamespaces, pods: label('app', 'web') },
        isolates: [],
        ingress: [
          {
            action: 'Pass',
            peers: [
              {
                kind: 'endpoints',
                namespaces: { kind: 'selector', selector: label('team', 'a') },
                pods: SELECT_ALL,
              },
            ],
            ports: [{ kind: 'named', protocol: 'TCP', name: 'http' }],
            passTo: KUBERNETES_TIER,
            index: 0,
          },
        ],
        egress: [],
      },
    ],
  },
  {
    name: 'namespaces match Self resolves when the appliedTo pins one namespace by name ("Selecting Pods in the same Namespace with Self")',
    text: `
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: self-in-x}
spec:
  priority: 1
  tier: platform
  appliedTo: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: x}}}]
  ingress:
    - action: Allow
      from: [{namespaces: {match: Self}, podSelector: {matchLabels: {app: a}}}]
`,
    policies: [
      {
        ref: ref('AntreaClusterNetworkPolicy', 'self-in-x'),
        tier: 'antrea:platform',
        priority: 1,
        subject: {
          namespaces: { kind: 'selector', selector: label(NAMESPACE_NAME_LABEL, 'x') },
          pods: SELECT_ALL,
        },
        isolates: [],
        ingress: [
          {
            action: 'Allow',
            peers: [
              { kind: 'endpoints', namespaces: { kind: 'names', names: ['x'] }, pods: label('app', 'a') },
            ],
            ports: 'any',
            index: 0,
          },
        ],
        egress: [],
      },
    ],
  },
  {
    name: 'several podSelector appliedTo entries of an ANNP are one subject (OR of pod selectors)',
    text: `
apiVersion: crd.antrea.io/v1alpha1
kind: NetworkPolicy
metadata: {name: two-apps, namespace: prod}
spec:
  priority: 10
  appliedTo: [{podSelector: {matchLabels: {app: a}}}, {podSelector: {matchLabels: {app: b}}}]
  egress: [{action: Allow, to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]}]
`,
    policies: [
      {
        ref: ref('AntreaNetworkPolicy', 'two-apps', 'prod'),
        tier: 'antrea:application',
        priority: 10,
        subject: {
          namespaces: { kind: 'names', names: ['prod'] },
          pods: { kind: 'or', of: [label('app', 'a'), label('app', 'b')] },
        },
        isolates: [],
        ingress: [],
        egress: [
          {
            action: 'Allow',
            peers: [{ kind: 'cidr', cidr: '10.0.0.0/8', except: ['10.1.0.0/16'], matchesPods: true }],
            ports: 'any',
            index: 0,
          },
        ],
      },
    ],
  },
];

describe("Antrea policies → IR (the doc's examples)", () => {
  for (const c of irCases) {
    it(c.name, () => {
      const { value, diagnostics } = load(c.text);
      assert.deepEqual(errors(diagnostics), []);
      assert.deepEqual(value.policies.map(withoutLines), c.policies);
      const warnings = diagnostics.filter((d) => d.severity === 'warning');
      assert.equal(warnings.length, c.warnings?.length ?? 0, JSON.stringify(warnings));
      for (const w of c.warnings ?? []) {
        assert.ok(
          warnings.some((d) => d.path === w.path && d.message.includes(w.says)),
          JSON.stringify(warnings),
        );
      }
    });
  }
});

describe('appliedTo unions that are not one IR subject', () => {
  const standAlone = `
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: acnp-with-stand-alone-selectors
spec:
  priority: 5
  tier: securityops
  appliedTo:
    - podSelector:
        matchLabels:
          role: db
    - namespaceSelector:
        matchLabels:
          env: prod
  egress:
    - action: Drop
      to:
        - ipBlock:
            cidr: 10.0.10.0/24
      name: DropToThirdParty
`;

  it('"ACNP with stand-alone selectors": one IR policy per appliedTo entry, same rules and priority', () => {
    const { policies, diagnostics } = convert(standAlone);
    assert.deepEqual(errors(diagnostics), []);
    assert.deepEqual(
      policies?.map((p) => [p.ref.name, p.priority, p.subject, p.egress.map((r) => r.index)]),
      [
        [
          'acnp-with-stand-alone-selectors#0',
          5,
          { namespaces: allNamespaces, pods: label('role', 'db') },
          [0],
        ],
        [
          'acnp-with-stand-alone-selectors#1',
          5,
          { namespaces: { kind: 'selector', selector: label('env', 'prod') }, pods: SELECT_ALL },
          [0],
        ],
      ],
    );
  });

  it('each piece records the object it was cut from; an unsplit policy records none', () => {
    assert.deepEqual(
      convert(standAlone).policies?.map((p) => p.ref.part),
      [0, 1].map((index) => ({ name: 'acnp-with-stand-alone-selectors', spec: 'spec', index })),
    );
    const whole = convert(
      'apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: one}\n' +
        'spec: {priority: 1, appliedTo: [{podSelector: {}}], ingress: [{action: Drop}]}\n',
    );
    assert.deepEqual(errors(whole.diagnostics), []);
    assert.deepEqual(
      whole.policies?.map((p) => [p.ref.name, p.ref.part]),
      [['one', undefined]],
    );
  });

  it('the loader loads every piece of a split policy', () => {
    const { value, diagnostics } = load(standAlone);
    assert.deepEqual(errors(diagnostics), []);
    assert.deepEqual(
      value.policies.map((p) => p.ref.name),
      (convert(standAlone).policies ?? []).map((p) => p.ref.name),
    );
    assert.ok(value.policies.length > 1);
  });

  it('"appliedTo per rule": one IR policy per run of rules, rule indexes kept, names sort in written order', () => {
    const { policies, diagnostics } = convert(`
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: acnp-appliedto-per-rule
spec:
  priority: 1
  ingress:
  - action: Drop
    appliedTo:
    - podSelector:
        matchLabels:
          app: db-restricted-west
    from:
    - podSelector:
       matchLabels:
         app: client-east
  - action: Drop
    appliedTo:
    - podSelector:
        matchLabels:
          app: db-restricted-east
    from:
    - podSelector:
        matchLabels:
          app: client-west
`);
    assert.deepEqual(errors(diagnostics), []);
    assert.deepEqual(
      policies?.map((p) => [p.ref.name, p.priority, p.subject.pods, p.ingress.map((r) => r.index)]),
      [
        ['acnp-appliedto-per-rule#0', 1, label('app', 'db-restricted-west'), [0]],
        ['acnp-appliedto-per-rule#1', 1, label('app', 'db-restricted-east'), [1]],
      ],
    );
    const names = policies?.map((p) => p.ref.name) ?? [];
    assert.deepEqual([...names].sort(), names);
  });

  it('rules sharing a rule-level appliedTo stay one IR policy', () => {
    const { policies, diagnostics } = convert(`
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: same}
spec:
  priority: 1
  ingress:
  - {action: Allow, appliedTo: [{podSelector: {matchLabels: {app: a}}}], from: [{podSelector: {}}]}
  - {action: Drop, appliedTo: [{podSelector: {matchLabels: {app: a}}}]}
`);
    assert.deepEqual(errors(diagnostics), []);
    assert.deepEqual(
      policies?.map((p) => [p.ref.name, p.ingress.map((r) => r.action)]),
      [['same', ['Allow', 'Deny']]],
    );
  });
});

function acnp(spec: string, kind = 'ClusterNetworkPolicy', metadata = '{name: p}'): string {
  return `apiVersion: crd.antrea.io/v1beta1\nkind: ${kind}\nmetadata: ${metadata}\nspec: ${spec}\n`;
}

interface ValidationCase {
  readonly name: string;
  readonly text: string;
  readonly code: DiagnosticCode;
  readonly path: string;
  readonly says?: string;
}

const APPLIED = 'appliedTo: [{podSelector: {}}]';

const validationCases: readonly ValidationCase[] = [
  {
    name: 'priority is mandatory ("This field is mandatory")',
    text: acnp(`{${APPLIED}, ingress: [{action: Allow}]}`),
    code: 'missing-field',
    path: 'spec.priority',
  },
  {
    name: 'priority below 1.0',
    text: acnp(`{priority: 0.5, ${APPLIED}, ingress: [{action: Allow}]}`),
    code: 'invalid-value',
    path: 'spec.priority',
  },
  {
    name: 'priority above 10000.0',
    text: acnp(`{priority: 10001, ${APPLIED}, ingress: [{action: Allow}]}`),
    code: 'invalid-value',
    path: 'spec.priority',
  },
  {
    name: 'priority must be a number',
    text: acnp(`{priority: high, ${APPLIED}, ingress: [{action: Allow}]}`),
    code: 'invalid-type',
    path: 'spec.priority',
  },
  {
    name: 'action is required',
    text: acnp(`{priority: 1, ${APPLIED}, ingress: [{from: []}]}`),
    code: 'missing-field',
    path: 'spec.ingress[0].action',
  },
  {
    name: 'action must be Allow, Drop, Reject or Pass ("Deny" is not an Antrea action)',
    text: acnp(`{priority: 1, ${APPLIED}, ingress: [{action: Deny}]}`),
    code: 'unsupported-value',
    path: 'spec.ingress[0].action',
  },
  {
    name: 'Pass is rejected in the baseline tier (the doc, **action**)',
    text: acnp(`{priority: 1, tier: baseline, ${APPLIED}, egress: [{action: Pass}]}`),
    code: 'invalid-value',
    path: 'spec.egress[0].action',
    says: 'Baseline',
  },
  {
    name: 'rule names are unique across ingress and egress',
    text: acnp(
      `{priority: 1, ${APPLIED}, ingress: [{action: Allow, name: r}], egress: [{action: Drop, name: r}]}`,
    ),
    code: 'duplicate',
    path: 'spec.egress[0].name',
  },
  {
    name: 'appliedTo is required at one level',
    text: acnp('{priority: 1, ingress: [{action: Allow}]}'),
    code: 'missing-field',
    path: 'spec.appliedTo',
  },
  {
    name: 'appliedTo cannot be set in both spec and rules',
    text: acnp(`{priority: 1, ${APPLIED}, ingress: [{action: Allow, ${APPLIED}}]}`),
    code: 'invalid-value',
    path: 'spec.ingress[0].appliedTo',
  },
  {
    name: 'rule-level appliedTo must be set in every rule',
    text: acnp(`{priority: 1, ingress: [{action: Allow, ${APPLIED}}, {action: Drop}]}`),
    code: 'missing-field',
    path: 'spec.ingress[1].appliedTo',
  },
  {
    name: 'Antrea NetworkPolicy appliedTo may not use namespaceSelector ("Key differences")',
    text: acnp(
      '{priority: 1, appliedTo: [{namespaceSelector: {}}], ingress: [{action: Allow}]}',
      'NetworkPolicy',
      '{name: p, namespace: prod}',
    ),
    code: 'invalid-value',
    path: 'spec.appliedTo[0].namespaceSelector',
  },
  {
    name: 'Antrea NetworkPolicy peers may not use namespaces ("Key differences")',
    text: acnp(
      `{priority: 1, ${APPLIED}, ingress: [{action: Allow, from: [{namespaces: {match: Self}}]}]}`,
      'NetworkPolicy',
      '{name: p, namespace: prod}',
    ),
    code: 'invalid-value',
    path: 'spec.ingress[0].from[0].namespaces',
  },
  {
    name: '"ACNP for strict Namespace isolation": Self over many namespaces has no IR form',
    text: acnp(
      '{priority: 5, tier: securityops, appliedTo: [{namespaceSelector: {}}], ingress: [{action: Pass, from: [{namespaces: {match: Self}}]}]}',
    ),
    code: 'unsupported-value',
    path: 'spec.ingress[0].from[0].namespaces.match',
  },
  {
    name: 'namespaces and namespaceSelector cannot be combined',
    text: acnp(
      `{priority: 1, ${APPLIED}, ingress: [{action: Allow, from: [{namespaces: {match: Self}, namespaceSelector: {}}]}]}`,
    ),
    code: 'invalid-value',
    path: 'spec.ingress[0].from[0].namespaces',
  },
  {
    name: '"ACNP with ClusterGroup reference": group is not resolved',
    text: acnp(`{priority: 8, ${APPLIED}, ingress: [{action: Allow, from: [{group: test-cg}]}]}`),
    code: 'unsupported-value',
    path: 'spec.ingress[0].from[0].group',
  },
  {
    name: 'group in appliedTo is not resolved',
    text: acnp('{priority: 8, appliedTo: [{group: db}], ingress: [{action: Allow}]}'),
    code: 'unsupported-value',
    path: 'spec.appliedTo[0].group',
  },
  {
    name: '"ServiceAccount based selection" has no IR peer',
    text: acnp(
      `{priority: 5, ${APPLIED}, egress: [{action: Drop, to: [{serviceAccount: {name: sa-2, namespace: ns-2}}]}]}`,
    ),
    code: 'unsupported-value',
    path: 'spec.egress[0].to[0].serviceAccount',
  },
  {
    name: '"ACNP for toServices rule" is not modelled',
    text: acnp(
      `{priority: 5, ${APPLIED}, egress: [{action: Drop, toServices: [{name: svcName, namespace: svcNamespace}]}]}`,
    ),
    code: 'unsupported-value',
    path: 'spec.egress[0].toServices',
  },
  {
    name: '"ACNP for IGMP traffic" has no IR match',
    text: acnp(`{priority: 5, ${APPLIED}, ingress: [{action: Drop, protocols: [{igmp: {igmpType: 17}}]}]}`),
    code: 'unsupported-value',
    path: 'spec.ingress[0].protocols[0].igmp',
  },
  {
    name: '"ACNP for Kubernetes Node traffic": nodeSelector in appliedTo is not modelled',
    text: acnp(
      '{priority: 5, appliedTo: [{nodeSelector: {matchLabels: {kubernetes.io/os: linux}}}], egress: [{action: Drop}]}',
    ),
    code: 'unsupported-value',
    path: 'spec.appliedTo[0].nodeSelector',
  },
  {
    name: 'sourcePort cannot be represented (dropping it would widen the rule)',
    text: acnp(
      `{priority: 1, ${APPLIED}, ingress: [{action: Allow, ports: [{port: 80, sourcePort: 1000}]}]}`,
    ),
    code: 'unsupported-value',
    path: 'spec.ingress[0].ports[0].sourcePort',
  },
  {
    name: 'endPort requires port',
    text: acnp(`{priority: 1, ${APPLIED}, ingress: [{action: Allow, ports: [{endPort: 90}]}]}`),
    code: 'invalid-value',
    path: 'spec.ingress[0].ports[0].endPort',
  },
  {
    name: 'ipBlock stands alone in a peer',
    text: acnp(
      `{priority: 1, ${APPLIED}, ingress: [{action: Allow, from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]}`,
    ),
    code: 'invalid-value',
    path: 'spec.ingress[0].from[0]',
  },
  {
    name: 'fqdn only in egress ("applicable only to the to section")',
    text: acnp(`{priority: 1, ${APPLIED}, ingress: [{action: Allow, from: [{fqdn: a.com}]}]}`),
    code: 'invalid-value',
    path: 'spec.ingress[0].from[0].fqdn',
  },
  {
    name: 'multi-cluster ClusterSet scope is not modelled',
    text: acnp(
      `{priority: 1, ${APPLIED}, ingress: [{action: Allow, from: [{podSelector: {}, scope: ClusterSet}]}]}`,
    ),
    code: 'unsupported-value',
    path: 'spec.ingress[0].from[0].scope',
  },
  {
    name: 'l7Protocols only with Allow',
    text: acnp(`{priority: 1, ${APPLIED}, ingress: [{action: Drop, l7Protocols: [{http: {}}]}]}`),
    code: 'invalid-value',
    path: 'spec.ingress[0].l7Protocols',
  },
  {
    name: 'HTTP rules need TCP ports',
    text: acnp(
      `{priority: 1, ${APPLIED}, ingress: [{action: Allow, ports: [{protocol: UDP, port: 53}], l7Protocols: [{http: {}}]}]}`,
    ),
    code: 'invalid-value',
    path: 'spec.ingress[0].l7Protocols',
    says: 'TCP',
  },
  {
    name: 'TLS SNI has no IR field',
    text: acnp(`{priority: 1, ${APPLIED}, egress: [{action: Allow, l7Protocols: [{tls: {sni: a.com}}]}]}`),
    code: 'unsupported-value',
    path: 'spec.egress[0].l7Protocols[0].tls',
  },
  {
    name: 'ICMP type is 0..255',
    text: acnp(`{priority: 1, ${APPLIED}, egress: [{action: Drop, protocols: [{icmp: {icmpType: 300}}]}]}`),
    code: 'invalid-value',
    path: 'spec.egress[0].protocols[0].icmp.icmpType',
  },
];

describe('Antrea policy validation', () => {
  for (const c of validationCases) {
    it(c.name, () => {
      const { value, diagnostics } = load(c.text);
      assert.deepEqual(value.policies, []);
      const match = errors(diagnostics).find((d) => d.code === c.code && d.path === c.path);
      assert.ok(match, JSON.stringify(diagnostics));
      if (c.says !== undefined) assert.ok(match.message.includes(c.says), match.message);
    });
  }

  it('an upper-case tier name is read lowercased, with a warning', () => {
    const text = acnp(`{priority: 1, tier: securityOps, ${APPLIED}, ingress: [{action: Allow}]}`);
    assert.equal(onlyPolicy(text).tier, 'antrea:securityops');
    assert.deepEqual(
      load(text).diagnostics.map((d) => [d.severity, d.path]),
      [['warning', 'spec.tier']],
    );
  });
});

/** Verdicts through the engine, with the static tiers merged as a caller of buildModel must do. */
describe('Antrea verdicts (engine with ANTREA_STATIC_TIERS merged)', () => {
  const world = [
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {team: a}}',
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: y}',
    pod('x', 'web', '10.0.0.1', 'app: web'),
    pod('x', 'client', '10.0.0.2', 'app: client'),
    pod('y', 'other', '10.0.0.3', 'app: other'),
  ];

  function pod(ns: string, name: string, ip: string, labels: string): string {
    return [
      'apiVersion: v1',
      'kind: Pod',
      `metadata: {name: ${name}, namespace: ${ns}, labels: {${labels}}}`,
      'spec: {nodeName: n1, containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}',
      `status: {podIP: ${ip}}`,
    ].join('\n');
  }

  function verdict(docs: readonly string[], from: string, to: string, port = 80) {
    const { value, diagnostics } = load([...world, ...docs].join('\n---\n'));
    assert.deepEqual(errors(diagnostics), []);
    const model = buildModel(value.cluster, value.policies, [...value.tiers, ...ANTREA_STATIC_TIERS]);
    const find = (key: string): Endpoint => {
      const e = value.cluster.endpoints.find((x) => `${x.namespace}/${x.name}` === key);
      assert.ok(e, key);
      return e;
    };
    return evaluate(model, {
      src: { kind: 'endpoint', endpoint: find(from) },
      dst: { kind: 'endpoint', endpoint: find(to) },
      protocol: 'TCP',
      port,
    });
  }

  const k8sAllowClient = [
    'apiVersion: networking.k8s.io/v1',
    'kind: NetworkPolicy',
    'metadata: {name: allow-client, namespace: x}',
    'spec: {podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]}',
  ].join('\n');
  const dropToWeb = (name: string, tier: string, action = 'Drop') =>
    acnp(
      `{priority: 1, tier: ${tier}, appliedTo: [{podSelector: {matchLabels: {app: web}}}], ingress: [{action: ${action}}]}`,
      'ClusterNetworkPolicy',
      `{name: ${name}}`,
    );

  it('an ACNP Drop in securityops wins over a Kubernetes allow ("Static tiers": Antrea tiers run first)', () => {
    const v = verdict([k8sAllowClient, dropToWeb('drop', 'securityops')], 'x/client', 'x/web');
    assert.equal(v.allowed, false);
    assert.equal(v.ingress.decidedBy?.policy.name, 'drop');
  });

  it('a baseline Drop loses to a Kubernetes allow (baseline runs after K8s NetworkPolicy)', () => {
    const v = verdict([k8sAllowClient, dropToWeb('base', 'baseline')], 'x/client', 'x/web');
    assert.equal(v.allowed, true);
    assert.equal(v.ingress.decidedBy?.policy.name, 'allow-client');
  });

  it('a baseline Drop applies when no Kubernetes policy selects the pod', () => {
    const v = verdict([dropToWeb('base', 'baseline')], 'x/client', 'x/web');
    assert.equal(v.allowed, false);
  });

  it('Reject is reported as Reject', () => {
    const v = verdict([dropToWeb('rej', 'application', 'Reject')], 'x/client', 'x/web');
    assert.equal(v.action, 'Reject');
  });

  it('Pass in securityops skips the application-tier Drop and lands on Kubernetes NetworkPolicy', () => {
    const pass = acnp(
      '{priority: 1, tier: securityops, appliedTo: [{podSelector: {matchLabels: {app: web}}}], ingress: [{action: Pass, from: [{namespaceSelector: {matchLabels: {team: a}}}]}]}',
      'ClusterNetworkPolicy',
      '{name: pass}',
    );
    const allowed = verdict([pass, dropToWeb('drop', 'application'), k8sAllowClient], 'x/client', 'x/web');
    assert.equal(allowed.allowed, true);
    assert.equal(allowed.ingress.decidedBy?.policy.name, 'allow-client');
    // From y: Pass does not match, the application Drop decides.
    const denied = verdict([pass, dropToWeb('drop', 'application'), k8sAllowClient], 'y/other', 'x/web');
    assert.equal(denied.ingress.decidedBy?.policy.name, 'drop');
  });

  it('Pass with no Kubernetes policy still meets the baseline tier ("the Baseline Tier rules will still be matched")', () => {
    const pass = acnp(
      '{priority: 1, tier: emergency, appliedTo: [{podSelector: {matchLabels: {app: web}}}], ingress: [{action: Pass}]}',
      'ClusterNetworkPolicy',
      '{name: pass}',
    );
    const v = verdict(
      [pass, dropToWeb('drop', 'application'), dropToWeb('base', 'baseline')],
      'x/client',
      'x/web',
    );
    assert.equal(v.allowed, false);
    assert.equal(v.ingress.decidedBy?.policy.name, 'base');
  });

  it('ACNPs do not isolate: a pod no rule matches falls through to default allow ("Key differences")', () => {
    const onlyFromY = acnp(
      '{priority: 1, appliedTo: [{podSelector: {matchLabels: {app: web}}}], ingress: [{action: Drop, from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}}]}]}',
    );
    assert.equal(verdict([onlyFromY], 'x/client', 'x/web').allowed, true);
    assert.equal(verdict([onlyFromY], 'y/other', 'x/web').allowed, false);
  });

  it('a custom Tier of priority 10 runs before emergency (50)', () => {
    const tier = tierDoc('first', '{priority: 10}');
    const allow = acnp(
      '{priority: 1, tier: first, appliedTo: [{podSelector: {matchLabels: {app: web}}}], ingress: [{action: Allow}]}',
      'ClusterNetworkPolicy',
      '{name: allow}',
    );
    const v = verdict([tier, allow, dropToWeb('drop', 'emergency')], 'x/client', 'x/web');
    assert.equal(v.allowed, true);
    assert.equal(v.ingress.decidedBy?.tier, 'antrea:first');
  });

  it('within a tier, lower policy priority first regardless of kind ("Ordering based on policy priority")', () => {
    const annpAllow = acnp(
      '{priority: 1.5, appliedTo: [{podSelector: {matchLabels: {app: web}}}], ingress: [{action: Allow}]}',
      'NetworkPolicy',
      '{name: annp, namespace: x}',
    );
    const acnpDrop = acnp(
      '{priority: 2, appliedTo: [{podSelector: {matchLabels: {app: web}}}], ingress: [{action: Drop}]}',
      'ClusterNetworkPolicy',
      '{name: acnp}',
    );
    const v = verdict([acnpDrop, annpAllow], 'x/client', 'x/web');
    assert.equal(v.ingress.decidedBy?.policy.kind, 'AntreaNetworkPolicy');
    assert.equal(v.allowed, true);
  });
});

describe('Antrea fqdn peers (docs "FQDN based filtering"; fqdn.go)', () => {
  const fqdnPolicy = (fqdn: string) => `
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: acnp-fqdn}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {app: client}}}]
  egress:
  - action: Allow
    to: [{fqdn: "${fqdn}"}]
`;

  it('say whose meaning they have and that they match pods (headless Services, per the docs)', () => {
    const { policies } = convert(fqdnPolicy('*foobar.com'));
    assert.deepEqual(policies?.[0]?.egress[0]?.peers, [
      { kind: 'fqdn', pattern: '*foobar.com', semantics: 'antrea', matchesPods: true },
    ]);
  });

  it('warn that a trailing dot never matches (parseDNSResponse trims the answer name, not the expression)', () => {
    const { diagnostics } = convert(fqdnPolicy('foobar.com.'));
    assert.ok(
      diagnostics.some(
        (d) => d.severity === 'warning' && /trailing dot, so this fqdn never matches/.test(d.message),
      ),
      JSON.stringify(diagnostics),
    );
    assert.ok(!convert(fqdnPolicy('foobar.com')).diagnostics.some((d) => /trailing dot/.test(d.message)));
  });
});
