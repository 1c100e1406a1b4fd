/**
 * L7 steering on real packets (root): in a private pal-dp-* topology, the nftables backend compiles and
 * applies a CiliumNetworkPolicy with an HTTP rule on port 80, and a stand-in transparent HAProxy (not
 * src/l7's: the datapath's contract is only "whatever listens on L7_PROXY_PORT with IP_TRANSPARENT") runs
 * in the node's namespace. The steered port goes through the proxy with the client's own address reaching
 * the server; a port without HTTP rules never meets the proxy; a dead proxy drops the steered port (fail
 * closed) and nothing else; a client the L3 rules refuse never reaches the proxy; an egress HTTP rule
 * steers by source; teardown removes the policy routing with the table. The node runs strict rp_filter.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  L7_MARK,
  L7_PROXY_PORT,
  L7_ROUTE_TABLE,
  nftablesBackend,
  planNftables,
  resolveNodeRules,
} from '../../../src/datapath/index.js';
import type { NftTable, NodeDatapath } from '../../../src/datapath/index.js';
import { buildModel } from '../../../src/engine/index.js';
import type { Policy } from '../../../src/ir/index.js';
import { run, runChecked } from '../../../src/util/process.js';
import { cluster, node, pod } from '../support/builders.js';
import { ciliumHttpEgress, ciliumHttpIngress } from '../support/l7.js';
import { NODE_IP, createTopology, netnsUnavailable } from '../support/netns.js';
import type { Topology } from '../support/netns.js';

const PODS = [
  { name: 'client', ip: '10.77.0.21' },
  { name: 'server', ip: '10.77.0.22' },
  { name: 'intruder', ip: '10.77.0.23' },
  { name: 'open', ip: '10.77.0.24' },
];
const PORTS = [80, 81, 8080];
const CLUSTER = cluster(
  PODS.map((p) =>
    pod('x', p.name, p.ip, {
      ports: PORTS.map((port) => ({ name: `http-${port}`, port, protocol: 'TCP' as const })),
    }),
  ),
  [node('node-1', NODE_IP)],
);
const INGRESS = ciliumHttpIngress({
  namespace: 'x',
  server: 'server',
  client: 'client',
  port: 80,
  plainPort: 81,
});
const EGRESS = ciliumHttpEgress({ namespace: 'x', client: 'client', port: 8080, plainPort: 81 });
const ip = (name: string): string => PODS.find((p) => p.name === name)?.ip ?? '';

function unavailable(): string | undefined {
  const why = netnsUnavailable();
  if (why !== undefined) return why;
  for (const tool of [
    ['haproxy', '-v'],
    ['curl', '--version'],
  ] as const)
    if (spawnSync(tool[0], [tool[1]]).status !== 0) return `${tool[0]} is not installed`;
  return undefined;
}

/** Answers every request with the peer address it saw, in the body and the `x-peer` header. */
const SERVER = `const http = require('node:http');
for (const p of process.argv.slice(1))
  http.createServer((req, res) => {
    res.setHeader('x-peer', req.socket.remoteAddress);
    res.end(req.socket.remoteAddress + '\\n');
  }).listen(Number(p), '0.0.0.0');`;

/** The stand-in proxy the brief of issue 11 names: transparent in, transparent out, one header added. */
function haproxyConfig(): string {
  return `global
  maxconn 200
  log stdout format raw local0
defaults
  mode http
  log global
  option httplog
  timeout connect 2s
  timeout client 5s
  timeout server 5s
frontend f
  bind 0.0.0.0:${L7_PROXY_PORT} transparent
  http-response set-header x-pal-proxied 1
  default_backend b
backend b
  server s 0.0.0.0 source 0.0.0.0 usesrc clientip
`;
}

interface Reply {
  /** curl's exit code: 0 answered, 28 timed out. */
  readonly code: number;
  readonly status?: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

async function get(netns: string, to: string, port: number, timeoutS = 1.5): Promise<Reply> {
  const r = await run(['curl', '-s', '-i', '-m', String(timeoutS), `http://${to}:${port}/`], { netns });
  const [head = '', body = ''] = r.stdout.split(/\r\n\r\n/, 2);
  const lines = head.split('\r\n');
  const status = /^HTTP\/\S+ (\d+)/.exec(lines[0] ?? '')?.[1];
  const headers = new Map(
    lines.slice(1).map((l) => {
      const i = l.indexOf(':');
      return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()] as const;
    }),
  );
  return {
    code: r.code,
    ...(status === undefined ? {} : { status: Number(status) }),
    headers,
    body: body.trim(),
  };
}

describe('L7 steering to a transparent proxy on real packets', { skip: unavailable() ?? false }, () => {
  let topo: Topology;
  let dp: NodeDatapath<NftTable>;
  let dir: string;
  let proxy: ChildProcess | undefined;
  let proxyLog = '';
  const netnsOf = (name: string): string => topo.pods.get(name)?.netns ?? '';
  const fetch = (from: string, to: string, port: number, timeoutS?: number) =>
    get(netnsOf(from), ip(to), port, timeoutS);

  const startProxy = async (): Promise<void> => {
    const child = spawn(
      'ip',
      ['netns', 'exec', topo.node, 'haproxy', '-f', join(dir, 'haproxy.cfg'), '-db'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout.on('data', (b: Buffer) => (proxyLog += b.toString()));
    child.stderr.on('data', (b: Buffer) => (proxyLog += b.toString()));
    proxy = child;
    for (let i = 0; i < 50; i++) {
      const ss = await run(['ss', '-Hltn', `sport = :${L7_PROXY_PORT}`], { netns: topo.node });
      if (ss.stdout.includes(`:${L7_PROXY_PORT}`)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`haproxy did not listen: ${proxyLog}`);
  };
  const stopProxy = async (): Promise<void> => {
    const child = proxy;
    proxy = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  };
  const apply = async (policies: Policy[]) => {
    const compiled = dp.compile(resolveNodeRules(buildModel(CLUSTER, policies), 'node-1'));
    assert.deepEqual(compiled.unsupported, []);
    await dp.apply(compiled.desired);
    return compiled.desired;
  };
  const routing = async (family: 4 | 6) => {
    const mark = `0x${L7_MARK.toString(16)}/0x${L7_MARK.toString(16)}`;
    const rule = await runChecked(
      ['ip', `-${family}`, 'rule', 'show', 'fwmark', mark, 'lookup', String(L7_ROUTE_TABLE)],
      {
        netns: topo.node,
      },
    );
    const route = await run(['ip', `-${family}`, 'route', 'show', 'table', String(L7_ROUTE_TABLE)], {
      netns: topo.node,
    });
    return { rule: rule.stdout.trim(), route: route.code === 0 ? route.stdout.trim() : '' };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pal-l7-'));
    writeFileSync(join(dir, 'haproxy.cfg'), haproxyConfig());
    topo = await createTopology(PODS);
    // Strict reverse-path filtering on the node: the steered path must not depend on it being off.
    await runChecked(['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=1'], { netns: topo.node });
    for (const p of ['server', 'open']) {
      const child = spawn(
        'ip',
        ['netns', 'exec', netnsOf(p), process.execPath, '-e', SERVER, ...PORTS.map(String)],
        {
          stdio: 'ignore',
        },
      );
      topo.servers.push(child);
    }
    dp = nftablesBackend.create({ netns: topo.node });
    await startProxy();
    // The servers are up once a port nothing steers answers (no policy yet: everything is open).
    for (let i = 0; i < 50; i++) {
      if (
        (await fetch('client', 'server', 81, 0.5)).code === 0 &&
        (await fetch('client', 'open', 81, 0.5)).code === 0
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  after(async () => {
    await stopProxy();
    try {
      await dp.teardown();
    } finally {
      await topo.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('applies the steering chain and the policy routing; reading back finds nothing to change', async () => {
    const desired = await apply(INGRESS);
    assert.equal((await planNftables(desired, { netns: topo.node })).changed, false);
    assert.equal((await dp.apply(desired, { verify: true })).changed, false);
    const v4 = await routing(4);
    assert.match(
      v4.rule,
      new RegExp(`fwmark 0x${L7_MARK.toString(16)}/0x${L7_MARK.toString(16)} lookup ${L7_ROUTE_TABLE}`),
    );
    assert.match(v4.route, /^local default dev lo/);
    const guard = await runChecked(
      [
        'ip',
        'rule',
        'show',
        'fwmark',
        `0x${L7_MARK.toString(16)}/0x${L7_MARK.toString(16)}`,
        'iif',
        'lo',
        'lookup',
        'main',
      ],
      { netns: topo.node },
    );
    assert.notEqual(guard.stdout.trim(), '', 'the reverse-path guard');
    // No IPv6 pod is steered here: no IPv6 routing either.
    assert.deepEqual(await routing(6), { rule: '', route: '' });
  });

  it('a steered port goes through the proxy, and the server sees the client itself', async () => {
    const r = await fetch('client', 'server', 80);
    assert.equal(r.code, 0, `curl exit ${r.code}; proxy said: ${proxyLog}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-pal-proxied'), '1');
    assert.equal(r.body, ip('client'));
    assert.match(proxyLog, new RegExp(`${ip('client')}:\\d+ .*"GET / HTTP/1.1"`));
  });

  it('passes strict rp_filter with src_valid_mark=1 too (the reverse-path check then sees the mark)', async () => {
    const set = (v: number) =>
      runChecked(['sysctl', '-qw', `net.ipv4.conf.all.src_valid_mark=${v}`], { netns: topo.node });
    await set(1);
    try {
      const r = await fetch('client', 'server', 80);
      assert.equal(r.status, 200, `curl exit ${r.code}`);
      assert.equal(r.headers.get('x-pal-proxied'), '1');
      assert.equal(r.body, ip('client'));
    } finally {
      await set(0);
    }
  });

  it('a hand-deleted routing rule is put back by a verifying apply', async () => {
    const desired = await apply(INGRESS);
    const mark = `0x${L7_MARK.toString(16)}/0x${L7_MARK.toString(16)}`;
    await runChecked(['ip', 'rule', 'del', 'fwmark', mark, 'lookup', String(L7_ROUTE_TABLE)], {
      netns: topo.node,
    });
    assert.equal((await routing(4)).rule, '');
    assert.deepEqual((await dp.readBack())?.unreadable, [
      `L7 policy routing (fwmark → table ${L7_ROUTE_TABLE}) for IPv4 is missing`,
    ]);
    assert.equal((await dp.apply(desired)).changed, false, 'from memory: nothing to do');
    const repaired = await dp.apply(desired, { verify: true });
    assert.equal(repaired.changed, true);
    assert.equal(repaired.summary['l7Routing'], 1);
    assert.notEqual((await routing(4)).rule, '');
    assert.deepEqual((await dp.readBack())?.unreadable, []);
    assert.equal((await fetch('client', 'server', 80)).headers.get('x-pal-proxied'), '1');
  });

  it('a port without HTTP rules never meets the proxy', async () => {
    const before = proxyLog.length;
    const r = await fetch('client', 'server', 81);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-pal-proxied'), undefined);
    assert.equal(r.body, ip('client'));
    assert.equal(proxyLog.slice(before), '', 'the proxy logged nothing');
  });

  it('a client the L3 rules refuse is dropped before the proxy', async () => {
    const before = proxyLog.length;
    const r = await fetch('intruder', 'server', 80, 1);
    assert.equal(r.code, 28, 'timed out: dropped, not refused');
    assert.equal(proxyLog.slice(before), '', 'the proxy never saw it');
    assert.equal((await fetch('intruder', 'server', 81, 1)).code, 28);
  });

  it('a dead proxy drops the steered port and nothing else; back, it works again', async () => {
    await stopProxy();
    assert.equal((await fetch('client', 'server', 80, 1)).code, 28, 'steered port: dropped (fail closed)');
    const plain = await fetch('client', 'server', 81);
    assert.equal(plain.status, 200, 'a port without HTTP rules still works');
    await startProxy();
    const back = await fetch('client', 'server', 80);
    assert.equal(back.status, 200, `proxy said: ${proxyLog}`);
    assert.equal(back.headers.get('x-pal-proxied'), '1');
  });

  it('an egress HTTP rule steers by source address, whatever the destination', async () => {
    await apply([...INGRESS, ...EGRESS]);
    const r = await fetch('client', 'open', 8080);
    assert.equal(r.status, 200, `proxy said: ${proxyLog}`);
    assert.equal(r.headers.get('x-pal-proxied'), '1');
    assert.equal(r.body, ip('client'));
    const plain = await fetch('client', 'open', 81);
    assert.equal(plain.status, 200);
    assert.equal(plain.headers.get('x-pal-proxied'), undefined);
    // The egress policy allows 8080 and 81 only, proxy or not.
    assert.equal((await fetch('client', 'open', 80, 1)).code, 28);
  });

  it('dropping every HTTP rule removes the steering and its routing; teardown leaves nothing', async () => {
    await apply([]);
    assert.deepEqual(await routing(4), { rule: '', route: '' });
    const r = await fetch('client', 'server', 80);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-pal-proxied'), undefined);
    await apply(INGRESS);
    assert.notEqual((await routing(4)).rule, '');
    assert.equal(await dp.teardown(), true);
    assert.deepEqual(await routing(4), { rule: '', route: '' });
    const rules = await runChecked(['ip', 'rule', 'show'], { netns: topo.node });
    assert.doesNotMatch(rules.stdout, /fwmark/, 'no rule of ours is left');
    assert.equal(await dp.teardown(), false);
  });
});
