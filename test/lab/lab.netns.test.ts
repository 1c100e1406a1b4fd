// Needs root and `ip netns`: builds real labs of network namespaces and sends real packets.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, readFile, readdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { ClusterNode, Endpoint, Protocol } from '../../src/ir/endpoint.js';
import { labDown } from '../../src/lab/fabric.js';
import type { Lab } from '../../src/lab/lab.js';
import { LabBusyError, labUp } from '../../src/lab/lab.js';
import { labNetnsName, netnsInScope } from '../../src/lab/lab-id.js';
import { labStateDir } from '../../src/lab/state.js';
import { listLinks, listNetns, netnsSupport, run } from '../../src/lab/netns.js';
import { probeMatrix } from '../../src/lab/probe.js';
import { defaultProbeBinary } from '../../src/lab/probe-process.js';
import type { Routing } from '../../src/lab/topology.js';

const support = await netnsSupport();
const binary = await access(defaultProbeBinary()).then(
  () => true,
  () => false,
);
const skip = !support.ok
  ? support.reason
  : !binary
    ? 'dist/native/pal-probe missing: run npm run build:native'
    : false;

const TARGETS: { port: number; protocol: Protocol }[] = [
  { port: 80, protocol: 'TCP' },
  { port: 81, protocol: 'UDP' },
  { port: 82, protocol: 'SCTP' },
];

function cluster(): { nodes: ClusterNode[]; endpoints: Endpoint[] } {
  const nodes = ['node-a', 'node-b', 'node-c'].map((name) => ({ name, labels: {}, ips: [], podCIDRs: [] }));
  const endpoints = nodes.flatMap((n, i) =>
    ['x', 'y'].map((suffix) => ({
      namespace: i % 2 === 0 ? 'default' : 'other',
      name: `${n.name}-${suffix}`,
      labels: {},
      namespaceLabels: {},
      node: n.name,
      ips: [],
      ports: TARGETS,
      hostNetwork: false,
    })),
  );
  // A host-network pod shares node-a's netns and address and must be just as reachable.
  const agent = { ...endpoints[0], namespace: 'kube-system', name: 'agent', hostNetwork: true } as Endpoint;
  return { nodes, endpoints: [...endpoints, agent] };
}

const POD_COUNT = 7;

/** A fresh lab id, so that parallel runs of this file never touch each other's labs. */
const newId = (): string => `t-${randomBytes(4).toString('hex')}`;

/** Processes started for lab `id` (pal-probe carries `--lab=<id>`). */
async function labPids(id: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmd.split('\0').includes(`--lab=${id}`)) pids.push(Number(entry));
  }
  return pids;
}

/** What is left of lab `id`: its netns, its processes, its state dir. */
async function leftovers(id: string): Promise<string[]> {
  const netns = (await listNetns()).filter((n) => netnsInScope(n, { id }));
  const pids = (await labPids(id)).map((p) => `pid ${p}`);
  const state = await access(labStateDir(id)).then(
    () => [labStateDir(id)],
    () => [],
  );
  return [...netns, ...pids, ...state];
}

for (const routing of ['native', 'vxlan'] as Routing[]) {
  void describe(`lab with ${routing} routing`, { skip }, () => {
    let lab: Lab;
    before(async () => {
      lab = await labUp({ ...cluster(), routing }, { id: newId() });
    });
    after(async () => {
      await lab.down();
    });

    void it('reaches every pod from every pod (incl. self and cross-node) on TCP, UDP and SCTP', async () => {
      const started = Date.now();
      const m = await probeMatrix(lab, TARGETS, { timeoutMs: 2000, concurrency: 32 });
      const elapsed = Date.now() - started;
      assert.equal(m.results.length, TARGETS.length * POD_COUNT * POD_COUNT);
      const bad = m.results
        .filter((r) => !r.allowed)
        .map((r) => `${r.from}->${r.to} ${r.protocol}/${r.port} ${r.result}`);
      assert.deepEqual(bad, []);
      const nodeOf = new Map(lab.pods.map((p) => [p.key, p.node]));
      assert.ok(
        m.results.some((r) => nodeOf.get(r.from) !== nodeOf.get(r.to)),
        'some pairs cross nodes',
      );
      assert.equal(m.results.filter((r) => r.self).length, TARGETS.length * POD_COUNT);
      console.log(`# ${routing}: ${m.results.length} probes in ${elapsed} ms, sctp=${lab.sctpMode}`);
    });

    const closed: { protocol: Protocol; expect: string }[] = [
      { protocol: 'TCP', expect: 'refused' },
      { protocol: 'SCTP', expect: 'refused' },
      { protocol: 'UDP', expect: 'refused' },
    ];
    for (const c of closed) {
      void it(`a ${c.protocol} port nobody serves is ${c.expect}, across nodes`, async () => {
        const [from, to] = [
          lab.pods.find((p) => p.node === 'node-a'),
          lab.pods.find((p) => p.node === 'node-c'),
        ];
        assert.ok(from && to);
        const out = await lab.prober.probe({
          netns: from.netns,
          ip: to.ip,
          port: 9,
          protocol: c.protocol,
          timeoutMs: 2000,
        });
        assert.deepEqual(out, { result: c.expect });
      });
    }

    void it('a free address of another node pod CIDR times out (blackholed there)', async () => {
      const from = lab.pods[0];
      assert.ok(from);
      const ip = '10.244.2.250';
      const out = await lab.prober.probe({
        netns: from.netns,
        ip,
        port: 80,
        protocol: 'TCP',
        timeoutMs: 300,
      });
      assert.deepEqual(out, { result: 'timeout' });
    });
  });
}

void describe('lab at scale', { skip }, () => {
  void it('brings up 200 pods on 4 nodes quickly, probes them, and keeps the prober small', async () => {
    const nodes = [0, 1, 2, 3].map((i) => ({ name: `node-${i}`, labels: {}, ips: [], podCIDRs: [] }));
    const endpoints: Endpoint[] = Array.from({ length: 200 }, (_, i) => ({
      namespace: `ns${i % 5}`,
      name: `pod-${i}`,
      labels: {},
      namespaceLabels: {},
      node: `node-${i % 4}`,
      ips: [],
      ports: TARGETS,
      hostNetwork: false,
    }));
    let t = Date.now();
    const lab = await labUp({ nodes, endpoints, routing: 'vxlan' }, { id: newId() });
    try {
      const upMs = Date.now() - t;
      assert.ok(upMs < 30_000, `labUp took ${upMs} ms`);
      const from = lab.pods.filter((_, i) => i % 20 === 0).map((p) => p.key);
      t = Date.now();
      const m = await probeMatrix(lab, TARGETS, { timeoutMs: 3000, concurrency: 256, from });
      const probeMs = Date.now() - t;
      assert.equal(m.results.length, TARGETS.length * from.length * 200);
      assert.deepEqual(
        m.results.filter((r) => !r.allowed),
        [],
      );
      const status = await readFile(`/proc/${lab.prober.pid}/status`, 'utf8');
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
      assert.ok(rssKb < 32 * 1024, `pal-probe RSS ${rssKb} kB`);
      // One Node process serves every pod's TCP ports over HTTP: its memory must not grow per pod.
      assert.ok(lab.echo, 'the pods declare TCP ports, so the echo server runs');
      const echoStatus = await readFile(`/proc/${lab.echo.pid}/status`, 'utf8');
      const echoKb = Number(/VmRSS:\s+(\d+)/.exec(echoStatus)?.[1]);
      assert.ok(echoKb < 160 * 1024, `pal-echo RSS ${echoKb} kB`);
      const rate = Math.round((m.results.length / probeMs) * 1000);
      console.log(
        `# 200 pods: up in ${upMs} ms, ${m.results.length} probes at ${rate}/s, prober RSS ${rssKb} kB, ` +
          `echo RSS ${echoKb} kB`,
      );
    } finally {
      await lab.down();
    }
  });
});

void describe('lab teardown', { skip }, () => {
  void it('down() removes its own lab and nothing of another lab running beside it', async () => {
    const [one, two] = await Promise.all([
      labUp({ ...cluster(), routing: 'native' }, { id: newId() }),
      labUp({ ...cluster(), routing: 'vxlan' }, { id: newId() }),
    ]);
    try {
      assert.ok((await leftovers(one.id)).length > 0, 'the lab created pal- objects');
      await one.down();
      assert.deepEqual(await leftovers(one.id), []);
      const m = await probeMatrix(two, TARGETS, { timeoutMs: 2000, concurrency: 32 });
      assert.deepEqual(
        m.results.filter((r) => !r.allowed),
        [],
        'the other lab still works',
      );
      await one.down();
    } finally {
      await Promise.all([one.down(), two.down()]);
    }
    assert.deepEqual(await leftovers(two.id), []);
  });

  void it('labDown({ id }) cleans up a killed run of that lab only (stray netns, process inside)', async () => {
    const [mine, other] = [newId(), newId()];
    await run('ip', ['netns', 'add', labNetnsName(mine, 'stray')]);
    await run('ip', ['netns', 'add', labNetnsName(other, 'stray')]);
    try {
      const sleeper = await run('sh', [
        '-c',
        `ip netns exec ${labNetnsName(mine, 'stray')} sleep 30 >/dev/null 2>&1 & echo $!`,
      ]);
      const report = await labDown({ id: mine });
      assert.deepEqual(await leftovers(mine), []);
      assert.deepEqual(report.netns, [labNetnsName(mine, 'stray')]);
      assert.ok(report.killed.includes(Number(sleeper.trim())), 'the process inside the netns was killed');
      assert.ok((await listNetns()).includes(labNetnsName(other, 'stray')), "the other lab's netns stays");
    } finally {
      await labDown({ id: other });
    }
  });

  void it('a lab whose owner was SIGKILLed is refused to others while it lives, then removed as stale', async () => {
    const id = newId();
    const labModule = new URL('../../src/lab/lab.js', import.meta.url).href;
    const script =
      `const { labUp } = await import(${JSON.stringify(labModule)});` +
      `await labUp(${JSON.stringify({ ...cluster(), routing: 'native' })}, { id: ${JSON.stringify(id)} });` +
      `console.log('up'); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const bystander = await labUp({ ...cluster(), routing: 'native' }, { id: newId() });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('up') && resolve());
        child.once('exit', (code) => reject(new Error(`lab child exited early (${String(code)})`)));
      });
      await assert.rejects(labUp({ ...cluster(), routing: 'native' }, { id }), LabBusyError);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      assert.ok((await leftovers(id)).length > 0, 'the killed run left its lab behind');
      const report = await labDown({ stale: true });
      assert.ok(report.labs.includes(id), `stale labs removed: ${report.labs.join(', ')}`);
      assert.ok(!report.labs.includes(bystander.id), 'a lab with a live owner is not stale');
      assert.deepEqual(await leftovers(id), []);
      assert.ok((await leftovers(bystander.id)).length > 0, 'the live lab is untouched');
    } finally {
      child.kill('SIGKILL');
      await bystander.down();
      await labDown({ id });
    }
  });

  void it('labDown({ id }) is idempotent', async () => {
    const id = newId();
    await labDown({ id });
    const second = await labDown({ id });
    assert.deepEqual([second.netns, second.links, second.killed], [[], [], []]);
  });

  const ALL_SKIP = process.env['PAL_LAB_TEST_ALL']
    ? skip
    : 'destroys every pal- object on the machine, other runs included; set PAL_LAB_TEST_ALL=1 on a machine of your own';
  void it(
    'labDown({ all: true }) removes every pal- netns, root link and process',
    { skip: ALL_SKIP },
    async () => {
      const lab = await labUp({ ...cluster(), routing: 'native' }, { id: newId() });
      await run('ip', ['netns', 'add', 'pal-legacy-stray']);
      await run('ip', ['link', 'add', 'pal-stray0', 'type', 'veth', 'peer', 'name', 'pal-stray1']);
      const report = await labDown({ all: true });
      assert.ok(report.links.includes('pal-stray0') && report.netns.includes('pal-legacy-stray'));
      assert.ok(report.labs.includes(lab.id));
      assert.deepEqual(
        (await listNetns()).filter((n) => n.startsWith('pal-')),
        [],
      );
      assert.deepEqual(
        (await listLinks()).filter((n) => n.startsWith('pal-')),
        [],
      );
      assert.deepEqual(
        (await run('sh', ['-c', 'cat /proc/[0-9]*/comm 2>/dev/null']))
          .split('\n')
          .filter((c) => c.startsWith('pal-')),
        [],
        'no pal- process survives',
      );
      await lab.down();
    },
  );
});
