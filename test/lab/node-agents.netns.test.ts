/**
 * A 2-node lab enforced by its node agents, as root, through the real `palisade lab` CLI: one agent per
 * node netns reading the lab's `dir:` datastore, `lab apply` answering only once every agent applied the
 * write (so the next probe measures the new policy, equal to `analyze matrix`), `lab status` showing the
 * agents, and `lab down` leaving no netns, process or state behind.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, mkdtemp, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { labDown } from '../../src/lab/fabric.js';
import { netnsInScope } from '../../src/lab/lab-id.js';
import { listNetns } from '../../src/lab/netns.js';
import { labStateDir } from '../../src/lab/state.js';
import type { Matrix, Run } from '../cli/lab-cli-support.js';
import { assertSameAsAnalyzer, ok, palisade } from '../cli/lab-cli-support.js';
import { labSkipReason } from './proof-support.js';

const skip = await labSkipReason();

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

// Every pod serves every port, so that a pod probing itself is answered (the probe tries each declared port).
const PORTS = '[{name: http, containerPort: 80}, {containerPort: 9090}, {containerPort: 5432}]';

const CLUSTER = `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {nodeName: n1, containers: [{name: c, image: i, ports: ${PORTS}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: shop, labels: {app: api}}
spec: {nodeName: n2, containers: [{name: c, image: i, ports: ${PORTS}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
spec: {nodeName: n2, containers: [{name: c, image: i, ports: ${PORTS}}]}
`;

const POLICY = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-to-api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: http}]}]
`;

interface Status {
  enforcer: string;
  revision: number;
  nodes: { name: string; netns: string }[];
  agents: { node: string; pid: number; state: string; appliedRevision?: string; endpoints?: number }[];
}

describe('lab with one agent per node', { skip }, () => {
  const id = `t-${randomBytes(4).toString('hex')}`;
  let dir = '';
  let agentPids: number[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pal-lab-agents-'));
    await writeFile(join(dir, 'cluster.yaml'), CLUSTER);
    await writeFile(join(dir, 'policy.yaml'), POLICY);
  });
  after(async () => {
    await labDown({ id });
    await rm(dir, { recursive: true, force: true });
  });

  const lab = (...args: string[]): Run => palisade(['lab', ...args, '--id', id], dir);
  const status = (): Status => JSON.parse(ok(lab('status', '-o', 'json'), 'status')) as Status;
  const probe = (): Matrix =>
    JSON.parse(ok(lab('probe', '-o', 'json', '--timeout-ms', '500'), 'probe')) as Matrix;
  const analyze = (...files: string[]): Matrix =>
    JSON.parse(
      ok(palisade(['analyze', 'matrix', '-o', 'json', ...files.flatMap((f) => ['-f', f])], dir), 'analyze'),
    ) as Matrix;

  it('lab up starts one ready agent per node, inside the node netns, which registered its pods', async () => {
    ok(lab('up', '-f', 'cluster.yaml', '--watch-pid', String(process.pid)), 'lab up');
    const s = status();
    assert.equal(s.enforcer, 'agents');
    assert.deepEqual(
      s.agents.map((a) => [a.node, a.state, a.endpoints]),
      [
        ['n1', 'ready', 1],
        ['n2', 'ready', 2],
      ],
    );
    for (const a of s.agents) {
      assert.equal(a.appliedRevision, String(s.revision));
      const netns = s.nodes.find((n) => n.name === a.node)?.netns ?? '';
      const want = (await stat(`/run/netns/${netns}`)).ino;
      assert.equal(await readlink(`/proc/${a.pid}/ns/net`), `net:[${want}]`, `${a.node}'s agent netns`);
    }
    agentPids = s.agents.map((a) => a.pid);
    const files = await readdir(join(labStateDir(id), 'manifests'));
    assert.ok(files.includes('Pod_shop_web.json'), files.join(' '));
  });

  it('lab apply returns once every agent applied it: the next probe equals analyze matrix', () => {
    const before = status().revision;
    const out = ok(lab('apply', '-f', 'policy.yaml'), 'apply');
    assert.match(out, /enforced revision \d+ with nftables by the node agents/);
    const s = status();
    assert.ok(s.revision > before);
    for (const a of s.agents) assert.equal(a.appliedRevision, String(s.revision), a.node);
    const m = probe();
    const cell = (from: string, to: string, port: number) =>
      m.results.find((c) => c.from === from && c.to === to && c.port === port)?.allowed;
    assert.equal(cell('shop/web', 'shop/api', 80), true);
    assert.equal(cell('shop/web', 'shop/api', 9090), false);
    assert.equal(cell('shop/api', 'shop/db', 5432), false);
    assertSameAsAnalyzer(m, analyze('cluster.yaml', 'policy.yaml'));
  });

  it('lab delete removes the policy files and every agent opens up again', async () => {
    ok(lab('delete', '-f', 'policy.yaml'), 'delete');
    const files = await readdir(join(labStateDir(id), 'manifests'));
    assert.deepEqual(
      files.filter((f) => f.startsWith('NetworkPolicy')),
      [],
    );
    assert.ok(probe().results.every((c) => c.allowed));
  });

  it('lab down leaves no netns, agent process or state', async () => {
    assert.match(ok(lab('down'), 'down'), /is down/);
    assert.deepEqual(
      (await listNetns()).filter((n) => netnsInScope(n, { id })),
      [],
    );
    assert.deepEqual(
      agentPids.filter((p) => alive(p)),
      [],
    );
    const agents: string[] = [];
    for (const entry of await readdir('/proc')) {
      const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
      if (cmd.split('\0').includes(`--lab=${id}`)) agents.push(entry);
    }
    assert.deepEqual(agents, []);
    await assert.rejects(access(labStateDir(id)));
  });

  it('the agents refuse iptables with a clear message and nothing is built', async () => {
    const r = lab('up', '-f', 'cluster.yaml', '--datapath', 'iptables', '--enforcer', 'agents');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the node agents program nftables only/);
    assert.deepEqual(
      (await listNetns()).filter((n) => netnsInScope(n, { id })),
      [],
    );
  });
});
