import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ciliumPolicyToIr } from '../../src/dialects/cilium.js';
import { parseSources } from '../../src/dialects/parse.js';
import { collectingReporter } from '../../src/dialects/report.js';
import type {
  DiagnosticCode,
  Direction,
  NamespaceScope,
  Peer,
  Policy,
  PortMatch,
  Rule,
  Selector,
  Severity,
} from '../../src/ir/index.js';
import { KUBERNETES_TIER, SELECT_ALL } from '../../src/ir/index.js';
import { withoutLines } from './support.js';

const FILE = 'cilium.yaml';
const CNP = 'CiliumNetworkPolicy';
const CCNP = 'CiliumClusterwideNetworkPolicy';

// ---- builders for the expected IR --------------------------------------------------------------

const labels = (m: Record<string, string>): Selector => ({
  kind: 'match',
  requirements: Object.entries(m).map(([key, v]) => ({ key, op: 'In', values: [v] })),
});
const inNs = (ns: string): NamespaceScope => ({ kind: 'names', names: [ns] });
const ALL_NS: NamespaceScope = { kind: 'selector', selector: SELECT_ALL };
const nsNamed = (ns: string): NamespaceScope => ({
  kind: 'selector',
  selector: labels({ 'kubernetes.io/metadata.name': ns }),
});
const pods = (namespaces: NamespaceScope, m: Record<string, string> = {}): Peer => ({
  kind: 'endpoints',
  namespaces,
  pods: Object.keys(m).length === 0 ? SELECT_ALL : labels(m),
});
const entity = (e: Extract<Peer, { kind: 'entity' }>['entity']): Peer => ({ kind: 'entity', entity: e });
const cidr = (c: string, except: string[] = []): Peer => ({
  kind: 'cidr',
  cidr: c,
  except,
  matchesPods: false,
});
const NOT_NODES: Peer[] = [entity('host'), entity('remote-node')];
const tcp = (from: number, to = from): PortMatch => ({ kind: 'range', protocol: 'TCP', from, to });
const udp = (from: number): PortMatch => ({ kind: 'range', protocol: 'UDP', from, to: from });
const anyProto = (from: number): PortMatch[] =>
  (['TCP', 'UDP', 'SCTP'] as const).map((protocol) => ({ kind: 'range', protocol, from, to: from }));

function allow(
  index: number,
  peers: Rule['peers'],
  ports: Rule['ports'] = 'any',
  extra: Partial<Rule> = {},
): Rule {
  return { action: 'Allow', peers, ports, index, ...extra };
}
function deny(
  index: number,
  peers: Rule['peers'],
  ports: Rule['ports'] = 'any',
  extra: Partial<Rule> = {},
): Rule {
  return { action: 'Deny', peers, ports, index, ...extra };
}

interface Expect {
  readonly kind?: string;
  readonly name: string;
  readonly namespace?: string;
  readonly subject: Policy['subject'];
  readonly isolates: Direction[];
  readonly ingress?: Rule[];
  readonly egress?: Rule[];
}

function policy(e: Expect): Policy {
  const kind = e.kind ?? CNP;
  const namespace = kind === CNP ? (e.namespace ?? 'default') : undefined;
  return {
    ref: {
      dialect: 'cilium',
      kind,
      ...(namespace === undefined ? {} : { namespace }),
      name: e.name,
      file: FILE,
      doc: 0,
    },
    tier: KUBERNETES_TIER,
    priority: 1000, // KUBERNETES_POLICY_PRIORITY: one group with Kubernetes NetworkPolicy
    subject: e.subject,
    isolates: e.isolates,
    ingress: e.ingress ?? [],
    egress: e.egress ?? [],
  };
}

function load(text: string) {
  return parseSources([{ file: FILE, text }]);
}

type Diag = readonly [DiagnosticCode, string] | readonly [DiagnosticCode, string, Severity];

function diagnosticsOf(text: string) {
  return load(text).diagnostics.map((d) => [d.code, d.path, d.severity] as const);
}

// ---- the Cilium documentation's examples ---------------------------------------------------------

interface DocCase {
  readonly name: string;
  readonly yaml: string;
  readonly expected: Policy;
  /** Warnings the example must produce (code, path); nothing else may be reported. */
  readonly warnings?: readonly Diag[];
}

const docCases: readonly DocCase[] = [
  {
    name: 'Policy Enforcement Modes › intercept-all-dns: enableDefaultDeny false, NotIn on the namespace key',
    yaml: `
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata:
  name: intercept-all-dns
spec:
  endpointSelector:
    matchExpressions:
      - key: "io.kubernetes.pod.namespace"
        operator: "NotIn"
        values:
        - "kube-system"
      - key: "k8s-app"
        operator: "NotIn"
        values:
        - kube-dns
  enableDefaultDeny:
    egress: false
    ingress: false
  egress:
    - toEndpoints:
        - matchLabels:
            io.kubernetes.pod.namespace: kube-system
            k8s-app: kube-dns
      toPorts:
        - ports:
          - port: "53"
            protocol: TCP
          - port: "53"
            protocol: UDP
          rules:
            dns:
              - matchPattern: "*"
`,
    expected: policy({
      kind: CCNP,
      name: 'intercept-all-dns',
      subject: {
        namespaces: {
          kind: 'selector',
          selector: {
            kind: 'match',
            requirements: [{ key: 'kubernetes.io/metadata.name', op: 'NotIn', values: ['kube-system'] }],
          },
        },
        pods: { kind: 'match', requirements: [{ key: 'k8s-app', op: 'NotIn', values: ['kube-dns'] }] },
      },
      isolates: [],
      egress: [
        allow(0, [pods(nsNamed('kube-system'), { 'k8s-app': 'kube-dns' })], [tcp(53), udp(53)], {
          l7: { kind: 'dns', patterns: ['*'] },
        }),
      ],
    }),
    warnings: [['unsupported-value', 'spec.egress[0].toPorts[0].rules']],
  },
  {
    name: 'Layer 3 › Endpoints based › Simple Ingress Allow (l3.yaml): policy namespace scopes both sides',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "l3-rule"
spec:
  endpointSelector:
    matchLabels:
      role: backend
  ingress:
  - fromEndpoints:
    - matchLabels:
        role: frontend
`,
    expected: policy({
      name: 'l3-rule',
      subject: { namespaces: inNs('default'), pods: labels({ role: 'backend' }) },
      isolates: ['Ingress'],
      ingress: [allow(0, [pods(inNs('default'), { role: 'frontend' })])],
    }),
  },
  {
    name: 'Layer 3 › Ingress Allow All Endpoints: an empty EndpointSelector in a CNP means its namespace',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata: {name: "allow-all-to-victim", namespace: prod}
spec:
  endpointSelector:
    matchLabels:
      role: victim
  ingress:
  - fromEndpoints:
    - {}
`,
    expected: policy({
      name: 'allow-all-to-victim',
      namespace: 'prod',
      subject: { namespaces: inNs('prod'), pods: labels({ role: 'victim' }) },
      isolates: ['Ingress'],
      ingress: [allow(0, [pods(inNs('prod'))])],
    }),
  },
  {
    name: 'Layer 3 › Simple Egress Allow (l3_egress.yaml)',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "l3-egress-rule"
spec:
  endpointSelector:
    matchLabels:
      role: frontend
  egress:
  - toEndpoints:
    - matchLabels:
        role: backend
`,
    expected: policy({
      name: 'l3-egress-rule',
      subject: { namespaces: inNs('default'), pods: labels({ role: 'frontend' }) },
      isolates: ['Egress'],
      egress: [allow(0, [pods(inNs('default'), { role: 'backend' })])],
    }),
  },
  {
    name: 'Layer 3 › Egress Allow All Endpoints: "all other endpoints in the same namespace"',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "allow-all-from-frontend"
spec:
  endpointSelector:
    matchLabels:
      role: frontend
  egress:
  - toEndpoints:
    - {}
`,
    expected: policy({
      name: 'allow-all-from-frontend',
      subject: { namespaces: inNs('default'), pods: labels({ role: 'frontend' }) },
      isolates: ['Egress'],
      egress: [allow(0, [pods(inNs('default'))])],
    }),
  },
  {
    name: 'Layer 3 › Ingress/Egress Default Deny (egress-default-deny.yaml): `egress: [{}]` isolates and allows nothing',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "deny-all-egress"
spec:
  endpointSelector:
    matchLabels:
      role: restricted
  egress:
  - {}
`,
    expected: policy({
      name: 'deny-all-egress',
      subject: { namespaces: inNs('default'), pods: labels({ role: 'restricted' }) },
      isolates: ['Egress'],
      egress: [allow(0, [])],
    }),
  },
  {
    name: 'Layer 3 › Simple Egress Deny (egress-deny.yaml): egressDeny becomes a Deny rule beside the allow',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "deny-egress-example"
spec:
  endpointSelector:
    matchLabels:
      role: frontend
  egress:
  - toEntities:
    - all
  egressDeny:
  - toEndpoints:
    - matchLabels:
        role: backend
`,
    expected: policy({
      name: 'deny-egress-example',
      subject: { namespaces: inNs('default'), pods: labels({ role: 'frontend' }) },
      isolates: ['Egress'],
      // Deny rules first: a policy's rules run in order and a Cilium deny beats any allow.
      egress: [deny(0, [pods(inNs('default'), { role: 'backend' })]), allow(0, [entity('all')])],
    }),
  },
  ...(
    [
      ['apiserver.yaml', 'egress', 'toEntities', 'kube-apiserver', { env: 'dev' }],
      ['host.yaml', 'egress', 'toEntities', 'host', { env: 'dev' }],
      ['nodes.yaml', 'ingress', 'fromEntities', 'remote-node', { env: 'dev' }],
      ['world.yaml', 'ingress', 'fromEntities', 'world', { role: 'public' }],
      ['cluster entity', 'ingress', 'fromEntities', 'cluster', { role: 'public' }],
    ] as const
  ).map(([file, section, field, e, sel]): DocCase => ({
    name: `Layer 3 › Entities based (${file}): ${field} ${e}`,
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata: {name: entity-rule}
spec:
  endpointSelector: {matchLabels: ${JSON.stringify(sel)}}
  ${section}:
  - ${field}:
    - ${e}
`,
    expected: policy({
      name: 'entity-rule',
      subject: { namespaces: inNs('default'), pods: labels(sel) },
      isolates: [section === 'ingress' ? 'Ingress' : 'Egress'],
      [section]: [allow(0, [entity(e)])],
    }),
  })),
  {
    name: 'Layer 3 › IP/CIDR based (cidr.yaml): CIDRs never select pods or nodes; except holes kept',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "cidr-rule"
spec:
  endpointSelector:
    matchLabels:
      app: myService
  egress:
  - toCIDR:
    - 20.1.1.1/32
  - toCIDRSet:
    - cidr: 10.0.0.0/8
      except:
      - 10.96.0.0/12
`,
    expected: policy({
      name: 'cidr-rule',
      subject: { namespaces: inNs('default'), pods: labels({ app: 'myService' }) },
      isolates: ['Egress'],
      egress: [
        allow(0, [cidr('20.1.1.1/32')], 'any', { notPeers: NOT_NODES }),
        allow(1, [cidr('10.0.0.0/8', ['10.96.0.0/12'])], 'any', { notPeers: NOT_NODES }),
      ],
    }),
  },
  {
    name: 'Layer 3 › DNS based (fqdn.yaml): k8s: prefixes stripped, namespace label names the namespace, toFQDNs → fqdn peers',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "to-fqdn"
spec:
  endpointSelector:
    matchLabels:
      app: test-app
  egress:
    - toEndpoints:
      - matchLabels:
          "k8s:io.kubernetes.pod.namespace": kube-system
          "k8s:k8s-app": kube-dns
    - toFQDNs:
        - matchName: "my-remote-service.com"
`,
    expected: policy({
      name: 'to-fqdn',
      subject: { namespaces: inNs('default'), pods: labels({ app: 'test-app' }) },
      isolates: ['Egress'],
      egress: [
        allow(0, [pods(nsNamed('kube-system'), { 'k8s-app': 'kube-dns' })]),
        allow(1, [
          { kind: 'fqdn', pattern: 'my-remote-service.com', semantics: 'cilium', matchesPods: false },
        ]),
      ],
    }),
    warnings: [['unsupported-value', 'spec.egress[1].toFQDNs']],
  },
  {
    name: 'Deny Policies (from_world_deny.yaml): a CCNP with ingressDeny world beside ingress all',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumClusterwideNetworkPolicy
metadata:
  name: "external-lockdown"
spec:
  endpointSelector: {}
  ingressDeny:
  - fromEntities:
    - "world"
  ingress:
  - fromEntities:
    - "all"
`,
    expected: policy({
      kind: CCNP,
      name: 'external-lockdown',
      subject: { namespaces: ALL_NS, pods: SELECT_ALL },
      isolates: ['Ingress'],
      ingress: [deny(0, [entity('world')]), allow(0, [entity('all')])],
    }),
  },
  {
    name: 'Layer 4 › Example (L4) (l4.yaml): toPorts without L3 allows every peer on the port',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "l4-rule"
spec:
  endpointSelector:
    matchLabels:
      app: myService
  egress:
    - toPorts:
      - ports:
        - port: "80"
          protocol: TCP
`,
    expected: policy({
      name: 'l4-rule',
      subject: { namespaces: inNs('default'), pods: labels({ app: 'myService' }) },
      isolates: ['Egress'],
      egress: [allow(0, 'any', [tcp(80)])],
    }),
  },
  {
    name: 'Layer 4 › Example Port Ranges (l4_port_range.yaml): endPort',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "l4-port-range-rule"
spec:
  endpointSelector:
    matchLabels:
      app: myService
  egress:
    - toPorts:
      - ports:
        - port: "80"
          endPort: 444
          protocol: TCP
`,
    expected: policy({
      name: 'l4-port-range-rule',
      subject: { namespaces: inNs('default'), pods: labels({ app: 'myService' }) },
      isolates: ['Egress'],
      egress: [allow(0, 'any', [tcp(80, 444)])],
    }),
  },
  {
    name: 'Layer 4 › Labels-dependent Layer 4 rule (l3_l4_combined.yaml): toPorts ANDs with fromEndpoints',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "l3-l4-rule"
spec:
  endpointSelector:
    matchLabels:
      role: backend
  ingress:
  - fromEndpoints:
    - matchLabels:
        role: frontend
    toPorts:
    - ports:
      - port: "80"
        protocol: TCP
`,
    expected: policy({
      name: 'l3-l4-rule',
      subject: { namespaces: inNs('default'), pods: labels({ role: 'backend' }) },
      isolates: ['Ingress'],
      ingress: [allow(0, [pods(inNs('default'), { role: 'frontend' })], [tcp(80)])],
    }),
  },
  {
    name: 'Layer 4 › CIDR-dependent Layer 4 Rule (cidr_l4_combined.yaml)',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "cidr-l4-rule"
spec:
  endpointSelector:
    matchLabels:
      role: crawler
  egress:
  - toCIDR:
    - 192.0.2.0/24
    toPorts:
    - ports:
      - port: "80"
        protocol: TCP
`,
    expected: policy({
      name: 'cidr-l4-rule',
      subject: { namespaces: inNs('default'), pods: labels({ role: 'crawler' }) },
      isolates: ['Egress'],
      egress: [allow(0, [cidr('192.0.2.0/24')], [tcp(80)], { notPeers: NOT_NODES })],
    }),
  },
  {
    name: 'Layer 4 › Limit ICMP/ICMPv6 types (icmp.yaml): numbers and CamelCase names',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "icmp-rule"
spec:
  endpointSelector:
    matchLabels:
      app: myService
  egress:
  - icmps:
    - fields:
      - type: 8
        family: IPv4
      - type: EchoRequest
        family: IPv6
`,
    expected: policy({
      name: 'icmp-rule',
      subject: { namespaces: inNs('default'), pods: labels({ app: 'myService' }) },
      isolates: ['Egress'],
      egress: [
        allow(0, 'any', [
          { kind: 'icmp', family: 4, type: 8 },
          { kind: 'icmp', family: 6, type: 128 },
        ]),
      ],
    }),
  },
  {
    name: 'Layer 7 › HTTP (http.yaml): parsed into Rule.l7, headers included',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "l7-rule"
spec:
  endpointSelector:
    matchLabels:
      app: myService
  ingress:
  - toPorts:
    - ports:
      - port: '80'
        protocol: TCP
      rules:
        http:
        - method: GET
          path: "/path1$"
        - method: PUT
          path: "/path2$"
          headers:
          - 'X-My-Header: true'
`,
    expected: policy({
      name: 'l7-rule',
      subject: { namespaces: inNs('default'), pods: labels({ app: 'myService' }) },
      isolates: ['Ingress'],
      ingress: [
        allow(0, 'any', [tcp(80)], {
          l7: {
            kind: 'http',
            rules: [
              { method: 'GET', path: '/path1$' },
              // pkg/envoy/xds_server.go: "Name: value" asks for that exact value.
              { method: 'PUT', path: '/path2$', headers: [{ name: 'X-My-Header', value: 'true' }] },
            ],
          },
        }),
      ],
    }),
    // HTTP rules are enforced (the node's L7 proxy): no warning.
    warnings: [],
  },
  {
    name: 'Layer 7 › HTTP simple (l7.yaml): GET /public from env=prod',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "rule1"
spec:
  description: "Allow HTTP GET /public from env=prod to app=service"
  endpointSelector:
    matchLabels:
      app: service
  ingress:
  - fromEndpoints:
    - matchLabels:
        env: prod
    toPorts:
    - ports:
      - port: "80"
        protocol: TCP
      rules:
        http:
        - method: "GET"
          path: "/public"
`,
    expected: policy({
      name: 'rule1',
      subject: { namespaces: inNs('default'), pods: labels({ app: 'service' }) },
      isolates: ['Ingress'],
      ingress: [
        allow(0, [pods(inNs('default'), { env: 'prod' })], [tcp(80)], {
          l7: { kind: 'http', rules: [{ method: 'GET', path: '/public' }] },
        }),
      ],
    }),
    // HTTP rules are enforced (the node's L7 proxy): no warning.
    warnings: [],
  },
  {
    name: 'Layer 7 › Kafka (kafka-role.yaml)',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "rule1"
spec:
  endpointSelector:
    matchLabels:
      app: kafka
  ingress:
  - fromEndpoints:
    - matchLabels:
        app: empire-hq
    toPorts:
    - ports:
      - port: "9092"
        protocol: TCP
      rules:
        kafka:
        - role: "produce"
          topic: "deathstar-plans"
        - role: "produce"
          topic: "empire-announce"
`,
    expected: policy({
      name: 'rule1',
      subject: { namespaces: inNs('default'), pods: labels({ app: 'kafka' }) },
      isolates: ['Ingress'],
      ingress: [
        allow(0, [pods(inNs('default'), { app: 'empire-hq' })], [tcp(9092)], {
          l7: {
            kind: 'kafka',
            rules: [
              { role: 'produce', topic: 'deathstar-plans' },
              { role: 'produce', topic: 'empire-announce' },
            ],
          },
        }),
      ],
    }),
    warnings: [['unsupported-value', 'spec.ingress[0].toPorts[0].rules']],
  },
  {
    name: 'Layer 7 › DNS (dns.yaml): any: prefix, protocol ANY, DNS patterns, toFQDNs with toPorts',
    yaml: `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: "tofqdn-dns-visibility"
spec:
  endpointSelector:
    matchLabels:
      any:org: alliance
  egress:
  - toEndpoints:
    - matchLabels:
       "k8s:io.kubernetes.pod.namespace": kube-system
       "k8s:k8s-app": kube-dns
    toPorts:
      - ports:
         - port: "53"
           protocol: ANY
        rules:
          dns:
            - matchName: "cilium.io"
            - matchPattern: "*.cilium.io"
            - matchPattern: "*.api.cilium.io"

  - toFQDNs:
      - matchName: "cilium.io"
      - matchName: "sub.cilium.io"
      - matchName: "service1.api.cilium.io"
      - matchPattern: "special*service.api.cilium.io"
    toPorts:
      - ports:
         - port: "80"
           protocol: TCP
`,
    expected: policy({
      name: 'tofqdn-dns-visibility',
      subject: { namespaces: inNs('default'), pods: labels({ org: 'alliance' }) },
      isolates: ['Egress'],
      egress: [
        allow(0, [pods(nsNamed('kube-system'), { 'k8s-app': 'kube-dns' })], anyProto(53), {
          l7: { kind: 'dns', patterns: ['cilium.io', '*.cilium.io', '*.api.cilium.io'] },
        }),
        allow(
          1,
          ['cilium.io', 'sub.cilium.io', 'service1.api.cilium.io', 'special*service.api.cilium.io'].map(
            (pattern): Peer => ({ kind: 'fqdn', pattern, semantics: 'cilium', matchesPods: false }),
          ),
          [tcp(80)],
        ),
      ],
    }),
    warnings: [
      ['unsupported-value', 'spec.egress[0].toPorts[0].rules'],
      ['unsupported-value', 'spec.egress[1].toFQDNs'],
    ],
  },
  {
    name: 'Kubernetes › Enforce namespace boundaries (isolate-namespaces.yaml)',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "isolate-ns1"
  namespace: ns1
spec:
  endpointSelector:
    matchLabels:
      {}
  ingress:
  - fromEndpoints:
    - matchLabels:
        {}
`,
    expected: policy({
      name: 'isolate-ns1',
      namespace: 'ns1',
      subject: { namespaces: inNs('ns1'), pods: SELECT_ALL },
      isolates: ['Ingress'],
      ingress: [allow(0, [pods(inNs('ns1'))])],
    }),
  },
  {
    name: 'Kubernetes › Expose pods across namespaces (namespace-policy.yaml)',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "k8s-expose-across-namespace"
  namespace: ns1
spec:
  endpointSelector:
    matchLabels:
      name: leia
  ingress:
  - fromEndpoints:
    - matchLabels:
        k8s:io.kubernetes.pod.namespace: ns2
        name: luke
`,
    expected: policy({
      name: 'k8s-expose-across-namespace',
      namespace: 'ns1',
      subject: { namespaces: inNs('ns1'), pods: labels({ name: 'leia' }) },
      isolates: ['Ingress'],
      ingress: [allow(0, [pods(nsNamed('ns2'), { name: 'luke' })])],
    }),
  },
  {
    name: 'Kubernetes › Allow egress to kube-dns in kube-system (kubedns-policy.yaml)',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "allow-to-kubedns"
  namespace: public
spec:
  endpointSelector:
    {}
  egress:
  - toEndpoints:
    - matchLabels:
        k8s:io.kubernetes.pod.namespace: kube-system
        k8s-app: kube-dns
    toPorts:
    - ports:
      - port: '53'
        protocol: UDP
`,
    expected: policy({
      name: 'allow-to-kubedns',
      namespace: 'public',
      subject: { namespaces: inNs('public'), pods: SELECT_ALL },
      isolates: ['Egress'],
      egress: [allow(0, [pods(nsNamed('kube-system'), { 'k8s-app': 'kube-dns' })], [udp(53)])],
    }),
  },
  {
    name: 'Kubernetes › Clusterwide Policies (clusterscope-policy.yaml): peers without a namespace match any namespace',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumClusterwideNetworkPolicy
metadata:
  name: "interns-ns-policy"
spec:
  endpointSelector:
    matchLabels:
      name: leia
  ingress:
  - fromEndpoints:
    - matchLabels:
        name: luke
`,
    expected: policy({
      kind: CCNP,
      name: 'interns-ns-policy',
      subject: { namespaces: ALL_NS, pods: labels({ name: 'leia' }) },
      isolates: ['Ingress'],
      ingress: [allow(0, [pods(ALL_NS, { name: 'luke' })])],
    }),
  },
  {
    name: 'Kubernetes › Allow all ingress to kube-dns (wildcard-from-endpoints.yaml): CCNP subject names its namespace',
    yaml: `
apiVersion: "cilium.io/v2"
kind: CiliumClusterwideNetworkPolicy
description: "Policy for ingress allow to kube-dns from all Cilium managed endpoints in the cluster"
metadata:
  name: "wildcard-from-endpoints"
spec:
  endpointSelector:
    matchLabels:
      k8s:io.kubernetes.pod.namespace: kube-system
      k8s-app: kube-dns
  ingress:
  - fromEndpoints:
    - {}
    toPorts:
    - ports:
      - port: "53"
        protocol: UDP
`,
    expected: policy({
      kind: CCNP,
      name: 'wildcard-from-endpoints',
      subject: { namespaces: nsNamed('kube-system'), pods: labels({ 'k8s-app': 'kube-dns' }) },
      isolates: ['Ingress'],
      ingress: [allow(0, [pods(ALL_NS)], [udp(53)])],
    }),
    // A top-level description is not in the CRD schema: the API server prunes it.
    warnings: [['unknown-field', 'description']],
  },
];

describe('Cilium dialect: documentation examples', () => {
  for (const c of docCases) {
    it(c.name, () => {
      const { value, diagnostics } = load(c.yaml);
      assert.deepEqual(
        diagnostics.map((d) => [d.code, d.path, d.severity]),
        (c.warnings ?? []).map(([code, path]) => [code, path, 'warning']),
      );
      assert.deepEqual(value.policies.map(withoutLines), [c.expected]);
    });
  }
});

describe('Cilium dialect: Kim et al. 2025 Fig. 7 (F)', () => {
  it('policy-f-cilium-http.yaml loads without a diagnostic (HTTP rules are enforced by the L7 proxy)', () => {
    const path = new URL('../../../examples/kim-2025-fig7/l7/policy-f-cilium-http.yaml', import.meta.url);
    const { value, diagnostics } = parseSources([{ file: FILE, text: readFileSync(path, 'utf8') }]);
    assert.deepEqual(
      diagnostics.map((d) => [d.severity, d.path, d.message]),
      [],
    );
    assert.deepEqual(value.policies.map(withoutLines), [
      policy({
        name: 'allow-get-root',
        namespace: 'scenario-d',
        subject: { namespaces: inNs('scenario-d'), pods: labels({ app: 'server' }) },
        isolates: ['Ingress'],
        ingress: [
          allow(0, [pods(inNs('scenario-d'), { app: 'client' })], [tcp(80)], {
            l7: { kind: 'http', rules: [{ method: 'GET', path: '/' }] },
          }),
        ],
      }),
    ]);
  });
});

// ---- semantics beyond the examples ---------------------------------------------------------------

function cnp(spec: string, kind = CNP, metadata = '{name: p, namespace: prod}'): string {
  return `apiVersion: cilium.io/v2\nkind: ${kind}\nmetadata: ${metadata}\nspec: ${spec}\n`;
}

function only(text: string): Policy {
  const { value, diagnostics } = load(text);
  assert.deepEqual(
    diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
  assert.equal(value.policies.length, 1);
  return value.policies[0] as Policy;
}

interface ShapeCase {
  readonly name: string;
  readonly spec: string;
  readonly kind?: string;
  readonly check: (p: Policy) => void;
  readonly diagnostics?: readonly Diag[];
}

const SEL = '{matchLabels: {app: a}}';

const shapeCases: readonly ShapeCase[] = [
  {
    name: 'Deny Policies: ingressDeny alone puts the endpoint into ingress default deny ("as soon as a single policy selects it")',
    spec: `{endpointSelector: ${SEL}, ingressDeny: [{fromEntities: [world]}]}`,
    check: (p) => {
      assert.deepEqual(p.isolates, ['Ingress']);
      assert.deepEqual(p.ingress, [deny(0, [entity('world')])]);
    },
  },
  {
    name: 'Policy Enforcement Modes: enableDefaultDeny false keeps the rules but does not isolate',
    spec: `{endpointSelector: ${SEL}, enableDefaultDeny: {egress: false, ingress: false}, egress: [{toEntities: [world]}]}`,
    check: (p) => {
      assert.deepEqual(p.isolates, []);
      assert.deepEqual(p.egress, [allow(0, [entity('world')])]);
    },
  },
  {
    name: 'Policy Enforcement Modes: enableDefaultDeny true isolates a direction without rules',
    spec: `{endpointSelector: ${SEL}, enableDefaultDeny: {egress: true}, ingress: [{fromEntities: [world]}]}`,
    check: (p) => assert.deepEqual(p.isolates, ['Ingress', 'Egress']),
  },
  {
    name: 'an empty `ingress` list neither allows nor isolates (Rule.Sanitize counts rules), with a warning',
    spec: `{endpointSelector: ${SEL}, ingress: [], egress: [{}]}`,
    check: (p) => assert.deepEqual(p.isolates, ['Egress']),
    diagnostics: [['invalid-value', 'spec.ingress', 'warning']],
  },
  {
    name: 'toPorts entries with different L7 rules become one IR rule each, sharing the written index',
    spec: `{endpointSelector: ${SEL}, ingress: [{fromEndpoints: [{}], toPorts: [
      {ports: [{port: "80", protocol: TCP}], rules: {http: [{path: /a}]}},
      {ports: [{port: "8080", protocol: TCP}]},
      {ports: [{port: "9000", protocol: TCP}], rules: {http: []}}]}]}`,
    check: (p) => {
      const peers = [pods(inNs('prod'))];
      assert.deepEqual(p.ingress, [
        allow(0, peers, [tcp(8080)]),
        allow(0, peers, [tcp(80)], { l7: { kind: 'http', rules: [{ path: '/a' }] } }),
        allow(0, peers, [tcp(9000)], { l7: { kind: 'http', rules: [{}] } }),
      ]);
    },
    // HTTP rules are enforced by the node's L7 proxy: no warning.
    diagnostics: [],
  },
  {
    name: 'ports: named port lower-cased, port "0" means every port, ANY means TCP, UDP and SCTP',
    spec: `{endpointSelector: ${SEL}, egress: [{toPorts: [{ports: [{port: HTTP, protocol: TCP}, {port: "0", protocol: UDP}, {port: 53}]}]}]}`,
    check: (p) =>
      assert.deepEqual(p.egress, [
        allow(0, 'any', [
          { kind: 'named', protocol: 'TCP', name: 'http' },
          { kind: 'protocol', protocol: 'UDP' },
          ...anyProto(53),
        ]),
      ]),
  },
  {
    name: 'reserved: labels in fromEndpoints are entities; k8s: and any: prefixes are stripped',
    spec: `{endpointSelector: {matchLabels: {"k8s:app": a}}, ingress: [{fromEndpoints: [{matchLabels: {"reserved:host": ""}}, {matchExpressions: [{key: "any:tier", operator: In, values: [web]}]}]}]}`,
    check: (p) => {
      assert.deepEqual(p.subject.pods, labels({ app: 'a' }));
      assert.deepEqual(p.ingress, [
        allow(0, [
          entity('host'),
          {
            kind: 'endpoints',
            namespaces: inNs('prod'),
            pods: { kind: 'match', requirements: [{ key: 'tier', op: 'In', values: ['web'] }] },
          },
        ]),
      ]);
    },
  },
  {
    name: 'CCNP: io.cilium.k8s.namespace.labels selects namespaces by label',
    kind: CCNP,
    spec: `{endpointSelector: {}, egress: [{toEndpoints: [{matchLabels: {"io.cilium.k8s.namespace.labels.team": blue}}]}]}`,
    check: (p) =>
      assert.deepEqual(p.egress, [
        allow(0, [pods({ kind: 'selector', selector: labels({ team: 'blue' }) })]),
      ]),
  },
  {
    name: 'CNP: a namespace in the endpointSelector can only narrow the policy namespace (warned)',
    spec: `{endpointSelector: {matchLabels: {"k8s:io.kubernetes.pod.namespace": prod}}, ingress: [{}]}`,
    check: (p) =>
      assert.deepEqual(p.subject.namespaces, {
        kind: 'selector',
        selector: {
          kind: 'match',
          requirements: [
            { key: 'kubernetes.io/metadata.name', op: 'In', values: ['prod'] },
            { key: 'kubernetes.io/metadata.name', op: 'In', values: ['prod'] },
          ],
        },
      }),
    diagnostics: [['invalid-value', 'spec.endpointSelector', 'warning']],
  },
  {
    name: 'entities: health is left out of an allow (narrows it) with a warning; none adds nothing',
    spec: `{endpointSelector: ${SEL}, ingress: [{fromEntities: [health, none, host]}]}`,
    check: (p) => assert.deepEqual(p.ingress, [allow(0, [entity('host')])]),
    diagnostics: [['unsupported-value', 'spec.ingress[0].fromEntities[0]', 'warning']],
  },
  {
    name: 'fromCIDR takes a bare address as a host prefix',
    spec: `{endpointSelector: ${SEL}, ingress: [{fromCIDR: [192.0.2.7, "2001:db8::1"]}]}`,
    check: (p) =>
      assert.deepEqual(p.ingress, [
        allow(0, [cidr('192.0.2.7/32'), cidr('2001:db8::1/128')], 'any', { notPeers: NOT_NODES }),
      ]),
  },
  {
    name: 'an explicit empty peer list selects nothing (warned)',
    spec: `{endpointSelector: ${SEL}, ingress: [{fromEndpoints: []}]}`,
    check: (p) => assert.deepEqual(p.ingress, [allow(0, [])]),
    diagnostics: [['invalid-value', 'spec.ingress[0].fromEndpoints', 'warning']],
  },
  {
    name: 'label keys that are Object.prototype names are ordinary labels',
    spec: `{endpointSelector: {matchLabels: {constructor: x}}, ingress: [{fromEndpoints: [{matchLabels: {toString: y}}]}]}`,
    check: (p) => {
      assert.deepEqual(p.subject.pods, labels({ constructor: 'x' }));
      assert.deepEqual(p.ingress, [allow(0, [pods(inNs('prod'), { toString: 'y' })])]);
    },
  },
  {
    name: 'fromNodes selects nodes by label',
    spec: `{endpointSelector: ${SEL}, ingress: [{fromNodes: [{matchLabels: {"node-role.kubernetes.io/control-plane": ""}}]}]}`,
    check: (p) =>
      assert.deepEqual(p.ingress, [
        allow(0, [{ kind: 'nodes', selector: labels({ 'node-role.kubernetes.io/control-plane': '' }) }]),
      ]),
  },
];

describe('Cilium dialect: semantics', () => {
  for (const c of shapeCases) {
    it(c.name, () => {
      const text = cnp(c.spec, c.kind ?? CNP, c.kind === CCNP ? '{name: p}' : undefined);
      c.check(only(text));
      assert.deepEqual(diagnosticsOf(text), c.diagnostics ?? []);
    });
  }

  it('`spec` keeps the name; each `specs` entry is named <name>[<i>]', () => {
    const r = collectingReporter({ file: FILE, doc: 0 });
    const obj = {
      apiVersion: 'cilium.io/v2',
      kind: CNP,
      metadata: { name: 'multi', namespace: 'prod' },
      spec: { endpointSelector: {}, ingress: [{}] },
      specs: [
        { endpointSelector: { matchLabels: { a: 'b' } }, egress: [{}] },
        { endpointSelector: {}, ingressDeny: [{ fromEntities: ['world'] }] },
      ],
    };
    const policies = ciliumPolicyToIr(obj, CNP, r, { file: FILE, doc: 0 });
    assert.deepEqual(r.diagnostics, []);
    assert.deepEqual(
      policies?.map((p) => [p.ref.name, p.isolates]),
      [
        ['multi', ['Ingress']],
        ['multi[0]', ['Egress']],
        ['multi[1]', ['Ingress']],
      ],
    );
    // Each `specs` entry records which entry of which object it is; `spec` is the object itself.
    assert.deepEqual(
      policies?.map((p) => p.ref.part),
      [
        undefined,
        { name: 'multi', spec: 'specs[0]', index: 0 },
        { name: 'multi', spec: 'specs[1]', index: 1 },
      ],
    );
  });

  it('a single `specs` entry loads through the kind handler', () => {
    const p = only(
      'apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: s, namespace: prod}\nspecs: [{endpointSelector: {}, ingress: [{}]}]\n',
    );
    assert.equal(p.ref.name, 's[0]');
  });
});

interface ErrorCase {
  readonly name: string;
  readonly spec: string;
  readonly kind?: string;
  readonly code: DiagnosticCode;
  readonly path: string;
  /** A piece of the message the user should see. */
  readonly says?: string;
}

const errorCases: readonly ErrorCase[] = [
  {
    name: 'Layer 3 › Additional Label Requirements (requires.yaml): fromRequires cannot be represented',
    spec: `{endpointSelector: {matchLabels: {env: prod}}, ingress: [{fromRequires: [{matchLabels: {env: prod}}]}]}`,
    code: 'unsupported-value',
    path: 'spec.ingress[0].fromRequires',
  },
  {
    name: 'Layer 3 › Services based (service.yaml): toServices is not modelled',
    spec: `{endpointSelector: {matchLabels: {id: app2}}, egress: [{toServices: [{k8sService: {serviceName: myservice, namespace: default}}]}]}`,
    code: 'unsupported-value',
    path: 'spec.egress[0].toServices',
  },
  {
    name: 'L3 members are mutually exclusive: fromEndpoints with fromCIDR is refused by Cilium',
    spec: `{endpointSelector: ${SEL}, ingress: [{fromEndpoints: [{}], fromCIDR: [10.0.0.0/8]}]}`,
    code: 'invalid-value',
    path: 'spec.ingress[0]',
    says: 'combining fromEndpoints and fromCIDR is not supported yet',
  },
  {
    name: 'L3 members are mutually exclusive: toEntities with toFQDNs',
    spec: `{endpointSelector: ${SEL}, egress: [{toEntities: [world], toFQDNs: [{matchName: a.com}]}]}`,
    code: 'invalid-value',
    path: 'spec.egress[0]',
    says: 'combining toEntities and toFQDNs',
  },
  {
    name: 'an entity the IR lacks cannot be left out of a deny rule',
    spec: `{endpointSelector: ${SEL}, ingressDeny: [{fromEntities: [health]}]}`,
    code: 'unsupported-value',
    path: 'spec.ingressDeny[0].fromEntities[0]',
  },
  {
    name: 'an unknown entity is refused',
    spec: `{endpointSelector: ${SEL}, ingress: [{fromEntities: [galaxy]}]}`,
    code: 'unsupported-value',
    path: 'spec.ingress[0].fromEntities[0]',
    says: 'unsupported entity: galaxy',
  },
  {
    name: 'an entity named like an Object.prototype member is still unknown',
    spec: `{endpointSelector: ${SEL}, egress: [{toEntities: [constructor]}]}`,
    code: 'unsupported-value',
    path: 'spec.egress[0].toEntities[0]',
  },
  {
    name: 'CCNP host policies (nodeSelector) are not modelled',
    kind: CCNP,
    spec: `{nodeSelector: {matchLabels: {role: worker}}, ingress: [{fromEntities: [cluster]}]}`,
    code: 'unsupported-value',
    path: 'spec.nodeSelector',
  },
  {
    name: 'a CNP may not use nodeSelector',
    spec: `{nodeSelector: {}, ingress: [{}]}`,
    code: 'unsupported-value',
    path: 'spec.nodeSelector',
    says: 'only be used in a CiliumClusterwideNetworkPolicy',
  },
  {
    name: 'endpointSelector is required',
    spec: `{ingress: [{}]}`,
    code: 'missing-field',
    path: 'spec.endpointSelector',
  },
  {
    name: 'service-account selection is not represented',
    spec: `{endpointSelector: ${SEL}, ingress: [{fromEndpoints: [{matchLabels: {"io.cilium.k8s.policy.serviceaccount": luke}}]}]}`,
    code: 'unsupported-value',
    path: 'spec.ingress[0].fromEndpoints[0].matchLabels',
  },
  {
    name: 'label sources other than k8s/any are refused',
    spec: `{endpointSelector: ${SEL}, ingress: [{fromEndpoints: [{matchExpressions: [{key: "container:x", operator: Exists}]}]}]}`,
    code: 'unsupported-value',
    path: 'spec.ingress[0].fromEndpoints[0].matchExpressions[0].key',
  },
  {
    name: 'a reserved: label mixed with other labels is refused',
    spec: `{endpointSelector: ${SEL}, ingress: [{fromEndpoints: [{matchLabels: {"reserved:host": "", app: x}}]}]}`,
    code: 'unsupported-value',
    path: 'spec.ingress[0].fromEndpoints[0]',
  },
  {
    name: 'CIDRSet except must lie inside the CIDR',
    spec: `{endpointSelector: ${SEL}, egress: [{toCIDRSet: [{cidr: 10.0.0.0/8, except: [192.168.0.0/16]}]}]}`,
    code: 'invalid-value',
    path: 'spec.egress[0].toCIDRSet[0].except[0]',
  },
  {
    name: 'CiliumCIDRGroup references are not modelled',
    spec: `{endpointSelector: ${SEL}, egress: [{toCIDRSet: [{cidrGroupRef: corp}]}]}`,
    code: 'unsupported-value',
    path: 'spec.egress[0].toCIDRSet[0].cidrGroupRef',
  },
  {
    name: 'protocol is case-sensitive in the CRD schema',
    spec: `{endpointSelector: ${SEL}, egress: [{toPorts: [{ports: [{port: "80", protocol: tcp}]}]}]}`,
    code: 'unsupported-value',
    path: 'spec.egress[0].toPorts[0].ports[0].protocol',
  },
  {
    name: 'L7 rules apply to TCP only (except DNS)',
    spec: `{endpointSelector: ${SEL}, ingress: [{toPorts: [{ports: [{port: "80", protocol: UDP}], rules: {http: [{}]}}]}]}`,
    code: 'invalid-value',
    path: 'spec.ingress[0].toPorts[0].rules',
    says: 'TCP',
  },
  {
    name: 'DNS rules are not allowed on ingress',
    spec: `{endpointSelector: ${SEL}, ingress: [{toPorts: [{ports: [{port: "53", protocol: UDP}], rules: {dns: [{matchPattern: "*"}]}}]}]}`,
    code: 'invalid-value',
    path: 'spec.ingress[0].toPorts[0].rules.dns',
  },
  {
    name: 'one L7 protocol per port rule',
    spec: `{endpointSelector: ${SEL}, egress: [{toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{}], kafka: [{}]}}]}]}`,
    code: 'invalid-value',
    path: 'spec.egress[0].toPorts[0].rules',
    says: 'multiple L7 protocol rule types',
  },
  {
    name: 'icmps and toPorts may not share a rule',
    spec: `{endpointSelector: ${SEL}, egress: [{icmps: [{fields: [{type: 8}]}], toPorts: [{ports: [{port: "80"}]}]}]}`,
    code: 'invalid-value',
    path: 'spec.egress[0].icmps',
  },
  {
    name: 'mutual authentication would narrow an allow and is not modelled',
    spec: `{endpointSelector: ${SEL}, ingress: [{fromEndpoints: [{}], authentication: {mode: required}}]}`,
    code: 'unsupported-value',
    path: 'spec.ingress[0].authentication.mode',
  },
];

describe('Cilium dialect: refused constructs', () => {
  for (const c of errorCases) {
    it(c.name, () => {
      const text = cnp(c.spec, c.kind ?? CNP, c.kind === CCNP ? '{name: p}' : undefined);
      const { value, diagnostics } = load(text);
      const errors = diagnostics.filter((d) => d.severity === 'error');
      assert.ok(
        errors.some(
          (d) =>
            d.code === c.code && d.path === c.path && (c.says === undefined || d.message.includes(c.says)),
        ),
        `expected ${c.code} at ${c.path}, got ${JSON.stringify(errors)}`,
      );
      assert.deepEqual(value.policies, []);
    });
  }

  it('an object without spec or specs is refused', () => {
    const { diagnostics } = load(
      'apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: e}\n',
    );
    assert.deepEqual(
      diagnostics.map((d) => [d.code, d.path]),
      [['missing-field', 'spec']],
    );
  });

  it('several specs in one object load as one policy each', () => {
    const { value, diagnostics } = load(
      'apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: m}\nspecs: [{endpointSelector: {}}, {endpointSelector: {}}]\n',
    );
    assert.deepEqual(
      diagnostics.filter((d) => d.severity === 'error'),
      [],
    );
    assert.deepEqual(
      value.policies.map((p) => p.ref.name),
      ['m[0]', 'm[1]'],
    );
  });
});

describe('Cilium dialect: what stays unenforced at L7', () => {
  it('Kafka rules are parsed and reported as not enforced, because Cilium deprecated them', () => {
    const { diagnostics } = parseSources([{ file: FILE, text: KAFKA_DOC }]);
    assert.deepEqual(
      diagnostics.map((d) => [d.path, d.severity]),
      [['spec.ingress[0].toPorts[0].rules', 'warning']],
    );
    assert.match(
      diagnostics[0]?.message ?? '',
      /Kafka rules are not enforced \(Cilium deprecated Kafka policy\)/,
    );
  });
  it('a headerMatches REPLACE is decided but not rewritten: said where it is written', () => {
    const doc = KAFKA_DOC.replace(
      'kafka: [{role: produce, topic: t}]',
      'http: [{method: GET, headerMatches: [{name: X-A, value: "1", mismatch: REPLACE}]}]',
    );
    const { diagnostics } = parseSources([{ file: FILE, text: doc }]);
    assert.deepEqual(
      diagnostics.map((d) => d.path),
      ['spec.ingress[0].toPorts[0].rules.http[0].headerMatches[0].mismatch'],
    );
    assert.match(diagnostics[0]?.message ?? '', /REPLACE header action is decided .* does not rewrite/);
  });
});

const KAFKA_DOC = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: kafka, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: kafka}}
  ingress:
    - toPorts:
        - ports: [{port: "9092", protocol: TCP}]
          rules:
            kafka: [{role: produce, topic: t}]
`;
