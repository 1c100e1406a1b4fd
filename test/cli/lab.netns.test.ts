// Needs root, `ip netns` and nft: drives the real `palisade lab` CLI end to end (daemon and all) on a lab
// with a random id, so that parallel runs never touch each other's labs.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { labDown } from '../../src/lab/fabric.js';
import { labSkipReason } from '../lab/proof-support.js';
import type { Matrix, Run } from './lab-cli-support.js';
import { assertSameAsAnalyzer, cellKey, leftovers, ok, palisade } from './lab-cli-support.js';

const skip = await labSkipReason();

const CLUSTER = `
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec:
  nodeName: n1
  containers: [{name: c, image: i, ports: [{name: http, containerPort: 80}, {containerPort: 53, protocol: UDP}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x}
spec:
  nodeName: n2
  containers: [{name: c, image: i, ports: [{name: http, containerPort: 80}, {containerPort: 53, protocol: UDP}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: y}
spec:
  nodeName: n1
  containers: [{name: c, image: i, ports: [{name: http, containerPort: 80}, {containerPort: 53, protocol: UDP}]}]
`;

const DENY = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {web: "yes"}}}], ports: [{port: http}]}]
`;

// The List item's pod claims an address outside n1's pod CIDR: the error must name file, doc and path.
const BAD = `
apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.1.0.0/24}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a, namespace: x}
  spec: {nodeName: n1, containers: [{name: c, image: i}]}
  status: {podIP: 10.2.0.5}
`;

const newId = (): string => `t-${randomBytes(4).toString('hex')}`;

describe('palisade lab (CLI, daemon, real packets)', { skip }, () => {
  const id = newId();
  const ids = [id];
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pal-lab-cli-'));
    await writeFile(join(dir, 'cluster.yaml'), CLUSTER);
    await writeFile(join(dir, 'deny.yaml'), DENY);
    await writeFile(join(dir, 'bad.yaml'), BAD);
  });
  after(async () => {
    for (const i of ids) await labDown({ id: i });
    await rm(dir, { recursive: true, force: true });
  });

  // A killed test run must not leave its labs running: they go down once this process is gone.
  const watch = ['--watch-pid', String(process.pid)];
  const lab = (...args: string[]): Run => palisade(['lab', ...args, '--id', id], dir);
  const probe = (): Matrix =>
    JSON.parse(ok(lab('probe', '-o', 'json', '--timeout-ms', '500'), 'probe')) as Matrix;
  const analyze = (...files: string[]): Matrix =>
    JSON.parse(
      ok(palisade(['analyze', 'matrix', '-o', 'json', ...files.flatMap((f) => ['-f', f])], dir), 'analyze'),
    ) as Matrix;

  it('lab up builds 2 nodes and 3 pods from spec.nodeName and returns once the daemon is ready', () => {
    const out = ok(lab('up', '-f', 'cluster.yaml', ...watch), 'lab up');
    assert.match(out, /2 node\(s\), 3 pod\(s\), 0 policies/);
    const again = lab('up', '-f', 'cluster.yaml', ...watch);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already up/);
  });

  it('lab probe prints the analyzer JSON shape plus result and self marks, and equals it', () => {
    const m = probe();
    assert.deepEqual(Object.keys(m), ['pods', 'results']);
    assert.deepEqual(m.pods, ['x/a', 'x/b', 'y/c']);
    assert.equal(m.results.length, 2 * 3 * 3);
    for (const c of m.results) {
      const keys = [
        'from',
        'to',
        'port',
        'protocol',
        'allowed',
        'result',
        ...(c.from === c.to ? ['self'] : []),
      ];
      assert.deepEqual(Object.keys(c), keys);
      assert.equal(c.self, c.from === c.to ? true : undefined);
      assert.equal(c.result, 'ok', cellKey(c));
    }
    assertSameAsAnalyzer(m, analyze('cluster.yaml'));
    const table = ok(lab('probe', '--ports', '80'), 'probe table');
    assert.equal(
      table,
      ok(palisade(['analyze', 'matrix', '-f', 'cluster.yaml', '--ports', '80'], dir), 'analyze'),
    );
  });

  it('lab apply of a default deny shows denials, equal to analyze matrix on the same files', () => {
    const out = ok(lab('apply', '-f', 'deny.yaml'), 'apply');
    assert.match(out, /created NetworkPolicy x\/default-deny/);
    assert.match(out, /enforced revision \d+ with nftables/);
    const m = probe();
    const denied = m.results.filter((c) => !c.allowed);
    assert.ok(denied.length >= 6, `expected denials, got ${denied.length}`);
    for (const c of denied) assert.equal(c.result, 'timeout', cellKey(c));
    assertSameAsAnalyzer(m, analyze('cluster.yaml', 'deny.yaml'));
  });

  it('lab label re-enforces: labeling x/b web=yes lets it reach x/a on http only', () => {
    const cell = (m: Matrix, port: number) =>
      m.results.find((c) => c.from === 'x/b' && c.to === 'x/a' && c.port === port)?.allowed;
    assert.equal(cell(probe(), 80), false);
    const out = ok(lab('label', 'pod', 'x/b', 'web=yes'), 'label');
    assert.match(out, /Pod x\/b labeled web=yes/);
    const m = probe();
    assert.equal(cell(m, 80), true);
    assert.equal(cell(m, 53), false);
    const bad = lab('label', 'pod', 'x/nope', 'a=b');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /no pod x\/nope/);
  });

  it('lab delete removes the policies and everything is allowed again', () => {
    assert.match(ok(lab('delete', '-f', 'deny.yaml'), 'delete'), /deleted NetworkPolicy x\/allow-web/);
    assert.ok(probe().results.every((c) => c.allowed));
  });

  it('lab status reports nodes, pods, policies, datapath and kernel state', () => {
    ok(lab('apply', '-f', 'deny.yaml'), 'apply');
    const s = JSON.parse(ok(lab('status', '-o', 'json'), 'status')) as {
      pid: number;
      datapath: string;
      nodes: { name: string; kernel: { chains: number } }[];
      pods: { pod: string; node: string; ip: string; ports: string[] }[];
      policies: { dialect: string; name: string }[];
    };
    assert.equal(s.datapath, 'nftables');
    assert.deepEqual(
      s.nodes.map((n) => n.name),
      ['n1', 'n2'],
    );
    for (const n of s.nodes) assert.ok(n.kernel.chains > 0, `${n.name} has no chains`);
    assert.deepEqual(
      s.pods.map((p) => [p.pod, p.node]),
      [
        ['x/a', 'n1'],
        ['x/b', 'n2'],
        ['y/c', 'n1'],
      ],
    );
    assert.deepEqual(s.pods[0]?.ports, ['http:80/TCP', '53/UDP']);
    assert.deepEqual(s.policies.map((p) => p.name).sort(), ['allow-web', 'default-deny']);
    assert.match(ok(lab('status'), 'status table'), /NODES[\s\S]*PODS[\s\S]*POLICIES/);
  });

  it('lab down removes every pal- object of the lab, and is idempotent', async () => {
    assert.match(ok(lab('down'), 'down'), /is down/);
    assert.deepEqual(await leftovers(id), []);
    assert.match(ok(lab('down'), 'down again'), /nothing to remove/);
    const gone = lab('probe');
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no lab .* is running/);
  });

  it('a bad manifest exits 1 naming file, doc and path, and leaves nothing behind', async () => {
    const bad = newId();
    ids.push(bad);
    const r = palisade(['lab', 'up', '--id', bad, '-f', 'bad.yaml', ...watch], dir);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /bad\.yaml \(doc 1\): items\[0\]\.status\.podIP: IP 10\.2\.0\.5 is outside node n1's pod CIDR/,
    );
    assert.deepEqual(await leftovers(bad), []);
  });

  it('lab down cleans up after the daemon was killed with SIGKILL', async () => {
    const killed = newId();
    ids.push(killed);
    ok(
      palisade(['lab', 'up', '--id', killed, '-f', 'cluster.yaml', '--routing', 'vxlan', ...watch], dir),
      'up',
    );
    const s = JSON.parse(ok(palisade(['lab', 'status', '--id', killed, '-o', 'json'], dir), 'status')) as {
      pid: number;
    };
    process.kill(s.pid, 'SIGKILL');
    const r = palisade(['lab', 'down', '--id', killed], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /daemon gone: removed by name/);
    assert.deepEqual(await leftovers(killed), []);
  });
});
