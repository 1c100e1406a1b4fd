import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DIR_REVISION_FILE } from '../../../src/agent/index.js';
import { parseSources } from '../../../src/dialects/index.js';
import type { Cluster, Tier } from '../../../src/ir/index.js';
import { endpointKey } from '../../../src/ir/index.js';
import {
  ManifestsDir,
  policyObjectsOf,
  renderManifests,
  withApplied,
  withDeleted,
} from '../../../src/lab/daemon/manifests.js';

const CLUSTER = `
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {team: blue}}
---
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {zone: a}}
spec: {podCIDR: 10.1.0.0/24}
status: {addresses: [{type: InternalIP, address: 10.255.0.1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec:
  nodeName: n1
  serviceAccountName: sa
  containers:
  - {name: c, image: i, ports: [{name: http, containerPort: 80}, {containerPort: 53, protocol: UDP}]}
  - {name: d, image: i, ports: [{name: http2, containerPort: 8080}]}
status: {podIP: 10.1.0.5}
---
apiVersion: v1
kind: Pod
metadata: {name: h, namespace: y}
spec: {nodeName: n1, hostNetwork: true, containers: [{name: c, image: i}]}
status: {podIP: 10.255.0.1}
`;

const POLICIES = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: crd.antrea.io/v1beta1
kind: Tier
metadata: {name: mytier}
spec: {priority: 10}
---
apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: anp, namespace: x}
spec:
  tier: mytier
  priority: 1
  appliedTo: [{podSelector: {}}]
  ingress: [{action: Drop, from: [{namespaceSelector: {}}]}]
`;

function loadCluster(text: string): Cluster {
  const { value, diagnostics } = parseSources([{ file: 'c.yaml', text }]);
  assert.deepEqual(
    diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
  return value.cluster;
}

const sorted = (c: Cluster) => ({
  namespaces: [...c.namespaces].sort((a, b) => a.name.localeCompare(b.name)),
  nodes: [...c.nodes].sort((a, b) => a.name.localeCompare(b.name)),
  endpoints: [...c.endpoints].sort((a, b) => endpointKey(a).localeCompare(endpointKey(b))),
});

describe('lab manifests (the agents datastore)', () => {
  it('renders a cluster the dialects read back unchanged: labels, ports, nodes, host network, IPs', () => {
    const cluster = loadCluster(CLUSTER);
    const files = renderManifests(cluster, new Map());
    const back = loadCluster([...files.values()].join('\n---\n'));
    assert.deepEqual(sorted(back), sorted(cluster));
    assert.ok(files.has('Pod_x_a.json') && files.has('Node___n1.json') && files.has('Namespace___x.json'));
  });

  it('keeps policies and tiers as written; apply replaces by name, delete keeps a tier still used', () => {
    const src = [{ file: 'p.yaml', text: POLICIES }];
    const objects = policyObjectsOf([...src, { file: 'c.yaml', text: CLUSTER }]);
    assert.deepEqual([...objects.keys()].sort(), [
      'NetworkPolicy.crd.antrea.io_x_anp.json',
      'NetworkPolicy.networking.k8s.io_x_deny.json',
      'Tier.crd.antrea.io___mytier.json',
    ]);
    const edited = POLICIES.replace('policyTypes: [Ingress]', 'policyTypes: [Egress]');
    const applied = withApplied(objects, [{ file: 'q.yaml', text: edited }]);
    const deny = applied.get('NetworkPolicy.networking.k8s.io_x_deny.json') as { spec: unknown };
    assert.deepEqual(deny.spec, { podSelector: {}, policyTypes: ['Egress'] });
    assert.deepEqual([...withDeleted(applied, src, []).keys()], []);
    const stillUsed: Tier = { name: 'mytier', order: 20_010, semantics: 'first-match' };
    const kept = withDeleted(applied, src, [stillUsed]);
    assert.deepEqual([...kept.keys()], ['Tier.crd.antrea.io___mytier.json']);
  });

  it('ManifestsDir writes only what changed, removes what it no longer wants, then bumps the revision', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pal-manifests-'));
    try {
      await writeFile(join(dir, 'mine.yaml'), 'kind: Foo\n');
      const m = new ManifestsDir(dir);
      assert.equal(
        await m.write(
          new Map([
            ['a.json', '1\n'],
            ['b.json', '2\n'],
          ]),
        ),
        1,
      );
      assert.equal(await m.write(new Map([['a.json', '1b\n']])), 2);
      assert.deepEqual((await readdir(dir)).sort(), [DIR_REVISION_FILE, 'a.json', 'mine.yaml']);
      assert.equal(await readFile(join(dir, 'a.json'), 'utf8'), '1b\n');
      assert.equal((await readFile(join(dir, DIR_REVISION_FILE), 'utf8')).trim(), '2');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
