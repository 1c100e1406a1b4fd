import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { namespaceToIr, nodeToIr, podToIr } from '../../src/dialects/k8s-core.js';
import { collectingReporter, type Reporter } from '../../src/dialects/report.js';
import type { Obj } from '../../src/dialects/fields.js';

function run<T>(convert: (o: Obj, r: Reporter) => T, text: string) {
  const r = collectingReporter({ file: 'c.yaml', doc: 0 });
  const value = convert(parse(text) as Obj, r);
  return { value, diagnostics: r.diagnostics };
}

void describe('Namespace', () => {
  void it('adds the automatic name label, overriding a forged one', () => {
    const { value, diagnostics } = run(
      namespaceToIr,
      'metadata: {name: prod, labels: {team: a, kubernetes.io/metadata.name: other}}',
    );
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(value, { name: 'prod', labels: { team: 'a', 'kubernetes.io/metadata.name': 'prod' } });
  });
  void it('rejects a name that is not a DNS label', () => {
    const { value, diagnostics } = run(namespaceToIr, 'metadata: {name: a.b}');
    assert.equal(value, undefined);
    assert.deepEqual(
      diagnostics.map((d) => [d.code, d.path]),
      [['invalid-value', 'metadata.name']],
    );
  });
});

void describe('Pod', () => {
  void it('applies the defaults: namespace, service account, no IP, no ports', () => {
    const { value, diagnostics } = run(podToIr, 'metadata: {name: p}\nspec: {containers: [{name: c}]}');
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(value, {
      namespace: 'default',
      name: 'p',
      labels: {},
      namespaceLabels: {},
      serviceAccount: 'default',
      ips: [],
      ports: [],
      hostNetwork: false,
    });
  });

  void it('reads node, host network, service account, labels, ports and IPs', () => {
    const { value, diagnostics } = run(
      podToIr,
      `
metadata: {name: web-0, namespace: prod, labels: {app: web}}
spec:
  nodeName: n1
  hostNetwork: true
  serviceAccountName: web
  containers:
  - ports: [{containerPort: 80, name: http}, {containerPort: 53, protocol: UDP}]
  - ports: [{containerPort: 9090, name: metrics, protocol: SCTP}]
status:
  podIP: 10.0.0.7
  podIPs: [{ip: 10.0.0.7}, {ip: "2001:DB8:0::7"}]
`,
    );
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(value, {
      namespace: 'prod',
      name: 'web-0',
      labels: { app: 'web' },
      namespaceLabels: {},
      serviceAccount: 'web',
      node: 'n1',
      ips: ['10.0.0.7', '2001:db8::7'],
      ports: [
        { name: 'http', port: 80, protocol: 'TCP' },
        { port: 53, protocol: 'UDP' },
        { name: 'metrics', port: 9090, protocol: 'SCTP' },
      ],
      hostNetwork: true,
    });
  });

  const bad: readonly { name: string; text: string; code: string; path: string }[] = [
    {
      name: 'invalid pod IP',
      text: 'metadata: {name: p}\nstatus: {podIP: 10.0.0.256}',
      code: 'invalid-value',
      path: 'status.podIP',
    },
    {
      name: 'invalid podIPs entry',
      text: 'metadata: {name: p}\nstatus: {podIPs: [{ip: 10.0.0.1}, {ip: nope}]}',
      code: 'invalid-value',
      path: 'status.podIPs[1].ip',
    },
    {
      name: 'containerPort 0',
      text: 'metadata: {name: p}\nspec: {containers: [{ports: [{containerPort: 0}]}]}',
      code: 'invalid-value',
      path: 'spec.containers[0].ports[0].containerPort',
    },
    {
      name: 'containerPort missing',
      text: 'metadata: {name: p}\nspec: {containers: [{ports: [{name: http}]}]}',
      code: 'missing-field',
      path: 'spec.containers[0].ports[0].containerPort',
    },
    {
      name: 'containerPort not an integer',
      text: 'metadata: {name: p}\nspec: {containers: [{ports: [{containerPort: "80"}]}]}',
      code: 'invalid-type',
      path: 'spec.containers[0].ports[0].containerPort',
    },
    {
      name: 'unsupported protocol',
      text: 'metadata: {name: p}\nspec: {containers: [{}, {ports: [{containerPort: 1, protocol: ICMP}]}]}',
      code: 'unsupported-value',
      path: 'spec.containers[1].ports[0].protocol',
    },
    {
      name: 'port name not an IANA service name',
      text: 'metadata: {name: p}\nspec: {containers: [{ports: [{containerPort: 1, name: Web_UI}]}]}',
      code: 'invalid-value',
      path: 'spec.containers[0].ports[0].name',
    },
    {
      name: 'port name repeated in a container',
      text: 'metadata: {name: p}\nspec: {containers: [{ports: [{containerPort: 1, name: a}, {containerPort: 2, name: a}]}]}',
      code: 'duplicate',
      path: 'spec.containers[0].ports[1].name',
    },
    {
      name: 'hostNetwork not a boolean',
      text: 'metadata: {name: p}\nspec: {hostNetwork: "yes"}',
      code: 'invalid-type',
      path: 'spec.hostNetwork',
    },
    {
      name: 'pod name upper case',
      text: 'metadata: {name: P}',
      code: 'invalid-value',
      path: 'metadata.name',
    },
    {
      name: 'label value not a string',
      text: 'metadata: {name: p, labels: {v: 2}}',
      code: 'invalid-type',
      path: 'metadata.labels',
    },
  ];
  for (const c of bad) {
    void it(`rejects: ${c.name}`, () => {
      const { value, diagnostics } = run(podToIr, c.text);
      assert.equal(value, undefined);
      assert.ok(
        diagnostics.some((d) => d.code === c.code && d.path === c.path && d.severity === 'error'),
        JSON.stringify(diagnostics),
      );
    });
  }
});

void describe('Node', () => {
  void it('reads InternalIP then ExternalIP, skips host names, canonicalises pod CIDRs', () => {
    const { value, diagnostics } = run(
      nodeToIr,
      `
metadata: {name: n1, labels: {zone: a}}
spec: {podCIDR: 10.244.1.9/24, podCIDRs: [10.244.1.0/24, "fd00:0:0:1::/64"]}
status:
  addresses:
  - {type: ExternalIP, address: 203.0.113.5}
  - {type: Hostname, address: n1}
  - {type: InternalIP, address: 192.168.1.10}
`,
    );
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(value, {
      name: 'n1',
      labels: { zone: 'a' },
      ips: ['192.168.1.10', '203.0.113.5'],
      podCIDRs: ['10.244.1.0/24', 'fd00:0:0:1::/64'],
    });
  });
  void it('rejects an invalid InternalIP and an invalid pod CIDR', () => {
    const { value, diagnostics } = run(
      nodeToIr,
      'metadata: {name: n1}\nspec: {podCIDRs: [10.0.0.0/40]}\nstatus: {addresses: [{type: InternalIP, address: x}]}',
    );
    assert.equal(value, undefined);
    assert.deepEqual(
      diagnostics.map((d) => [d.code, d.path]),
      [
        ['invalid-value', 'status.addresses[0].address'],
        ['invalid-value', 'spec.podCIDRs[0]'],
      ],
    );
  });
});
