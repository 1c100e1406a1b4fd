import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UNORDERED_PRIORITY, calicoTierOrder } from '../../src/dialects/calico.js';
import { parseSources } from '../../src/dialects/parse.js';
import { evaluate } from '../../src/engine/evaluate.js';
import { buildModel } from '../../src/engine/model.js';
import type { DiagnosticCode, Endpoint, Policy, Selector, Severity } from '../../src/ir/index.js';
import { KUBERNETES_TIER, NAMESPACE_NAME_LABEL, SELECT_ALL, TIER_ORDER } from '../../src/ir/index.js';
import { flow } from '../engine/builders.js';
import { withoutLines } from './support.js';

const FILE = 'calico.yaml';

/** Strips the indentation of a template literal so manifests can be written in place. */
function yaml(strings: TemplateStringsArray, ...values: unknown[]): string {
  const text = String.raw({ raw: strings }, ...values);
  const lines = text
    .split('\n')
    .filter((l, i, all) => !(i === 0 && l.trim() === '') && !(i === all.length - 1 && l.trim() === ''));
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)?.[0].length ?? 0));
  return lines.map((l) => l.slice(indent)).join('\n') + '\n';
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

const match = (key: string, ...values: string[]): Selector => ({
  kind: 'match',
  requirements: [{ key, op: 'In', values }],
});

// ---------------------------------------------------------------------------------------------------------
// Documentation examples → IR

describe('Calico docs examples → IR', () => {
  it('NetworkPolicy reference, "Sample YAML" (allow-tcp-6379)', () => {
    const p = onlyPolicy(yaml`
      apiVersion: projectcalico.org/v3
      kind: NetworkPolicy
      metadata:
        name: allow-tcp-6379
        namespace: production
      spec:
        selector: role == 'database'
        types:
          - Ingress
          - Egress
        ingress:
          - action: Allow
            metadata:
              annotations:
                from: frontend
                to: database
            protocol: TCP
            source:
              selector: role == 'frontend'
            destination:
              ports:
                - 6379
        egress:
          - action: Allow
    `);
    assert.deepEqual(withoutLines(p), {
      ref: {
        dialect: 'calico',
        kind: 'NetworkPolicy',
        namespace: 'production',
        name: 'allow-tcp-6379',
        file: FILE,
        doc: 0,
      },
      tier: KUBERNETES_TIER,
      priority: UNORDERED_PRIORITY,
      subject: { namespaces: { kind: 'names', names: ['production'] }, pods: match('role', 'database') },
      isolates: ['Ingress', 'Egress'],
      ingress: [
        {
          action: 'Allow',
          peers: [
            {
              kind: 'endpoints',
              namespaces: { kind: 'names', names: ['production'] },
              pods: match('role', 'frontend'),
            },
          ],
          ports: [{ kind: 'range', protocol: 'TCP', from: 6379, to: 6379 }],
          index: 0,
        },
      ],
      egress: [{ action: 'Allow', peers: 'any', ports: 'any', index: 0 }],
    });
  });

  it('GlobalNetworkPolicy reference, "Sample YAML": every namespace, peers in every namespace', () => {
    const p = onlyPolicy(yaml`
      apiVersion: projectcalico.org/v3
      kind: GlobalNetworkPolicy
      metadata:
        name: allow-tcp-6379
      spec:
        selector: role == 'database'
        types: [Ingress, Egress]
        ingress:
          - action: Allow
            protocol: TCP
            source:
              selector: role == 'frontend'
            destination:
              ports: [6379]
        egress:
          - action: Allow
    `);
    assert.deepEqual(p.ref, {
      dialect: 'calico',
      kind: 'GlobalNetworkPolicy',
      name: 'allow-tcp-6379',
      file: FILE,
      doc: 0,
    });
    assert.deepEqual(p.subject, {
      namespaces: { kind: 'selector', selector: SELECT_ALL },
      pods: match('role', 'database'),
    });
    assert.deepEqual(p.ingress[0]?.peers, [
      {
        kind: 'endpoints',
        namespaces: { kind: 'selector', selector: SELECT_ALL },
        pods: match('role', 'frontend'),
      },
    ]);
  });

  it('Get started with Calico network policy: namespaceSelector scopes the rule selector', () => {
    const p = onlyPolicy(yaml`
      apiVersion: projectcalico.org/v3
      kind: NetworkPolicy
      metadata: {name: allow-tcp-6379, namespace: production}
      spec:
        selector: color == 'red'
        ingress:
          - action: Allow
            protocol: TCP
            source:
              selector: color == 'blue'
              namespaceSelector: shape == 'circle'
            destination:
              ports: [6379]
    `);
    assert.deepEqual(p.isolates, ['Ingress']);
    assert.deepEqual(p.ingress[0]?.peers, [
      {
        kind: 'endpoints',
        namespaces: { kind: 'selector', selector: match('shape', 'circle') },
        pods: match('color', 'blue'),
      },
    ]);
  });

  it('Get started: GlobalNetworkPolicy deny-blue denies TCP from blue pods anywhere', () => {
    const p = onlyPolicy(yaml`
      apiVersion: projectcalico.org/v3
      kind: GlobalNetworkPolicy
      metadata: {name: deny-blue}
      spec:
        selector: color == 'red'
        ingress:
          - action: Deny
            protocol: TCP
            source:
              selector: color == 'blue'
    `);
    assert.deepEqual(p.ingress, [
      {
        action: 'Deny',
        peers: [
          {
            kind: 'endpoints',
            namespaces: { kind: 'selector', selector: SELECT_ALL },
            pods: match('color', 'blue'),
          },
        ],
        ports: [{ kind: 'protocol', protocol: 'TCP' }],
        index: 0,
      },
    ]);
  });

  it('Get started: nets are CIDR peers that also match pod addresses', () => {
    const p = onlyPolicy(yaml`
      apiVersion: projectcalico.org/v3
      kind: NetworkPolicy
      metadata: {name: allow-egress-external, namespace: production}
      spec:
        selector: color == 'red'
        types: [Egress]
        egress:
          - action: Allow
            destination:
              nets: [1.2.3.0/24]
    `);
    assert.deepEqual(p.isolates, ['Egress']);
    assert.deepEqual(p.egress[0]?.peers, [
      { kind: 'cidr', cidr: '1.2.3.0/24', except: [], matchesPods: true },
    ]);
  });

  it('Get started, "Apply network policies in specific order": order is the priority', () => {
    const { value } = load(yaml`
      apiVersion: projectcalico.org/v3
      kind: GlobalNetworkPolicy
      metadata: {name: drop-other-ingress}
      spec: {order: 20}
      ---
      apiVersion: projectcalico.org/v3
      kind: GlobalNetworkPolicy
      metadata: {name: allow-cluster-internal-ingress}
      spec: {order: 10}
    `);
    assert.deepEqual(
      value.policies.map((p) => [p.ref.name, p.priority]),
      [
        ['drop-other-ingress', 20],
        ['allow-cluster-internal-ingress', 10],
      ],
    );
  });

  it('Get started, "Generate logs": Log then Deny keep their order', () => {
    const p = onlyPolicy(yaml`
      apiVersion: projectcalico.org/v3
      kind: NetworkPolicy
      metadata: {name: allow-tcp-6379, namespace: production}
      spec:
        selector: role == 'database'
        types: [Ingress, Egress]
        ingress:
          - action: Log
            protocol: TCP
            source: {selector: role == 'frontend'}
          - action: Deny
            protocol: TCP
            source: {selector: role == 'frontend'}
    `);
    assert.deepEqual(
      p.ingress.map((r) => [r.action, r.index]),
      [
        ['Log', 0],
        ['Deny', 1],
      ],
    );
    assert.deepEqual(p.egress, []);
  });

  it('Calico policy tutorial default-deny: projectcalico.org/namespace selects namespaces by name', () => {
    const p = onlyPolicy(yaml`
      apiVersion: projectcalico.org/v3
      kind: GlobalNetworkPolicy
      metadata: {name: default-deny}
      spec:
        selector: projectcalico.org/namespace not in  {'kube-system', 'calico-system', 'calico-apiserver'}
        types: [Ingress, Egress]
    `);
    assert.deepEqual(p.subject, {
      namespaces: {
        kind: 'selector',
        selector: {
          kind: 'match',
          requirements: [
            {
              key: NAMESPACE_NAME_LABEL,
              op: 'NotIn',
              values: ['kube-system', 'calico-system', 'calico-apiserver'],
            },
          ],
        },
      },
      pods: SELECT_ALL,
    });
    assert.deepEqual(p.isolates, ['Ingress', 'Egress']);
  });

  it('Tier reference "Sample YAML" and tiered-policy "Create a tier": calico:<name> in the calicoBefore band', () => {
    const { value, diagnostics } = load(yaml`
      apiVersion: projectcalico.org/v3
      kind: Tier
      metadata: {name: internal-access}
      spec: {order: 100, defaultAction: Deny}
      ---
      apiVersion: projectcalico.org/v3
      kind: Tier
      metadata: {name: security}
      spec: {order: 300}
    `);
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(value.tiers, [
      {
        name: 'calico:internal-access',
        order: TIER_ORDER.calicoBefore + 0.1,
        semantics: 'first-match',
        dialect: 'calico',
        defaultAction: 'Deny',
      },
      {
        name: 'calico:security',
        order: TIER_ORDER.calicoBefore + 0.3,
        semantics: 'first-match',
        dialect: 'calico',
        defaultAction: 'Deny',
      },
    ]);
  });

  it('tiered-policy "Pass action rule example": tier, order, Deny then Pass (Pass has no passTo: next tier)', () => {
    const p = onlyPolicy(yaml`
      apiVersion: projectcalico.org/v3
      kind: GlobalNetworkPolicy
      metadata:
        name: devops.stage-env
      spec:
        tier: devops
        order: 255
        selector: env == "stage"
        ingress:
          - action: Deny
            source:
              selector: env != "stage"
          - action: Pass
        egress:
          - action: Deny
            destination:
              selector: env != "stage"
          - action: Pass
        types:
          - Ingress
          - Egress
    `);
    assert.equal(p.tier, 'calico:devops');
    assert.equal(p.priority, 255);
    assert.deepEqual(p.isolates, ['Ingress', 'Egress']);
    assert.deepEqual(p.ingress[1], { action: 'Pass', peers: 'any', ports: 'any', index: 1 });
    assert.deepEqual(p.ingress[0]?.peers, [
      {
        kind: 'endpoints',
        namespaces: { kind: 'selector', selector: SELECT_ALL },
        pods: { kind: 'match', requirements: [{ key: 'env', op: 'NotIn', values: ['stage'] }] },
      },
    ]);
  });

  it('tiered-policy "kube-admin tier": Calico policy there joins the admin tier and does not isolate (Pass)', () => {
    const p = onlyPolicy(yaml`
      apiVersion: projectcalico.org/v3
      kind: GlobalNetworkPolicy
      metadata: {name: kube-admin.allow-dns}
      spec:
        tier: kube-admin
        order: 100
        egress: [{action: Allow, protocol: UDP, destination: {ports: [53]}}]
    `);
    assert.equal(p.tier, 'admin');
    assert.deepEqual(p.isolates, []);
    assert.deepEqual(p.egress[0]?.ports, [{ kind: 'range', protocol: 'UDP', from: 53, to: 53 }]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Rule and policy constructs → IR

function policyWith(spec: string, kind = 'NetworkPolicy', metadata = '{name: p, namespace: prod}'): string {
  return `apiVersion: projectcalico.org/v3\nkind: ${kind}\nmetadata: ${metadata}\nspec: ${spec}\n`;
}

describe('Calico constructs → IR', () => {
  const typesCases: readonly { name: string; spec: string; isolates: string[] }[] = [
    { name: 'no rules → Ingress', spec: '{}', isolates: ['Ingress'] },
    { name: 'ingress only → Ingress', spec: '{ingress: [{action: Allow}]}', isolates: ['Ingress'] },
    { name: 'egress only → Egress', spec: '{egress: [{action: Allow}]}', isolates: ['Egress'] },
    {
      name: 'both → Ingress, Egress',
      spec: '{ingress: [{action: Allow}], egress: [{action: Allow}]}',
      isolates: ['Ingress', 'Egress'],
    },
    { name: 'explicit types win', spec: '{types: [Egress]}', isolates: ['Egress'] },
  ];
  for (const c of typesCases) {
    it(`types default (NetworkPolicy reference table): ${c.name}`, () => {
      assert.deepEqual(onlyPolicy(policyWith(c.spec)).isolates, c.isolates);
    });
  }

  it('ports: numbers, "start:end" ranges and named ports (Ports reference)', () => {
    const p = onlyPolicy(
      policyWith(
        "{ingress: [{action: Allow, protocol: TCP, destination: {ports: [8080, '1234:5678', named-port]}}]}",
      ),
    );
    assert.deepEqual(p.ingress[0]?.ports, [
      { kind: 'range', protocol: 'TCP', from: 8080, to: 8080 },
      { kind: 'range', protocol: 'TCP', from: 1234, to: 5678 },
      { kind: 'named', protocol: 'TCP', name: 'named-port' },
    ]);
  });

  it('named ports without a protocol match on TCP, UDP and SCTP', () => {
    const p = onlyPolicy(policyWith('{ingress: [{action: Allow, destination: {ports: [http]}}]}'));
    assert.deepEqual(p.ingress[0]?.ports, [
      { kind: 'named', protocol: 'TCP', name: 'http' },
      { kind: 'named', protocol: 'UDP', name: 'http' },
      { kind: 'named', protocol: 'SCTP', name: 'http' },
    ]);
  });

  it('protocol numbers and any letter case', () => {
    const p = onlyPolicy(
      policyWith('{ingress: [{action: Allow, protocol: 17}, {action: Allow, protocol: sctp}]}'),
    );
    assert.deepEqual(
      p.ingress.map((r) => r.ports),
      [[{ kind: 'protocol', protocol: 'UDP' }], [{ kind: 'protocol', protocol: 'SCTP' }]],
    );
  });

  it('ICMP / ICMPv6 with type and code, notICMP, notProtocol (Rule and ICMP reference)', () => {
    const p = onlyPolicy(
      policyWith(
        '{ingress: [{action: Allow, protocol: ICMP, icmp: {type: 8, code: 0}}, {action: Allow, protocol: ICMPv6, notICMP: {type: 128}}, {action: Deny, notProtocol: UDP}]}',
      ),
    );
    assert.deepEqual(p.ingress[0]?.ports, [{ kind: 'icmp', family: 4, type: 8, code: 0 }]);
    assert.deepEqual(p.ingress[1]?.ports, [{ kind: 'icmp', family: 6 }]);
    assert.deepEqual(p.ingress[1]?.notPorts, [{ kind: 'icmp', family: 6, type: 128 }]);
    assert.deepEqual(p.ingress[2], {
      action: 'Deny',
      peers: 'any',
      ports: 'any',
      notPorts: [{ kind: 'protocol', protocol: 'UDP' }],
      index: 0 + 2,
    });
  });

  it('notNets, notSelector and notPorts become negative matches', () => {
    const p = onlyPolicy(
      policyWith(
        "{egress: [{action: Allow, protocol: TCP, destination: {nets: [10.0.0.0/8], notNets: [10.1.0.0/16], notPorts: ['22']}}]}",
        'GlobalNetworkPolicy',
        '{name: p}',
      ),
    );
    assert.deepEqual(p.egress[0], {
      action: 'Allow',
      peers: [{ kind: 'cidr', cidr: '10.0.0.0/8', except: [], matchesPods: true }],
      ports: [{ kind: 'protocol', protocol: 'TCP' }],
      notPeers: [{ kind: 'cidr', cidr: '10.1.0.0/16', except: [], matchesPods: true }],
      notPorts: [{ kind: 'range', protocol: 'TCP', from: 22, to: 22 }],
      index: 0,
    });
  });

  it('in a NetworkPolicy, notSelector alone still limits the peer to the policy namespace (GetEntityRuleSelector)', () => {
    const p = onlyPolicy(policyWith("{ingress: [{action: Allow, source: {notSelector: role == 'bad'}}]}"));
    assert.deepEqual(p.ingress[0]?.peers, [
      { kind: 'endpoints', namespaces: { kind: 'names', names: ['prod'] }, pods: SELECT_ALL },
    ]);
    assert.deepEqual(p.ingress[0]?.notPeers, [
      {
        kind: 'endpoints',
        namespaces: { kind: 'selector', selector: SELECT_ALL },
        pods: match('role', 'bad'),
      },
    ]);
  });

  it('in a GlobalNetworkPolicy, notSelector alone matches any peer except the selected endpoints', () => {
    const p = onlyPolicy(
      policyWith(
        '{ingress: [{action: Deny, source: {notSelector: has(trusted)}}]}',
        'GlobalNetworkPolicy',
        '{name: p}',
      ),
    );
    assert.equal(p.ingress[0]?.peers, 'any');
    assert.equal(p.ingress[0]?.notPeers?.length, 1);
  });

  it('GlobalNetworkPolicy namespaceSelector (projectcalico.org/name is the namespace name) narrows the subject', () => {
    const p = onlyPolicy(
      policyWith(
        "{namespaceSelector: projectcalico.org/name == 'prod', selector: pcns.tier == 'web'}",
        'GlobalNetworkPolicy',
        '{name: p}',
      ),
    );
    assert.deepEqual(p.subject, {
      namespaces: {
        kind: 'selector',
        selector: {
          kind: 'match',
          requirements: [
            { key: NAMESPACE_NAME_LABEL, op: 'In', values: ['prod'] },
            { key: 'tier', op: 'In', values: ['web'] },
          ],
        },
      },
      pods: SELECT_ALL,
    });
  });

  it('namespace labels in a NetworkPolicy selector narrow its own namespace', () => {
    const p = onlyPolicy(policyWith("{selector: pcns.env == 'prod' && app == 'w'}"));
    assert.deepEqual(p.subject, {
      namespaces: {
        kind: 'selector',
        selector: {
          kind: 'match',
          requirements: [
            { key: NAMESPACE_NAME_LABEL, op: 'In', values: ['prod'] },
            { key: 'env', op: 'In', values: ['prod'] },
          ],
        },
      },
      pods: match('app', 'w'),
    });
  });

  it('a rule selector mixing namespace and pod labels under || becomes one peer per alternative', () => {
    const p = onlyPolicy(
      policyWith(
        "{ingress: [{action: Allow, source: {selector: app == 'a' || pcns.team == 'x'}}]}",
        'GlobalNetworkPolicy',
        '{name: p}',
      ),
    );
    assert.deepEqual(p.ingress[0]?.peers, [
      { kind: 'endpoints', namespaces: { kind: 'selector', selector: SELECT_ALL }, pods: match('app', 'a') },
      { kind: 'endpoints', namespaces: { kind: 'selector', selector: match('team', 'x') }, pods: SELECT_ALL },
    ]);
  });

  it('rules of a direction left out of types are dropped, with a warning', () => {
    const { value, diagnostics } = load(policyWith('{types: [Ingress], egress: [{action: Allow}]}'));
    assert.deepEqual(value.policies[0]?.egress, []);
    assert.ok(diagnostics.some((d) => d.path === 'spec.egress' && d.severity === 'warning'));
  });

  it('HTTP match parses into Rule.l7 (methods × paths), enforced, so without a warning', () => {
    const { value, diagnostics } = load(
      policyWith(
        '{ingress: [{action: Allow, http: {methods: [GET, PUT], paths: [{exact: /a.b}, {prefix: /api}]}}]}',
      ),
    );
    assert.deepEqual(value.policies[0]?.ingress[0]?.l7, {
      kind: 'http',
      semantics: 'calico-alp',
      rules: [
        { method: 'GET', path: '^/a\\.b$' },
        { method: 'GET', path: '^/api' },
        { method: 'PUT', path: '^/a\\.b$' },
        { method: 'PUT', path: '^/api' },
      ],
    });
    assert.ok(!diagnostics.some((d) => d.path === 'spec.ingress[0].http'));
  });

  it('an unmodelled protocol on an Allow rule only narrows: kept, matching nothing, with a warning', () => {
    const { value, diagnostics } = load(policyWith('{ingress: [{action: Allow, protocol: UDPLite}]}'));
    assert.deepEqual(value.policies[0]?.ingress[0]?.ports, []);
    assert.ok(diagnostics.some((d) => d.path === 'spec.ingress[0].protocol' && d.severity === 'warning'));
  });

  it('ipVersion implied by ICMP or by the nets is accepted', () => {
    onlyPolicy(
      policyWith(
        '{ingress: [{action: Allow, protocol: ICMP, ipVersion: 4}, {action: Allow, ipVersion: 6, source: {nets: [fd00::/8]}}]}',
      ),
    );
  });

  it('doNotTrack / preDNAT policies apply to host endpoints only: skipped with a warning', () => {
    const { value, diagnostics } = load(
      policyWith('{doNotTrack: true, applyOnForward: true}', 'GlobalNetworkPolicy', '{name: p}'),
    );
    assert.equal(value.policies.length, 0);
    assert.ok(diagnostics.some((d) => d.path === 'spec.doNotTrack' && d.severity === 'warning'));
  });

  it('a default-tier name prefix "default." is accepted', () => {
    assert.equal(
      onlyPolicy(policyWith('{}', 'NetworkPolicy', '{name: default.p, namespace: prod}')).tier,
      KUBERNETES_TIER,
    );
  });
});

describe('Tier.order → TIER_ORDER bands', () => {
  const cases: readonly { name: string; tier: string; order: number | undefined; want: number }[] = [
    { name: 'order 0', tier: 't', order: 0, want: TIER_ORDER.calicoBefore },
    { name: 'order 100 (Tier sample)', tier: 't', order: 100, want: TIER_ORDER.calicoBefore + 0.1 },
    { name: 'just below default', tier: 't', order: 999_000, want: TIER_ORDER.calicoBefore + 999 },
    {
      name: 'equal to default, name before "default"',
      tier: 'a',
      order: 1e6,
      want: TIER_ORDER.calicoBefore + 1000,
    },
    { name: 'equal to default, name after "default"', tier: 'z', order: 1e6, want: TIER_ORDER.calicoAfter },
    { name: 'twice default', tier: 't', order: 2e6, want: TIER_ORDER.calicoAfter + 500 },
    { name: 'no order: last Calico tier', tier: 't', order: undefined, want: TIER_ORDER.calicoAfter + 1000 },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(calicoTierOrder(c.tier, c.order), c.want));
  }

  it('is monotone and stays inside the Calico bands, negative and huge orders included', () => {
    const orders = [-1e12, -5, 0, 1, 999_999, 1e6 + 1, 5e6, 1e12, 1e300];
    const mapped = orders.map((o) => calicoTierOrder('t', o));
    for (let i = 1; i < mapped.length; i++)
      assert.ok((mapped[i] ?? 0) > (mapped[i - 1] ?? 0), `${orders[i]}`);
    for (const m of mapped) {
      assert.ok(m > TIER_ORDER.antrea + 255 && m < TIER_ORDER.antreaBaseline, String(m));
      assert.ok(m < TIER_ORDER.kubernetes || m > TIER_ORDER.kubernetes, String(m));
    }
    assert.ok(calicoTierOrder('t', 999_999) < TIER_ORDER.kubernetes);
    assert.ok(calicoTierOrder('t', 1e6 + 1) > TIER_ORDER.kubernetes);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Validation

interface ValidationCase {
  readonly name: string;
  readonly text: string;
  readonly code: DiagnosticCode;
  readonly path: string;
  readonly severity?: Severity;
  readonly says?: string;
}

const gnp = (spec: string, name = 'p') => policyWith(spec, 'GlobalNetworkPolicy', `{name: ${name}}`);
const tier = (metadata: string, spec: string) =>
  `apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: ${metadata}\nspec: ${spec}\n`;

const validation: readonly ValidationCase[] = [
  {
    name: 'selector syntax error names the column',
    text: policyWith("{selector: app = 'x'}"),
    code: 'invalid-value',
    path: 'spec.selector',
    says: 'column 5',
  },
  {
    name: 'service-account labels in a selector are unsupported',
    text: policyWith("{selector: pcsa.role == 'x'}"),
    code: 'unsupported-value',
    path: 'spec.selector',
  },
  {
    name: 'global() outside an EntityRule namespaceSelector',
    text: policyWith('{selector: global()}'),
    code: 'invalid-value',
    path: 'spec.selector',
    says: 'global()',
  },
  {
    name: 'global() in a GlobalNetworkPolicy namespaceSelector',
    text: gnp('{namespaceSelector: global()}'),
    code: 'invalid-value',
    path: 'spec.namespaceSelector',
  },
  {
    name: 'a subject needing two namespace × pod pairs',
    text: policyWith("{selector: app == 'a' || pcns.team == 'x'}"),
    code: 'unsupported-value',
    path: 'spec.selector',
  },
  {
    name: 'serviceAccountSelector other than all()',
    text: policyWith("{serviceAccountSelector: role == 'x'}"),
    code: 'unsupported-value',
    path: 'spec.serviceAccountSelector',
  },
  {
    name: 'types repeated',
    text: policyWith('{types: [Ingress, Ingress]}'),
    code: 'duplicate',
    path: 'spec.types[1]',
  },
  {
    name: 'types unknown',
    text: policyWith('{types: [Both]}'),
    code: 'unsupported-value',
    path: 'spec.types[0]',
  },
  {
    name: 'order must be a number',
    text: policyWith('{order: high}'),
    code: 'invalid-type',
    path: 'spec.order',
  },
  {
    name: 'action is required',
    text: policyWith('{ingress: [{protocol: TCP}]}'),
    code: 'missing-field',
    path: 'spec.ingress[0].action',
  },
  {
    name: 'action is Allow, Deny, Log or Pass',
    text: policyWith('{ingress: [{action: Reject}]}'),
    code: 'unsupported-value',
    path: 'spec.ingress[0].action',
  },
  {
    name: 'protocol name',
    text: policyWith('{ingress: [{action: Allow, protocol: GRE}]}'),
    code: 'unsupported-value',
    path: 'spec.ingress[0].protocol',
  },
  {
    name: 'protocol number 0',
    text: policyWith('{ingress: [{action: Allow, protocol: 0}]}'),
    code: 'invalid-value',
    path: 'spec.ingress[0].protocol',
  },
  {
    name: 'an unmodelled protocol on a Deny rule cannot be dropped',
    text: policyWith('{ingress: [{action: Deny, protocol: 47}]}'),
    code: 'unsupported-value',
    path: 'spec.ingress[0].protocol',
  },
  {
    name: 'ICMP with ports (validator: ports need TCP, UDP or SCTP)',
    text: policyWith('{ingress: [{action: Allow, protocol: ICMP, destination: {ports: [80]}}]}'),
    code: 'invalid-value',
    path: 'spec.ingress[0].destination.ports[0]',
    says: 'TCP or UDP or SCTP',
  },
  {
    name: 'numeric ports without a protocol',
    text: policyWith('{ingress: [{action: Allow, destination: {ports: [80]}}]}'),
    code: 'invalid-value',
    path: 'spec.ingress[0].destination.ports[0]',
  },
  {
    name: 'port 0',
    text: policyWith('{ingress: [{action: Allow, protocol: TCP, destination: {ports: [0]}}]}'),
    code: 'invalid-value',
    path: 'spec.ingress[0].destination.ports[0]',
  },
  {
    name: 'reversed port range',
    text: policyWith("{ingress: [{action: Allow, protocol: TCP, destination: {ports: ['90:80']}}]}"),
    code: 'invalid-value',
    path: 'spec.ingress[0].destination.ports[0]',
  },
  {
    name: 'icmp without protocol ICMP (CEL rule on Rule)',
    text: policyWith('{ingress: [{action: Allow, protocol: TCP, icmp: {type: 8}}]}'),
    code: 'invalid-value',
    path: 'spec.ingress[0].icmp',
  },
  {
    name: 'ICMP code without type',
    text: policyWith('{ingress: [{action: Allow, protocol: ICMP, icmp: {code: 0}}]}'),
    code: 'invalid-value',
    path: 'spec.ingress[0].icmp.code',
  },
  {
    name: 'ICMP type 255',
    text: policyWith('{ingress: [{action: Allow, protocol: ICMP, icmp: {type: 255}}]}'),
    code: 'invalid-value',
    path: 'spec.ingress[0].icmp.type',
  },
  {
    name: 'ICMP requires ipVersion 4',
    text: policyWith('{ingress: [{action: Allow, protocol: ICMP, ipVersion: 6}]}'),
    code: 'invalid-value',
    path: 'spec.ingress[0].ipVersion',
  },
  {
    name: 'ipVersion nothing else implies cannot be expressed',
    text: policyWith('{ingress: [{action: Allow, ipVersion: 4}]}'),
    code: 'unsupported-value',
    path: 'spec.ingress[0].ipVersion',
  },
  {
    name: 'ipVersion contradicting the nets',
    text: policyWith('{ingress: [{action: Allow, ipVersion: 6, source: {nets: [10.0.0.0/8]}}]}'),
    code: 'invalid-value',
    path: 'spec.ingress[0].ipVersion',
  },
  {
    name: 'source ports are unsupported',
    text: policyWith('{ingress: [{action: Allow, protocol: TCP, source: {ports: [1024]}}]}'),
    code: 'unsupported-value',
    path: 'spec.ingress[0].source.ports',
  },
  {
    name: "an ingress rule's destination selector narrows the policy's own endpoint",
    text: policyWith("{ingress: [{action: Allow, destination: {selector: app == 'x'}}]}"),
    code: 'unsupported-value',
    path: 'spec.ingress[0].destination.selector',
  },
  {
    name: "an egress rule's source nets narrow the policy's own endpoint",
    text: policyWith('{egress: [{action: Allow, source: {nets: [10.0.0.0/8]}}]}'),
    code: 'unsupported-value',
    path: 'spec.egress[0].source.nets',
  },
  {
    name: 'nets together with a selector',
    text: policyWith("{ingress: [{action: Allow, source: {nets: [10.0.0.0/8], selector: app == 'x'}}]}"),
    code: 'unsupported-value',
    path: 'spec.ingress[0].source.nets',
  },
  {
    name: 'serviceAccounts cannot be matched',
    text: policyWith('{ingress: [{action: Allow, source: {serviceAccounts: {names: [api]}}}]}'),
    code: 'unsupported-value',
    path: 'spec.ingress[0].source.serviceAccounts',
  },
  {
    name: 'services cannot be matched',
    text: policyWith(
      '{egress: [{action: Allow, destination: {services: {name: kubernetes, namespace: default}}}]}',
    ),
    code: 'unsupported-value',
    path: 'spec.egress[0].destination.services',
  },
  {
    name: 'catch-all notNets',
    text: policyWith('{ingress: [{action: Allow, source: {notNets: [0.0.0.0/0]}}]}'),
    code: 'invalid-value',
    path: 'spec.ingress[0].source.notNets',
  },
  {
    name: 'IPv4 and IPv6 nets in one rule',
    text: policyWith('{ingress: [{action: Allow, source: {nets: [10.0.0.0/8], notNets: [fd00::/8]}}]}'),
    code: 'invalid-value',
    path: 'spec.ingress[0].source',
  },
  {
    name: 'bad CIDR',
    text: policyWith('{ingress: [{action: Allow, source: {nets: [10.0.0.0/33]}}]}'),
    code: 'invalid-value',
    path: 'spec.ingress[0].source.nets[0]',
  },
  {
    name: 'global() mixed with other terms in a namespaceSelector',
    text: policyWith("{ingress: [{action: Allow, source: {namespaceSelector: global() || a == 'b'}}]}"),
    code: 'invalid-value',
    path: 'spec.ingress[0].source.namespaceSelector',
  },
  {
    name: 'global() namespaceSelector on a Deny rule (network sets not modelled)',
    text: policyWith('{ingress: [{action: Deny, source: {namespaceSelector: global()}}]}'),
    code: 'unsupported-value',
    path: 'spec.ingress[0].source.namespaceSelector',
  },
  {
    name: 'global() namespaceSelector on an Allow rule only narrows',
    text: policyWith('{ingress: [{action: Allow, source: {namespaceSelector: global()}}]}'),
    code: 'unsupported-value',
    path: 'spec.ingress[0].source.namespaceSelector',
    severity: 'warning',
  },
  {
    name: 'HTTP match on an egress rule',
    text: policyWith('{egress: [{action: Allow, http: {methods: [GET]}}]}'),
    code: 'invalid-value',
    path: 'spec.egress[0].http',
  },
  {
    name: 'HTTP match on a Deny rule',
    text: policyWith('{ingress: [{action: Deny, http: {methods: [GET]}}]}'),
    code: 'invalid-value',
    path: 'spec.ingress[0].http',
  },
  {
    name: 'notICMP without an ICMP protocol',
    text: policyWith('{ingress: [{action: Allow, notICMP: {type: 8}}]}'),
    code: 'unsupported-value',
    path: 'spec.ingress[0].notICMP',
  },
  {
    name: 'tiered policy named with another tier prefix',
    text: gnp('{tier: security}', 'platform.p'),
    code: 'invalid-value',
    path: 'metadata.name',
  },
  {
    name: 'tiered policy without the tier prefix (valid since Calico v3.32)',
    text: gnp('{tier: security}', 'p'),
    code: 'invalid-value',
    path: 'metadata.name',
    severity: 'warning',
    says: 'v3.32',
  },
  {
    name: 'a tier-like prefix without spec.tier',
    text: gnp('{}', 'security.p'),
    code: 'invalid-value',
    path: 'metadata.name',
    severity: 'warning',
  },
  {
    name: 'NetworkPolicy names hold at most one dot',
    text: policyWith('{}', 'NetworkPolicy', '{name: a.b.c, namespace: prod}'),
    code: 'invalid-value',
    path: 'metadata.name',
  },
  {
    name: 'spec.tier must be a DNS label',
    text: policyWith('{tier: Sec_1}'),
    code: 'invalid-value',
    path: 'spec.tier',
  },
  {
    name: 'Tier defaultAction is Deny or Pass',
    text: tier('{name: t}', '{defaultAction: Allow}'),
    code: 'unsupported-value',
    path: 'spec.defaultAction',
  },
  {
    name: 'the default tier order is fixed at 1000000',
    text: tier('{name: default}', '{order: 5}'),
    code: 'invalid-value',
    path: 'spec.order',
  },
  {
    name: "the kube-admin tier's default action is fixed at Pass",
    text: tier('{name: kube-admin}', '{order: 1000, defaultAction: Deny}'),
    code: 'invalid-value',
    path: 'spec.defaultAction',
  },
  {
    name: 'Tier names are DNS labels',
    text: tier('{name: a.b}', '{}'),
    code: 'invalid-value',
    path: 'metadata.name',
  },
  {
    name: 'unknown spec field',
    text: policyWith('{selectr: all()}'),
    code: 'unknown-field',
    path: 'spec.selectr',
    severity: 'warning',
  },
];

describe('Calico validation', () => {
  for (const c of validation) {
    it(c.name, () => {
      const { value, diagnostics } = load(c.text);
      const severity = c.severity ?? 'error';
      const hit = diagnostics.find((d) => d.path === c.path && d.code === c.code && d.severity === severity);
      assert.ok(
        hit,
        `wanted ${severity} ${c.code} at ${c.path}; got ${JSON.stringify(diagnostics, null, 1)}`,
      );
      if (c.says !== undefined) assert.ok(hit.message.includes(c.says), hit.message);
      assert.equal(hit.file, FILE);
      if (severity === 'error') assert.equal(value.policies.length + value.tiers.length, 0);
    });
  }

  it('built-in tiers are checked but not contributed (the engine has them)', () => {
    const { value, diagnostics } = load(tier('{name: default}', '{order: 1000000, defaultAction: Deny}'));
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(value.tiers, []);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Verdicts through the engine (tiers merged by buildModel)

function world(policies: string) {
  const objects = [
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: prod, labels: {shape: circle}}',
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: dev}',
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}',
    pod('prod', 'web', { app: 'web', env: 'stage' }, '10.0.0.1'),
    pod('prod', 'db', { app: 'db', env: 'stage' }, '10.0.0.2'),
    pod('prod', 'bad', { app: 'client', role: 'bad' }, '10.0.0.3'),
    pod('dev', 'client', { app: 'client', env: 'prod' }, '10.0.1.1'),
    pod('kube-system', 'dns', { app: 'dns' }, '10.0.2.1'),
  ];
  const { value, diagnostics } = load([...objects, policies].join('\n---\n'));
  assert.deepEqual(
    diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
  const model = buildModel(value.cluster, value.policies, value.tiers);
  const ep = (key: string): Endpoint => {
    const e = value.cluster.endpoints.find((x) => `${x.namespace}/${x.name}` === key);
    assert.ok(e, key);
    return e;
  };
  return { model, ep, value };
}

function pod(namespace: string, name: string, labels: Record<string, string>, ip: string): string {
  return `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: ${namespace}, labels: ${JSON.stringify(labels)}}\nstatus: {podIP: ${ip}}`;
}

describe('Calico verdicts', () => {
  it('Tier reference "How policy is evaluated": a tier that applies but takes no action drops', () => {
    const { model, ep } = world(yaml`
      apiVersion: projectcalico.org/v3
      kind: Tier
      metadata: {name: security}
      spec: {order: 100}
      ---
      apiVersion: projectcalico.org/v3
      kind: GlobalNetworkPolicy
      metadata: {name: security.db}
      spec:
        tier: security
        selector: app == 'db'
        ingress:
          - action: Allow
            source: {selector: app == 'web'}
    `);
    assert.equal(evaluate(model, flow(ep('prod/web'), ep('prod/db'))).allowed, true);
    const v = evaluate(model, flow(ep('dev/client'), ep('prod/db')));
    assert.equal(v.allowed, false);
    assert.equal(v.ingress.reason, 'isolated');
    // Endpoints no policy of the tier selects skip it ("Policy endpoint matching across tiers").
    assert.equal(evaluate(model, flow(ep('dev/client'), ep('prod/web'))).allowed, true);
  });

  it('Tier reference "defaultAction: Pass": a tier that applies but takes no action passes to the next tier', () => {
    const { model, ep } = world(yaml`
      apiVersion: projectcalico.org/v3
      kind: Tier
      metadata: {name: security}
      spec: {order: 100, defaultAction: Pass}
      ---
      apiVersion: projectcalico.org/v3
      kind: GlobalNetworkPolicy
      metadata: {name: security.db}
      spec:
        tier: security
        selector: app == 'db'
        ingress:
          - action: Deny
            source: {selector: role == 'bad'}
    `);
    assert.equal(evaluate(model, flow(ep('prod/bad'), ep('prod/db'))).allowed, false);
    // No rule matched and the tier passes: nothing later isolates prod/db, so the default allow applies.
    assert.equal(evaluate(model, flow(ep('dev/client'), ep('prod/db'))).allowed, true);
  });

  it('tiered-policy "Pass action rule example": Deny non-stage, Pass the rest to the next tier', () => {
    const { model, ep } = world(yaml`
      apiVersion: projectcalico.org/v3
      kind: Tier
      metadata: {name: devops}
      spec: {order: 300}
      ---
      apiVersion: projectcalico.org/v3
      kind: GlobalNetworkPolicy
      metadata: {name: devops.stage-env}
      spec:
        tier: devops
        order: 255
        selector: env == "stage"
        ingress:
          - action: Deny
            source: {selector: env != "stage"}
          - action: Pass
        egress:
          - action: Deny
            destination: {selector: env != "stage"}
          - action: Pass
        types: [Ingress, Egress]
    `);
    const denied = evaluate(model, flow(ep('dev/client'), ep('prod/db')));
    assert.equal(denied.allowed, false);
    assert.equal(denied.ingress.decidedBy?.tier, 'calico:devops');
    assert.equal(evaluate(model, flow(ep('prod/web'), ep('prod/db'))).allowed, true);
    assert.equal(evaluate(model, flow(ep('prod/db'), ep('dev/client'))).egress.allowed, false);
  });

  it('Get started "Apply network policies in specific order": the lower order allows first', () => {
    const { model, ep } = world(yaml`
      apiVersion: projectcalico.org/v3
      kind: GlobalNetworkPolicy
      metadata: {name: drop-other-ingress}
      spec:
        order: 20
        selector: app == 'db'
        ingress: [{action: Deny}]
      ---
      apiVersion: projectcalico.org/v3
      kind: GlobalNetworkPolicy
      metadata: {name: allow-cluster-internal-ingress}
      spec:
        order: 10
        selector: app == 'db'
        ingress: [{action: Allow, source: {nets: [10.0.0.0/16]}}]
    `);
    assert.equal(evaluate(model, flow(ep('dev/client'), ep('prod/db'))).allowed, true);
    const outside = evaluate(model, flow('192.0.2.9', ep('prod/db')));
    assert.equal(outside.allowed, false);
    assert.equal(outside.ingress.decidedBy?.policy.name, 'drop-other-ingress');
  });

  it('Calico policy tutorial: default-deny outside kube-system, then allow busybox egress and nginx ingress', () => {
    const { model, ep } = world(yaml`
      apiVersion: projectcalico.org/v3
      kind: GlobalNetworkPolicy
      metadata: {name: default-deny}
      spec:
        selector: projectcalico.org/namespace not in  {'kube-system', 'calico-system', 'calico-apiserver'}
        types: [Ingress, Egress]
      ---
      apiVersion: projectcalico.org/v3
      kind: NetworkPolicy
      metadata: {name: allow-busybox-egress, namespace: dev}
      spec:
        selector: app == 'client'
        types: [Egress]
        egress: [{action: Allow}]
      ---
      apiVersion: projectcalico.org/v3
      kind: NetworkPolicy
      metadata: {name: allow-nginx-ingress, namespace: prod}
      spec:
        selector: app == 'web'
        types: [Ingress]
        ingress: [{action: Allow, source: {selector: app == 'client'}}]
    `);
    // The rule selector of a NetworkPolicy stays in its namespace: dev/client is not prod's client.
    assert.equal(evaluate(model, flow(ep('dev/client'), ep('prod/web'))).allowed, false);
    assert.equal(evaluate(model, flow(ep('dev/client'), '192.0.2.1')).allowed, true);
    assert.equal(evaluate(model, flow(ep('prod/web'), ep('dev/client'))).allowed, false);
    assert.equal(evaluate(model, flow(ep('kube-system/dns'), '192.0.2.1')).allowed, true);
  });

  it('NetworkPolicy notSelector: same-namespace peers except the excluded ones', () => {
    const { model, ep } = world(yaml`
      apiVersion: projectcalico.org/v3
      kind: NetworkPolicy
      metadata: {name: not-bad, namespace: prod}
      spec:
        selector: app == 'db'
        ingress: [{action: Allow, source: {notSelector: role == 'bad'}}]
    `);
    assert.equal(evaluate(model, flow(ep('prod/web'), ep('prod/db'))).allowed, true);
    assert.equal(evaluate(model, flow(ep('prod/bad'), ep('prod/db'))).allowed, false);
    assert.equal(evaluate(model, flow(ep('dev/client'), ep('prod/db'))).allowed, false);
  });

  it('namespaceSelector by namespace label (Get started, shape == circle)', () => {
    const { model, ep } = world(yaml`
      apiVersion: projectcalico.org/v3
      kind: GlobalNetworkPolicy
      metadata: {name: from-circles}
      spec:
        selector: app == 'client'
        ingress: [{action: Allow, source: {namespaceSelector: shape == 'circle'}}]
    `);
    assert.equal(evaluate(model, flow(ep('prod/web'), ep('dev/client'))).allowed, true);
    assert.equal(evaluate(model, flow(ep('kube-system/dns'), ep('dev/client'))).allowed, false);
  });

  it('a Calico default-tier Deny at order 500 comes before Kubernetes NetworkPolicy (order 1000)', () => {
    const { model, ep, value } = world(yaml`
      apiVersion: projectcalico.org/v3
      kind: NetworkPolicy
      metadata: {name: deny-dev, namespace: prod}
      spec:
        order: 500
        selector: app == 'db'
        ingress: [{action: Deny, source: {namespaceSelector: projectcalico.org/name == 'dev'}}]
      ---
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: allow-all, namespace: prod}
      spec:
        podSelector: {}
        ingress: [{}]
    `);
    const k8s = value.policies.find((p) => p.ref.dialect === 'kubernetes');
    assert.equal(k8s?.priority, 1000, "the Kubernetes dialect places NetworkPolicy at Calico's order 1000");
    assert.equal(evaluate(model, flow(ep('dev/client'), ep('prod/db'))).allowed, false);
    assert.equal(evaluate(model, flow(ep('prod/web'), ep('prod/db'))).allowed, true);
  });
});
