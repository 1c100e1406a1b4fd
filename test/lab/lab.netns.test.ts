// Needs root and `ip netns`: builds real labs of network namespaces and sends real packets.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { ClusterNode, Endpoint, Protocol } from '../../src/ir/endpoint.js';
import { labDown } from '../../src/lab/fabric.js';
import type { Lab } from '../../src/lab/lab.js';
import { labUp } from '../../src/lab/lab.js';
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

async function leftovers(): Promise<string[]> {
  const netns = (await listNetns()).filter((n) => n.startsWith('pal-'));
  const links = (await listLinks()).filter((n) => n.startsWith('pal-'));
  return [...netns, ...links];
}

for (const routing of ['native', 'vxlan'] as Routing[]) {
  void describe(`lab with ${routing} routing`, { skip }, () => {
    let lab: Lab;
    before(async () => {
      lab = await labUp({ ...cluster(), routing });
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
    const lab = await labUp({ nodes, endpoints, routing: 'vxlan' });
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
      const rate = Math.round((m.results.length / probeMs) * 1000);
      console.log(
        `# 200 pods: up in ${upMs} ms, ${m.results.length} probes at ${rate}/s, prober RSS ${rssKb} kB`,
      );
    } finally {
      await lab.down();
    }
  });
});

void describe('lab teardown', { skip }, () => {
  void it('down() leaves no pal- netns or link in the root netns', async () => {
    const lab = await labUp({ ...cluster(), routing: 'native' });
    assert.ok((await leftovers()).length > 0, 'the lab created pal- objects');
    await lab.down();
    assert.deepEqual(await leftovers(), []);
    await lab.down();
  });

  void it('labDown cleans up after a killed run (stray netns, root link, process inside a lab netns)', async () => {
    await run('ip', ['netns', 'add', 'pal-stray']);
    await run('ip', ['link', 'add', 'pal-stray0', 'type', 'veth', 'peer', 'name', 'pal-stray1']);
    const sleeper = await run('sh', ['-c', 'ip netns exec pal-stray sleep 30 >/dev/null 2>&1 & echo $!']);
    const report = await labDown();
    assert.deepEqual(await leftovers(), []);
    assert.ok(report.netns.includes('pal-stray') && report.links.includes('pal-stray0'));
    assert.ok(report.killed.includes(Number(sleeper.trim())), 'the process inside pal-stray was killed');
  });

  void it('labDown cleans up after the process running a lab was SIGKILLed', async () => {
    const labModule = new URL('../../src/lab/lab.js', import.meta.url).href;
    const script =
      `const { labUp } = await import(${JSON.stringify(labModule)});` +
      `await labUp(${JSON.stringify({ ...cluster(), routing: 'native' })});` +
      `console.log('up'); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('up') && resolve());
      child.once('exit', (code) => reject(new Error(`lab child exited early (${String(code)})`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.ok((await leftovers()).length > 0, 'the killed run left its lab behind');
    await labDown();
    assert.deepEqual(await leftovers(), []);
    assert.deepEqual(
      (await run('sh', ['-c', 'cat /proc/[0-9]*/comm 2>/dev/null']))
        .split('\n')
        .filter((c) => c.startsWith('pal-')),
      [],
      'no pal- process survives',
    );
  });

  void it('labDown is idempotent', async () => {
    await labDown();
    const second = await labDown();
    assert.deepEqual([second.netns, second.links], [[], []]);
  });
});
