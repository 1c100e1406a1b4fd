import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Cluster, Endpoint } from '../../src/ir/endpoint.js';
import { bindCluster, labCluster } from '../../src/lab/cluster.js';
import { isLabId, labIdOfNetns, labNetnsName, netnsInScope } from '../../src/lab/lab-id.js';
import { planLab, tryPlanLab } from '../../src/lab/topology.js';

void describe('lab ids', () => {
  const ids: { id: string; ok: boolean }[] = [
    { id: 'default', ok: true },
    { id: 't-3f9a01', ok: true },
    { id: 'a', ok: true },
    { id: 'x'.repeat(32), ok: true },
    { id: 'x'.repeat(33), ok: false },
    { id: 'has.dot', ok: false },
    { id: '-lead', ok: false },
    { id: 'trail-', ok: false },
    { id: 'Upper', ok: false },
    { id: '', ok: false },
  ];
  for (const c of ids) {
    void it(`"${c.id}" is ${c.ok ? '' : 'not '}a lab id`, () => assert.equal(isLabId(c.id), c.ok));
  }

  void it('a netns name belongs to exactly one lab, even when one id prefixes another', () => {
    assert.equal(labIdOfNetns(labNetnsName('t-1', 'fabric')), 't-1');
    assert.equal(labIdOfNetns(labNetnsName('t-1-x', 'fabric')), 't-1-x');
    assert.equal(netnsInScope('pal-t-1-x.fabric', { id: 't-1' }), false);
    assert.equal(netnsInScope('pal-t-1.n-node-1', { id: 't-1' }), true);
  });

  void it('names that are not `pal-<id>.<what>` belong to no lab but fall under `all`', () => {
    for (const n of ['pal-fabric', 'pal-dp-abc123-n', 'pal-.x', 'pal-t-1.', 'other.x']) {
      assert.equal(labIdOfNetns(n), undefined, n);
      assert.equal(netnsInScope(n, { id: 'fabric' }), false, n);
    }
    assert.equal(netnsInScope('pal-dp-abc123-n', { all: true }), true);
    assert.equal(netnsInScope('other.x', { all: true }), false);
  });

  void it('planLab refuses a bad id with a diagnostic', () => {
    const r = tryPlanLab({ routing: 'native', nodes: [], endpoints: [] }, 'Bad.Id');
    assert.deepEqual(r.ok ? [] : r.problems.map((p) => p.code), ['bad-lab-id']);
  });
});

function pod(namespace: string, name: string, tweak: Partial<Endpoint> = {}): Endpoint {
  return {
    namespace,
    name,
    labels: {},
    namespaceLabels: { 'kubernetes.io/metadata.name': namespace },
    ips: [],
    ports: [{ port: 80, protocol: 'TCP' }],
    hostNetwork: false,
    ...tweak,
  };
}

void describe('lab cluster', () => {
  const nodes = [
    { name: 'n1', labels: {}, ips: ['10.244.2.5'], podCIDRs: ['10.244.1.0/24'] },
    { name: 'n2', labels: {}, ips: [], podCIDRs: ['10.244.2.0/24'] },
  ];
  const input = {
    routing: 'native' as const,
    nodes,
    endpoints: [
      pod('a', 'declared', { node: 'n1', ips: ['10.244.1.7', 'fd00::7'] }),
      pod('a', 'allocated', { node: 'n2' }),
      pod('a', 'unscheduled'),
      pod('a', 'host', { node: 'n1', hostNetwork: true }),
    ],
  };
  const plan = planLab(input, 't-unit');
  const lab = labCluster(input, plan);

  void it("carries the lab's final addresses: allocated pod IPs, moved node IPs, IPv4 only", () => {
    const ips = Object.fromEntries(lab.endpoints.map((e) => [e.name, [e.node, ...e.ips]]));
    assert.deepEqual(ips, {
      declared: ['n1', '10.244.1.7'],
      allocated: ['n2', '10.244.2.1'],
      unscheduled: ['n1', '10.244.1.1'],
      // n1's declared InternalIP lies in n2's pod CIDR, so the lab moved it to the fallback range.
      host: ['n1', '10.255.0.1'],
    });
    assert.deepEqual(
      lab.nodes.map((n) => n.ips),
      [['10.255.0.1'], ['10.255.0.2']],
    );
    assert.deepEqual(
      lab.namespaces.map((n) => n.name),
      ['a'],
    );
  });

  void it('binds manifests to the lab: lab addresses, plus the lab pods the manifests omit', () => {
    const given: Cluster = {
      namespaces: [{ name: 'a', labels: { team: 'x' } }],
      nodes: [nodes[0] as Cluster['nodes'][number]],
      endpoints: [pod('a', 'allocated', { labels: { app: 'web' } })],
    };
    const r = bindCluster(given, lab);
    assert.ok(r.ok);
    const e = r.cluster.endpoints[0];
    assert.deepEqual(
      [e?.name, e?.node, e?.ips, e?.labels],
      ['allocated', 'n2', ['10.244.2.1'], { app: 'web' }],
    );
    assert.deepEqual(r.cluster.endpoints.map((x) => x.name).sort(), [
      'allocated',
      'declared',
      'host',
      'unscheduled',
    ]);
    assert.deepEqual(
      r.cluster.nodes.map((n) => [n.name, ...n.ips]),
      [
        ['n1', '10.255.0.1'],
        ['n2', '10.255.0.2'],
      ],
    );
    assert.deepEqual(r.cluster.namespaces, given.namespaces);
  });

  void it('refuses manifests with pods or nodes the lab does not have, or has elsewhere', () => {
    const r = bindCluster(
      {
        namespaces: [],
        nodes: [{ name: 'n9', labels: {}, ips: [], podCIDRs: [] }],
        endpoints: [pod('a', 'ghost'), pod('a', 'declared', { node: 'n2' })],
      },
      lab,
    );
    assert.deepEqual(r.ok ? [] : r.problems.map((p) => `${p.code} ${p.subject}`), [
      'pod-not-in-lab a/ghost',
      'pod-moved a/declared',
      'node-not-in-lab n9',
    ]);
  });
});
