/**
 * lint(): one table of constructs, each run against every target. A case lists, per target, the findings
 * it must produce (code + severity, optionally a consequence pattern); a target it does not list must
 * produce none, so a new finding anywhere shows up as a failure here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSources } from '../../../src/dialects/index.js';
import { DEFAULT_TIERS } from '../../../src/engine/index.js';
import { TARGETS, lint } from '../../../src/engine/lint/index.js';
import type { LintCode, LintFinding, LintSeverity, Target } from '../../../src/engine/lint/index.js';
import { hasErrors } from '../../../src/ir/index.js';

function load(yaml: string): Parameters<typeof lint>[0] {
  const { value, diagnostics } = parseSources([{ file: 'case.yaml', text: yaml }]);
  assert.ok(!hasErrors(diagnostics), JSON.stringify(diagnostics, null, 2));
  return { policies: value.policies, tiers: [...DEFAULT_TIERS, ...value.tiers], cluster: value.cluster };
}

interface Expected {
  readonly code: LintCode;
  readonly severity: LintSeverity;
  readonly path?: string;
  readonly consequence?: RegExp;
}

interface Case {
  readonly name: string;
  readonly yaml: string;
  /** Findings per target besides flannel's, which is always one no-policy-enforcement error per policy. */
  readonly expect: Partial<Record<Target, readonly Expected[]>>;
}

const POD = (name: string, labels: string, ip: string, ports = '[]') => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: shop, labels: ${labels}}
spec: {containers: [{name: c, image: i, ports: ${ports}}]}
status: {podIP: ${ip}}
---`;

const NP = (name: string, spec: string) => `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ${name}, namespace: shop}
spec: ${spec}
---`;

const DEFAULT_DENY = NP('default-deny', '{podSelector: {}, policyTypes: [Ingress]}');

const ALLOW_ONLY = 'the allow is silently ignored: traffic only it allows stays denied by isolation';
const DENY_LOST = /the Deny is not enforced: traffic it denies is allowed/;
const ISOLATION_LOST = /its default deny is not applied: traffic its rules do not allow is allowed/;

const both = (e: readonly Expected[]): Partial<Record<Target, readonly Expected[]>> => ({
  'kube-router': e,
  weave: e,
  kubernetes: e,
});

const CASES: readonly Case[] = [
  {
    name: 'plain NetworkPolicy allow: every CNI with policy support enforces it',
    yaml: NP(
      'web',
      '{podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {}}], ports: [{port: 80}]}]}',
    ),
    expect: {},
  },
  {
    name: 'NetworkPolicy egress: old kube-router (and the papers) do not enforce it',
    yaml: NP('egress', '{podSelector: {}, policyTypes: [Egress], egress: [{to: [{podSelector: {}}]}]}'),
    expect: {
      'kube-router': [
        {
          code: 'egress-conditional',
          severity: 'warning',
          path: 'spec.egress',
          consequence: /egress the policy does not allow is allowed/,
        },
      ],
    },
  },
  {
    name: 'NetworkPolicy endPort: Weave enforces only `port`; kube-router and Cilium need a version',
    yaml: NP(
      'range',
      '{podSelector: {}, ingress: [{ports: [{protocol: TCP, port: 30000, endPort: 30100}]}]}',
    ),
    expect: {
      weave: [
        {
          code: 'end-port',
          severity: 'error',
          path: 'spec.ingress[0].ports[0].endPort',
          consequence: /^only port 30000 is allowed: ports 30001-30100 stay denied by isolation$/,
        },
      ],
      'kube-router': [
        { code: 'end-port', severity: 'warning', consequence: /where unsupported, only port 30000/ },
      ],
      cilium: [{ code: 'end-port', severity: 'warning' }],
    },
  },
  {
    name: 'NetworkPolicy named port: weave-npc drops the whole policy',
    yaml: NP('named', '{podSelector: {}, ingress: [{ports: [{port: http}]}]}'),
    expect: {
      weave: [
        {
          code: 'named-port',
          severity: 'error',
          path: 'spec.ingress[0].ports[0].port',
          consequence: /whole policy is dropped.*allowed unless another policy isolates them/,
        },
      ],
      'kube-router': [{ code: 'named-port', severity: 'warning', consequence: /stays denied by isolation/ }],
    },
  },
  {
    name: 'NetworkPolicy SCTP: kube-router before v2.8.0 and Cilium without enable-sctp',
    yaml: NP('sctp', '{podSelector: {}, ingress: [{ports: [{protocol: SCTP, port: 3868}]}]}'),
    expect: {
      'kube-router': [{ code: 'sctp', severity: 'warning', path: 'spec.ingress[0].ports[0].protocol' }],
      cilium: [{ code: 'sctp', severity: 'warning', consequence: /SCTP traffic stays denied by isolation/ }],
    },
  },
  {
    name: 'NetworkPolicy ipBlock over a known pod: Cilium does not match it',
    yaml:
      POD('web', '{app: web}', '10.1.0.10') +
      NP('cidr', '{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.1.0.0/16}}]}]}'),
    expect: {
      cilium: [
        {
          code: 'ipblock-pods',
          severity: 'error',
          path: 'spec.ingress[0].from[0].ipBlock',
          consequence: /^the allow does not cover pods shop\/web: their traffic stays denied by isolation$/,
        },
      ],
    },
  },
  {
    name: 'NetworkPolicy ipBlock with an except around the only pod: nothing to report',
    yaml:
      POD('web', '{app: web}', '10.1.0.10') +
      NP(
        'cidr',
        '{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.1.0.0/16, except: [10.1.0.0/24]}}]}]}',
      ),
    expect: {},
  },
  {
    name: 'NetworkPolicy ipBlock without a cluster model: Cilium only may differ',
    yaml: NP('cidr', '{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.1.0.0/16}}]}]}'),
    expect: { cilium: [{ code: 'ipblock-pods', severity: 'warning', consequence: /pods in the range/ }] },
  },
  {
    name: 'Cilium deny-only policy elsewhere: the Deny is lost, traffic is allowed',
    yaml: `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: no-world, namespace: shop}
spec:
  endpointSelector: {}
  ingressDeny: [{fromEntities: [world]}]
  enableDefaultDeny: {ingress: false}
`,
    expect: {
      calico: [{ code: 'kind-not-read', severity: 'error', path: 'kind', consequence: DENY_LOST }],
      antrea: [{ code: 'kind-not-read', severity: 'error', consequence: DENY_LOST }],
      ...both([
        { code: 'kind-not-read', severity: 'error', consequence: DENY_LOST },
        { code: 'no-equivalent-action', severity: 'info', path: 'spec.ingressDeny[0]' },
      ]),
    },
  },
  {
    name: 'Cilium L7 allow next to a NetworkPolicy default deny: isolation lost, allow ignored, no L7 elsewhere',
    yaml:
      DEFAULT_DENY +
      `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: get-only, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
    - toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{method: GET}]}}]
`,
    expect: {
      calico: [
        { code: 'kind-not-read', severity: 'error', consequence: new RegExp(`${ALLOW_ONLY.split(':')[0]}`) },
        { code: 'no-equivalent-l7', severity: 'info', path: 'spec.ingress[0]' },
      ],
      antrea: [
        { code: 'kind-not-read', severity: 'error' },
        { code: 'no-equivalent-l7', severity: 'info', consequence: /every request on it is allowed/ },
      ],
      ...both([
        { code: 'kind-not-read', severity: 'error' },
        { code: 'no-equivalent-l7', severity: 'info' },
      ]),
    },
  },
  {
    name: 'Cilium isolating policy alone: its default deny is lost elsewhere',
    yaml: `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-in, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{fromEndpoints: [{matchLabels: {app: client}}]}]
`,
    expect: {
      calico: [{ code: 'kind-not-read', severity: 'error', consequence: ISOLATION_LOST }],
      antrea: [{ code: 'kind-not-read', severity: 'error', consequence: ISOLATION_LOST }],
      ...both([{ code: 'kind-not-read', severity: 'error', consequence: ISOLATION_LOST }]),
    },
  },
  {
    name: 'Antrea Reject: no Reject in Calico or Cilium, no deny at all in NetworkPolicy-only targets',
    yaml: `
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: reject-ssh}
spec:
  priority: 1
  appliedTo: [{podSelector: {}}]
  ingress: [{action: Reject, ports: [{protocol: TCP, port: 22}]}]
`,
    expect: {
      calico: [
        { code: 'kind-not-read', severity: 'error', consequence: DENY_LOST },
        {
          code: 'no-equivalent-action',
          severity: 'info',
          consequence: /timeout instead of getting a TCP RST/,
        },
      ],
      cilium: [
        { code: 'kind-not-read', severity: 'error' },
        { code: 'no-equivalent-action', severity: 'info' },
        { code: 'no-equivalent-order', severity: 'info', consequence: /traffic matching both is denied/ },
      ],
      ...both([
        { code: 'kind-not-read', severity: 'error' },
        { code: 'no-equivalent-action', severity: 'info', consequence: /leaving it out of every allow/ },
        { code: 'no-equivalent-order', severity: 'info' },
      ]),
    },
  },
  {
    name: 'Calico tier and Pass: Calico OSS needs 3.29; Cilium and NetworkPolicy-only targets have no Pass',
    yaml: `
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.defer}
spec:
  tier: security
  selector: all()
  types: [Ingress]
  ingress: [{action: Pass}]
`,
    expect: {
      calico: [
        {
          code: 'tier-conditional',
          severity: 'warning',
          path: 'spec.tier',
          consequence: /policy is refused/,
        },
      ],
      antrea: [{ code: 'kind-not-read', severity: 'error', consequence: ISOLATION_LOST }],
      cilium: [
        { code: 'kind-not-read', severity: 'error' },
        { code: 'no-equivalent-action', severity: 'info', consequence: /instead of deferring/ },
        { code: 'no-equivalent-order', severity: 'info' },
      ],
      ...both([
        { code: 'kind-not-read', severity: 'error' },
        { code: 'no-equivalent-action', severity: 'info' },
        { code: 'no-equivalent-order', severity: 'info' },
      ]),
    },
  },
  {
    name: 'AdminNetworkPolicy Allow over a NetworkPolicy default deny (Kim et al. 2025 §IV-D)',
    yaml:
      POD('web', '{app: web}', '10.1.0.10') +
      DEFAULT_DENY +
      `
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: allow-monitoring}
spec:
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Allow, from: [{namespaces: {}}]}]
`,
    expect: {
      calico: [
        {
          code: 'kind-conditional',
          severity: 'warning',
          consequence: /^otherwise ingress: the allow is silently ignored/,
        },
        {
          code: 'kubernetes-first',
          severity: 'warning',
          path: 'spec.ingress[0]',
          consequence: /^the allow is silently ignored: traffic stays denied by isolation/,
        },
      ],
      antrea: [
        { code: 'kind-conditional', severity: 'warning' },
        { code: 'kubernetes-first', severity: 'warning' },
      ],
      cilium: [
        { code: 'kind-not-read', severity: 'error', consequence: new RegExp(`^ingress: ${ALLOW_ONLY}`) },
        { code: 'no-equivalent-order', severity: 'info' },
      ],
      ...both([
        { code: 'kind-not-read', severity: 'error', consequence: new RegExp(`^ingress: ${ALLOW_ONLY}`) },
        { code: 'no-equivalent-order', severity: 'info' },
      ]),
    },
  },
];

function summary(fs: readonly LintFinding[]): string[] {
  return fs.map((f) => `${f.code}/${f.severity}`).sort();
}

describe('lint: every construct against every target', () => {
  for (const c of CASES) {
    const input = load(c.yaml);
    for (const target of TARGETS) {
      it(`${c.name} [${target}]`, () => {
        const findings = lint(input, target);
        for (const f of findings) assert.equal(f.target, target);
        if (target === 'flannel') {
          assert.deepEqual(
            summary(findings),
            input.policies.map(() => 'no-policy-enforcement/error'),
          );
          for (const f of findings)
            assert.equal(f.consequence, 'no policy is enforced at all: every connection is allowed');
          return;
        }
        const expected = c.expect[target] ?? [];
        assert.deepEqual(
          summary(findings),
          expected.map((e) => `${e.code}/${e.severity}`).sort(),
          JSON.stringify(findings, null, 2),
        );
        for (const e of expected) {
          const hit = findings.find(
            (f) =>
              f.code === e.code &&
              f.severity === e.severity &&
              (e.path === undefined || f.path === e.path) &&
              (e.consequence === undefined || e.consequence.test(f.consequence)),
          );
          assert.ok(
            hit,
            `${e.code} ${e.path ?? ''} ${String(e.consequence ?? '')}\n${JSON.stringify(findings, null, 2)}`,
          );
        }
      });
    }
  }
});

describe('lint: findings carry where they were written', () => {
  it('file, doc, policy label, rule index and a path inside the object', () => {
    const input = load(
      `${DEFAULT_DENY}\n${NP('range', '{podSelector: {}, ingress: [{}, {ports: [{port: 1, endPort: 9}]}]}')}`,
    );
    const [f] = lint(input, 'weave');
    assert.ok(f);
    assert.equal(f.file, 'case.yaml');
    assert.equal(f.doc, 1);
    assert.equal(f.policy, 'NetworkPolicy shop/range');
    assert.equal(f.rule, 1);
    assert.equal(f.path, 'spec.ingress[1].ports[0].endPort');
    assert.match(f.source, /k8s\.io\/api v0\.18\.6|kubernetes#110868/);
  });

  it('one finding per written object, not per IR piece (Antrea appliedTo split)', () => {
    const input = load(`
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: split}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {a: x}}}, {namespaceSelector: {matchLabels: {b: y}}}]
  ingress: [{action: Drop}]
`);
    assert.ok(input.policies.length > 1, 'the fixture must split into pieces');
    const findings = lint(input, 'calico');
    assert.deepEqual(summary(findings), ['kind-not-read/error']);
    assert.equal(findings[0]?.policy, 'AntreaClusterNetworkPolicy split');
  });

  it('Cilium `specs` entries and deny sections map back to their own lists', () => {
    const input = load(`
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: multi, namespace: shop}
specs:
  - endpointSelector: {}
    ingress: [{}]
  - endpointSelector: {}
    egressDeny: [{toEntities: [world]}]
`);
    const paths = lint(input, 'weave').map((f) => `${f.code} ${f.path}`);
    assert.ok(paths.includes('no-equivalent-action specs[1].egressDeny[0]'), paths.join('\n'));
    assert.ok(lint(input, 'weave').every((f) => f.policy === 'CiliumNetworkPolicy shop/multi'));
  });
});

describe('lint: Cilium `**.` name patterns (Cilium 1.19 upgrade notes)', () => {
  const policy = (pattern: string) => `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: fqdn, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
    - toEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": kube-system, "k8s:k8s-app": kube-dns}}]
      toPorts: [{ports: [{port: "53", protocol: ANY}], rules: {dns: [{matchPattern: "${pattern}"}]}}]
    - toFQDNs: [{matchPattern: "${pattern}"}]
      toPorts: [{ports: [{port: "443", protocol: TCP}]}]
`;
  const fqdnFindings = (pattern: string) =>
    lint(load(policy(pattern)), 'cilium').filter((f) => f.code === 'fqdn-conditional');

  it('a leading **. spans several labels only from 1.19: a warning on each rule that writes one', () => {
    const found = fqdnFindings('**.example.com');
    assert.deepEqual(
      found.map((f) => [f.severity, f.path]),
      [
        ['warning', 'spec.egress[0]'],
        ['warning', 'spec.egress[1]'],
      ],
    );
    assert.match(found[0]?.message ?? '', /"\*\*\.example\.com" spans several labels only on Cilium 1\.19/);
    assert.match(found[0]?.consequence ?? '', /not selected/);
  });

  it('*. and a bare ** (every name) mean the same on every release: no finding', () => {
    assert.deepEqual(fqdnFindings('*.example.com'), []);
    assert.deepEqual(fqdnFindings('**'), []);
  });
});
