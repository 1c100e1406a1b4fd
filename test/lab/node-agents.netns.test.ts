/**
 * A 2-node lab enforced by its node agents, as root, through the real `palisade lab` CLI: one agent per
 * node netns reading the lab's `dir:` datastore, `lab apply` answering only once every agent applied the
 * write (so the next probe measures the new policy, equal to `analyze matrix`), `lab status` showing the
 * agents, and `lab down` leaving no netns, process or state behind. Then the lab as a kubelet: agents
 * killed with SIGKILL are restarted at once (the kernel enforcing all along), a crash loop backs off, and
 * a change made while an agent is down waits for it instead of failing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { socketPathFor } from '../../src/agent/status-server.js';
import { agentsStateDir } from '../../src/lab/daemon/agents.js';
import { labDown } from '../../src/lab/fabric.js';
import { netnsInScope } from '../../src/lab/lab-id.js';
import { listNetns } from '../../src/lab/netns.js';
import { nodeAgentDir } from '../../src/lab/node-agents.js';
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

interface AgentRow {
  node: string;
  pid: number;
  state: string;
  appliedRevision?: string;
  endpoints?: number;
  restarts?: number;
  lastExit?: { code: number | null; signal: string | null; at: string };
  nextRestartAt?: string;
}

interface Status {
  enforcer: string;
  revision: number;
  nodes: { name: string; netns: string }[];
  agents: AgentRow[];
}

// Lets web reach db too (on top of POLICY): the change made after the agents were killed.
const WEB_TO_DB = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-to-db, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 5432}]}]
`;

let clockTicks: number | undefined;
/**
 * When process `pid` started, in ms since the epoch: its age on the boot clock (/proc/uptime minus
 * /proc/PID/stat's starttime, both to 10 ms) taken from now. (/proc/stat's btime is whole seconds.)
 */
function processStartedMs(pid: number): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  const now = Date.now();
  const uptimeS = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return now - (uptimeS - startTicks / clockTicks) * 1000;
}

/** How long a change waits for the agents in the supervised lab (`lab up --sync-timeout-ms`). */
const SYNC_TIMEOUT_MS = 20_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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

describe('the lab supervises its agents as a kubelet would', { skip }, () => {
  const id = `t-${randomBytes(4).toString('hex')}`;
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pal-lab-restart-'));
    await writeFile(join(dir, 'cluster.yaml'), CLUSTER);
    await writeFile(join(dir, 'policy.yaml'), POLICY);
    await writeFile(join(dir, 'web-to-db.yaml'), WEB_TO_DB);
  });
  after(async () => {
    await labDown({ id });
    await rm(dir, { recursive: true, force: true });
  });

  const lab = (...args: string[]): Run => palisade(['lab', ...args, '--id', id], dir);
  const status = (): Status => JSON.parse(ok(lab('status', '-o', 'json'), 'status')) as Status;
  const agent = (s: Status, node: string): AgentRow => {
    const a = s.agents.find((x) => x.node === node);
    assert.ok(a, `no agent of ${node} in ${JSON.stringify(s.agents)}`);
    return a;
  };
  const probe = (): Matrix =>
    JSON.parse(ok(lab('probe', '-o', 'json', '--timeout-ms', '500'), 'probe')) as Matrix;
  const analyze = (...files: string[]): Matrix =>
    JSON.parse(
      ok(palisade(['analyze', 'matrix', '-o', 'json', ...files.flatMap((f) => ['-f', f])], dir), 'analyze'),
    ) as Matrix;
  /** Polls `lab status` until `ok` holds (bounded), returning that status. */
  const waitStatus = async (
    what: string,
    ok: (s: Status) => boolean,
    timeoutMs = 30_000,
  ): Promise<Status> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const s = status();
      if (ok(s)) return s;
      if (Date.now() > until) assert.fail(`${what} within ${timeoutMs}ms; last: ${JSON.stringify(s.agents)}`);
      await sleep(200);
    }
  };
  let killed: AgentRow[] = [];

  it('kill -9 of both agents: the kernel keeps enforcing, equal to analyze matrix', () => {
    const up = ['up', '-f', 'cluster.yaml', '--watch-pid', String(process.pid)];
    ok(lab(...up, '--sync-timeout-ms', String(SYNC_TIMEOUT_MS)), 'lab up');
    ok(lab('apply', '-f', 'policy.yaml'), 'apply');
    killed = status().agents;
    assert.deepEqual(
      killed.map((a) => [a.node, a.state, a.restarts]),
      [
        ['n1', 'ready', 0],
        ['n2', 'ready', 0],
      ],
    );
    for (const a of killed) process.kill(a.pid, 'SIGKILL');
    const m = probe();
    assert.ok(m.results.some((c) => !c.allowed) && m.results.some((c) => c.allowed));
    assertSameAsAnalyzer(m, analyze('cluster.yaml', 'policy.yaml'));
  });

  it('both come back within a second or two, in their node netns, and lab status shows the restart', async () => {
    const s = await waitStatus('both agents restarted and ready', (st) =>
      st.agents.every((a) => a.state === 'ready' && a.restarts === 1),
    );
    for (const before of killed) {
      const a = agent(s, before.node);
      assert.notEqual(a.pid, before.pid);
      assert.equal(a.lastExit?.signal, 'SIGKILL', before.node);
      assert.equal(a.lastExit?.code, null, before.node);
      const died = Date.parse(a.lastExit.at);
      const restartedAfter = processStartedMs(a.pid) - died;
      assert.ok(
        restartedAfter >= 0 && restartedAfter < 1500,
        `${a.node} restarted ${restartedAfter}ms after its exit`,
      );
      const netns = s.nodes.find((n) => n.name === a.node)?.netns ?? '';
      const want = (await stat(`/run/netns/${netns}`)).ino;
      assert.equal(await readlink(`/proc/${a.pid}/ns/net`), `net:[${want}]`, `${a.node}'s agent netns`);
      assert.equal(a.appliedRevision, String(s.revision), `${a.node} caught up with the datastore`);
    }
    const table = ok(lab('status'), 'status table');
    assert.match(table, /RESTARTS +LAST EXIT/);
    assert.match(table, /\bn1 +\d+ +ready +\d+ +\d+ +\d+ +\d+ +1 +SIGKILL at \S+Z \(\d+s ago\)/);
  });

  it('the next apply succeeds and is enforced', () => {
    const out = ok(lab('apply', '-f', 'web-to-db.yaml'), 'apply after the restart');
    assert.match(out, /enforced revision \d+ with nftables by the node agents/);
    const m = probe();
    const cell = (from: string, to: string, port: number) =>
      m.results.find((c) => c.from === from && c.to === to && c.port === port)?.allowed;
    assert.equal(cell('shop/web', 'shop/db', 5432), true);
    assert.equal(cell('shop/api', 'shop/db', 5432), false);
    assertSameAsAnalyzer(m, analyze('cluster.yaml', 'policy.yaml', 'web-to-db.yaml'));
  });

  it('a crash loop backs off, and a change made while the agent is down waits for it', async () => {
    // Kill n2's agent each time it is back, soon after the last exit: each restart should wait longer.
    let n2 = agent(status(), 'n2');
    let restarts = n2.restarts ?? 0;
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      process.kill(n2.pid, 'SIGKILL');
      restarts++;
      const s = await waitStatus(`n2 restarted ${restarts} times`, (st) => {
        const a = agent(st, 'n2');
        return a.pid > 0 && a.restarts === restarts;
      });
      n2 = agent(s, 'n2');
      assert.equal(n2.lastExit?.signal, 'SIGKILL');
      delays.push(Math.round(processStartedMs(n2.pid) - Date.parse(n2.lastExit.at)));
    }
    for (let i = 1; i < delays.length; i++)
      assert.ok((delays[i] ?? 0) > (delays[i - 1] ?? 0), `back-off grows: ${delays.join(', ')}ms`);
    assert.ok((delays[0] ?? 0) < 1500 && (delays.at(-1) ?? 0) < 10_500, `bounds: ${delays.join(', ')}ms`);
    // Once more: now the restart is seconds away, so the change below is made while n2 has no agent.
    process.kill(n2.pid, 'SIGKILL');
    const down = agent(
      await waitStatus('n2 seen down', (st) => agent(st, 'n2').state === 'restarting', 5000),
      'n2',
    );
    assert.equal(down.pid, 0);
    assert.ok(
      Date.parse(down.nextRestartAt ?? '') - Date.parse(down.lastExit?.at ?? '') >= 1000,
      JSON.stringify(down),
    );
    ok(lab('delete', '-f', 'web-to-db.yaml'), 'delete while n2 is down');
    const s = status();
    const a = agent(s, 'n2');
    assert.equal(a.state, 'ready');
    assert.equal(a.restarts, restarts + 1);
    assert.equal(a.appliedRevision, String(s.revision));
    assertSameAsAnalyzer(probe(), analyze('cluster.yaml', 'policy.yaml'));
  });

  it('a change waits no longer than the bound for an agent that cannot come back, and says why', async () => {
    const n2 = agent(status(), 'n2');
    // The agent cannot serve its status socket while a directory sits on its path: each start fails.
    const socket = socketPathFor(nodeAgentDir(agentsStateDir(id), 'n2'), 'n2');
    process.kill(n2.pid, 'SIGKILL');
    await rm(socket, { force: true });
    await mkdir(socket);
    try {
      const started = Date.now();
      const r = lab('apply', '-f', 'web-to-db.yaml');
      const took = Date.now() - started;
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(
        r.stderr,
        new RegExp(
          `node agents not synced to revision \\d+ within ${SYNC_TIMEOUT_MS}ms: n2 \\(.*; last exit code [1-9]\\d* at \\S+, \\d+ restart\\(s\\)\\)`,
        ),
      );
      assert.match(r.stderr, /n2's log:/);
      assert.ok(took >= SYNC_TIMEOUT_MS && took < SYNC_TIMEOUT_MS + 20_000, `apply failed after ${took}ms`);
      const down = agent(status(), 'n2');
      assert.ok((down.restarts ?? 0) > (n2.restarts ?? 0), JSON.stringify(down));
      assert.equal(down.lastExit?.signal, null, JSON.stringify(down));
      assert.ok((down.lastExit.code ?? 0) > 0, JSON.stringify(down));
    } finally {
      await rm(socket, { recursive: true, force: true });
    }
    // Once it can start again it does, and the lab means what it says: the change that failed is not in it.
    // (The daemon wrote the last good state back as a new datastore revision, past the one status shows.)
    const applied = (a: AgentRow): bigint => BigInt(a.appliedRevision ?? -1);
    await waitStatus('n2 back, synced with n1', (st) => {
      const [a1, a2] = [agent(st, 'n1'), agent(st, 'n2')];
      return a2.state === 'ready' && applied(a2) === applied(a1) && applied(a1) >= BigInt(st.revision);
    });
    assertSameAsAnalyzer(probe(), analyze('cluster.yaml', 'policy.yaml'));
  });

  it('lab down while an agent waits for its restart: it stays down, nothing pal- is left', async () => {
    const before = status();
    let n1 = agent(before, 'n1');
    // Four quick deaths push n1's back-off to seconds: the down request below comes while it is due.
    for (let i = 0; i < 4; i++) {
      process.kill(n1.pid, 'SIGKILL');
      const want = (n1.restarts ?? 0) + 1;
      n1 = agent(
        await waitStatus(`n1 restarted ${want} times`, (st) => {
          const a = agent(st, 'n1');
          return a.pid > 0 && a.restarts === want;
        }),
        'n1',
      );
    }
    process.kill(n1.pid, 'SIGKILL');
    const down = agent(
      await waitStatus('n1 seen down', (st) => agent(st, 'n1').state === 'restarting', 5000),
      'n1',
    );
    assert.ok(Date.parse(down.nextRestartAt ?? '') - Date.now() >= 1000, JSON.stringify(down));
    const n2 = agent(before, 'n2').pid;
    const report = JSON.parse(ok(lab('down', '-o', 'json'), 'down')) as {
      viaDaemon: boolean;
      killed: number[];
    };
    assert.equal(report.viaDaemon, true);
    assert.deepEqual(
      report.killed.filter((p) => p !== n2),
      [],
      'no process but the running agent was left to kill',
    );
    await sleep(Math.max(0, Date.parse(down.nextRestartAt ?? '') - Date.now()) + 500); // past the due restart
    assert.equal(alive(n2), false);
    const agents: string[] = [];
    for (const entry of await readdir('/proc')) {
      const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
      if (cmd.split('\0').includes(`--lab=${id}`)) agents.push(entry);
    }
    assert.deepEqual(agents, []);
    assert.deepEqual(
      (await listNetns()).filter((n) => netnsInScope(n, { id })),
      [],
    );
    await assert.rejects(access(labStateDir(id)));
  });
});
