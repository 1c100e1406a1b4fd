import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterNode, Endpoint } from '../../src/ir/endpoint.js';
import { renderPlan } from '../../src/lab/ip-script.js';
import type { LabInput, LabPlan, PlanProblemCode, Routing } from '../../src/lab/topology.js';
import { labIdOfNetns } from '../../src/lab/lab-id.js';
import { MAX_NAME, planLab, shortName, tryPlanLab } from '../../src/lab/topology.js';

function node(name: string, tweak: Partial<ClusterNode> = {}): ClusterNode {
  return { name, labels: {}, ips: [], podCIDRs: [], ...tweak };
}

function pod(
  ns: string,
  name: string,
  nodeName: string | undefined,
  tweak: Partial<Endpoint> = {},
): Endpoint {
  return {
    namespace: ns,
    name,
    labels: {},
    namespaceLabels: {},
    ...(nodeName === undefined ? {} : { node: nodeName }),
    ips: [],
    ports: [{ port: 80, protocol: 'TCP' }],
    hostNetwork: false,
    ...tweak,
  };
}

function threeNodes(routing: Routing): LabInput {
  const nodes = ['node-a', 'node-b', 'node-c'].map((n) => node(n));
  const endpoints = nodes.flatMap((n, i) => [
    pod('default', `p${i}a`, n.name),
    pod('other', `p${i}b`, n.name),
  ]);
  return { nodes, endpoints, routing };
}

/** All names a plan gives the kernel, per netns they live in. */
function namesByNetns(plan: LabPlan): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (netns: string, name: string) => out.set(netns, [...(out.get(netns) ?? []), name]);
  for (const l of plan.links) {
    add(l.netns, l.name);
    if (l.kind === 'veth') add(l.peer.netns, l.peer.name);
  }
  return out;
}

void describe('planLab names', () => {
  const cases: { name: string; input: LabInput }[] = [
    { name: 'three short-named nodes, native', input: threeNodes('native') },
    { name: 'three short-named nodes, vxlan', input: threeNodes('vxlan') },
    {
      name: 'long node and pod names are hashed',
      input: {
        routing: 'vxlan',
        nodes: [node('a-very-long-node-name-indeed'), node('Node_With_Caps')],
        endpoints: Array.from({ length: 300 }, (_, i) =>
          pod(`namespace-with-a-long-name-${i % 7}`, `pod-with-an-even-longer-name-${i}`, undefined),
        ),
      },
    },
  ];
  for (const c of cases) {
    void it(`${c.name}: links fit IFNAMSIZ, netns carry the lab id, all are unique`, () => {
      const plan = planLab(c.input, 't-0a1b2c');
      for (const l of plan.links) {
        assert.ok(l.name.length <= MAX_NAME, `${l.name} is longer than ${MAX_NAME}`);
        assert.ok(l.name.startsWith('pal-'), `${l.name} lacks the pal- prefix`);
      }
      for (const n of plan.netns) {
        assert.equal(labIdOfNetns(n), 't-0a1b2c', `${n} names its lab`);
        // pal-probe keeps netns names in 64-byte buffers.
        assert.ok(n.length < 64, `${n} is too long for pal-probe`);
      }
      assert.equal(new Set(plan.netns).size, plan.netns.length, 'netns names are unique');
      for (const [netns, names] of namesByNetns(plan)) {
        assert.equal(new Set(names).size, names.length, `link names in ${netns} are unique`);
      }
      const ids = plan.pods.flatMap((p) => (p.containerId === undefined ? [] : [p.containerId]));
      assert.equal(new Set(ids).size, ids.length, 'CNI container ids are unique');
      for (const id of ids) assert.match(id, /^pal-t-0a1b2c-[0-9a-f]{16}$/, 'a container id names its lab');
    });
  }

  void it('is deterministic and independent of endpoint order', () => {
    const input = threeNodes('native');
    const a = planLab(input);
    const b = planLab({ ...input, endpoints: [...input.endpoints].reverse() });
    assert.deepEqual(a, b);
  });

  const naming: { name: string; prefix: string; key: string; expect: RegExp }[] = [
    { name: 'short lowercase key stays readable', prefix: 'pal-n', key: 'node-a', expect: /^pal-n-node-a$/ },
    {
      name: 'key that does not fit is hashed',
      prefix: 'pal-n',
      key: 'node-aaaaaaaaaa',
      expect: /^pal-n[0-9a-f]{10}$/,
    },
    { name: 'key with capitals is hashed', prefix: 'pal-u', key: 'Node', expect: /^pal-u[0-9a-f]{10}$/ },
  ];
  for (const c of naming) {
    void it(`shortName: ${c.name}`, () => assert.match(shortName(c.prefix, c.key), c.expect));
  }
});

void describe('planLab addresses', () => {
  void it('allocates pod IPs from the node pod CIDR, skipping declared ones and the network address', () => {
    const plan = planLab({
      routing: 'native',
      nodes: [node('n1', { podCIDRs: ['10.1.0.0/24'] })],
      endpoints: [pod('a', 'x', 'n1'), pod('a', 'y', 'n1', { ips: ['10.1.0.1'] }), pod('a', 'z', 'n1')],
    });
    assert.deepEqual(
      plan.pods.map((p) => [p.key, p.ip]),
      [
        ['a/x', '10.1.0.2'],
        ['a/y', '10.1.0.1'],
        ['a/z', '10.1.0.3'],
      ],
    );
  });

  void it('gives nodes without podCIDRs 10.244.<i>.0/24 and keeps declared InternalIPs', () => {
    const plan = planLab({
      routing: 'native',
      nodes: [node('n1', { ips: ['192.168.7.1'] }), node('n2')],
      endpoints: [pod('a', 'x', 'n2')],
    });
    assert.deepEqual(
      plan.nodes.map((n) => [n.name, n.ip, n.podCidr]),
      [
        ['n1', '192.168.7.1', '10.244.0.0/24'],
        ['n2', '10.255.0.1', '10.244.1.0/24'],
      ],
    );
    assert.equal(plan.pods[0]?.ip, '10.244.1.1');
  });

  void it('puts a host-network pod in its node netns with the node IP and no veth', () => {
    const plan = planLab({
      routing: 'native',
      nodes: [node('n1', { ips: ['10.0.9.9'] })],
      endpoints: [pod('kube-system', 'agent', 'n1', { hostNetwork: true })],
    });
    const [p] = plan.pods;
    const [n] = plan.nodes;
    assert.ok(p && n);
    assert.deepEqual([p.netns, p.ip, p.containerId], [n.netns, '10.0.9.9', undefined]);
    assert.equal(plan.netns.length, 2, 'only fabric and node netns');
  });

  const problems: { name: string; input: LabInput; code: PlanProblemCode }[] = [
    {
      name: 'declared IP outside the node pod CIDR',
      input: {
        routing: 'native',
        nodes: [node('n1', { podCIDRs: ['10.1.0.0/24'] })],
        endpoints: [pod('a', 'x', 'n1', { ips: ['10.2.0.5'] })],
      },
      code: 'ip-outside-pod-cidr',
    },
    {
      name: 'two pods declaring one IP',
      input: {
        routing: 'native',
        nodes: [node('n1', { podCIDRs: ['10.1.0.0/24'] })],
        endpoints: [pod('a', 'x', 'n1', { ips: ['10.1.0.5'] }), pod('a', 'y', 'n1', { ips: ['10.1.0.5'] })],
      },
      code: 'duplicate-ip',
    },
    {
      name: 'pod on an undeclared node',
      input: { routing: 'native', nodes: [node('n1')], endpoints: [pod('a', 'x', 'nope')] },
      code: 'unknown-node',
    },
    {
      name: 'overlapping pod CIDRs',
      input: {
        routing: 'native',
        nodes: [node('n1', { podCIDRs: ['10.1.0.0/16'] }), node('n2', { podCIDRs: ['10.1.2.0/24'] })],
        endpoints: [],
      },
      code: 'overlapping-pod-cidr',
    },
    {
      name: 'more pods than a /30 holds',
      input: {
        routing: 'native',
        nodes: [node('n1', { podCIDRs: ['10.1.0.0/30'] })],
        endpoints: [pod('a', 'x', 'n1'), pod('a', 'y', 'n1'), pod('a', 'z', 'n1')],
      },
      code: 'pod-cidr-exhausted',
    },
    { name: 'no nodes at all', input: { routing: 'native', nodes: [], endpoints: [] }, code: 'no-nodes' },
  ];
  for (const c of problems) {
    void it(`rejects ${c.name}`, () => {
      const r = tryPlanLab(c.input);
      assert.equal(r.ok, false);
      assert.deepEqual(r.ok ? [] : r.problems.map((p) => p.code), [c.code]);
      assert.throws(() => planLab(c.input), /cannot plan the lab/);
    });
  }
});

void describe('planLab routes', () => {
  const routesIn = (plan: LabPlan, netns: string) =>
    plan.routes.filter((r) => r.netns === netns).map((r) => `${r.dst} ${r.via ?? '-'} ${r.dev ?? r.type}`);

  void it('pods: a netns and nothing else, the CNI plugin wires them (and turns forwarding on)', () => {
    const plan = planLab(threeNodes('native'));
    const p = plan.pods[0];
    const n = plan.nodes.find((x) => x.name === p?.node);
    assert.ok(p && n && p.containerId);
    assert.ok(plan.netns.includes(p.netns));
    assert.deepEqual(routesIn(plan, p.netns), []);
    const inPod = (x: { netns: string }): boolean => x.netns === p.netns;
    assert.deepEqual([plan.addresses.filter(inPod), plan.neighbors.filter(inPod)], [[], []]);
    assert.ok(!plan.links.some((l) => l.kind === 'veth' && l.peer.netns === p.netns), 'no veth to the pod');
    assert.ok(!routesIn(plan, n.netns).some((r) => r.startsWith(`${p.ip}/32`)), 'no host route to the pod');
    assert.ok(!plan.sysctls.some((s) => s.key === 'net.ipv4.ip_forward'), "forwarding is the plugin's");
    const lines = renderPlan(plan)
      .flat()
      .flatMap((b) => (b.netns === p.netns ? b.lines : b.lines.filter((l) => l.includes(p.netns))))
      .filter((l) => l !== `netns add ${p.netns}`);
    assert.deepEqual(
      lines,
      [`netns exec ${p.netns} sysctl -q -w net.ipv4.icmp_ratemask=0`],
      "only the runtime's sysctl in the pod netns",
    );
  });

  void it('asks the plugin for the MTU the underlay leaves pods', () => {
    assert.deepEqual(
      [planLab(threeNodes('native')).podMtu, planLab(threeNodes('vxlan')).podMtu],
      [1500, 1450],
    );
  });

  const modes: { routing: Routing; expect: (plan: LabPlan) => string[] }[] = [
    { routing: 'native', expect: (plan) => plan.nodes.slice(1).map((o) => `${o.podCidr} ${o.ip} pal-up0`) },
    {
      routing: 'vxlan',
      expect: (plan) => plan.nodes.slice(1).map((o) => `${o.podCidr} ${o.vxlan?.vtepIp ?? '?'} pal-vx0`),
    },
  ];
  for (const m of modes) {
    void it(`${m.routing}: a node routes every other node's pod CIDR`, () => {
      const plan = planLab(threeNodes(m.routing));
      const first = plan.nodes[0];
      assert.ok(first);
      const podCidrRoutes = routesIn(plan, first.netns).filter(
        (r) => r.startsWith('10.244.') && !r.includes('/32'),
      );
      assert.deepEqual(podCidrRoutes, [`${first.podCidr} - blackhole`, ...m.expect(plan)]);
      const fdb = plan.fdb.filter((f) => f.netns === first.netns).map((f) => f.dst);
      assert.deepEqual(fdb, m.routing === 'vxlan' ? plan.nodes.slice(1).map((o) => o.ip) : []);
    });
  }

  void it('renders creation before configuration and configures every fabric and node netns', () => {
    const plan = planLab(threeNodes('vxlan'));
    const phases = renderPlan(plan);
    assert.deepEqual(
      phases[0]?.[0]?.lines,
      plan.netns.map((n) => `netns add ${n}`),
    );
    const configured = new Set(
      phases
        .at(-1)
        ?.filter((b) => b.tool === 'ip')
        .map((b) => b.netns),
    );
    for (const n of [plan.fabric.netns, ...plan.nodes.map((x) => x.netns)]) {
      assert.ok(configured.has(n), `${n} configured`);
    }
    for (const p of plan.pods) assert.ok(!configured.has(p.netns), `${p.netns} is left to the plugin`);
    const vxlanAdd = phases[3]?.flatMap((b) => b.lines).filter((l) => l.includes('type vxlan'));
    assert.equal(vxlanAdd?.length, 3);
  });
});
