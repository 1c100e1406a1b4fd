/**
 * The plugin on a real (private) node, as a runtime drives it: every supported spec version through
 * ADD/CHECK/DEL/GC, CHECK noticing a missing interface, address or route, idempotent DEL, the namespace
 * checks, fail-closed registration with the agent, 200 parallel ADDs, and a killed ADD cleaned by DEL/GC.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { unlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readRecord } from '../../src/cni/endpoints.js';
import { execPlugin } from '../../src/cni/exec.js';
import {
  PluginFailure,
  addNetworkList,
  checkNetworkList,
  delNetworkList,
  gcNetworkList,
} from '../../src/cni/runtime.js';
import type { Attachment } from '../../src/cni/runtime.js';
import type { CniResult } from '../../src/cni/spec.js';
import { SUPPORTED_VERSIONS, compareVersions } from '../../src/cni/version.js';
import type { CniLab } from './support.js';
import { createCniLab, leftovers, privilegedUnavailable, routedNetwork } from './support.js';

const skip = privilegedUnavailable();
const NONE = { links: [], ips: [], records: [] };

function ip(netns: string, args: string[]): string {
  const r = spawnSync('ip', ['-n', netns, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip -n ${netns} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function failure(p: Promise<unknown>): Promise<PluginFailure> {
  try {
    await p;
  } catch (e) {
    if (e instanceof PluginFailure) return e;
    throw e;
  }
  assert.fail('expected the plugin to fail');
}

/** A fake agent speaking agent-client.ts's protocol; `answer` decides each reply (undefined: never answer). */
async function fakeAgent(path: string, answer: (req: { type: string }) => object | undefined) {
  const requests: {
    type: string;
    endpoint?: { ips: string[]; pod?: { namespace?: string; name?: string } };
  }[] = [];
  const conns: Socket[] = [];
  const server: Server = createServer((c) => {
    conns.push(c);
    let buf = '';
    c.on('data', (b) => {
      buf += b.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const req = JSON.parse(buf.slice(0, nl)) as (typeof requests)[number];
      requests.push(req);
      const reply = answer(req);
      if (reply !== undefined) c.end(JSON.stringify(reply) + '\n');
    });
    c.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    requests,
    close: () => {
      for (const c of conns) c.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('palisade CNI plugin on a node', { skip }, () => {
  let lab: CniLab;
  before(async () => {
    lab = await createCniLab({ server: true });
  });
  after(async () => {
    await lab.destroy();
  });

  for (const version of SUPPORTED_VERSIONS) {
    for (const type of version === '1.1.0' ? ['palisade-shim', 'palisade'] : ['palisade-shim']) {
      it(`${version} via ${type}: ADD, CHECK, CHECK detecting breakage, DEL twice, nothing left`, async () => {
        const net = routedNetwork(lab, version, type);
        const [pod = ''] = lab.pods(1);
        const att = lab.attachment(pod, `c-${version.replace(/\./g, '')}-${type}`);
        const result = await addNetworkList(net, att, lab.runtime);
        assert.equal(result.cniVersion, version);
        const addr = result.ips?.[0]?.address ?? '';
        assert.match(addr, /^10\.98\.\d+\.\d+\/32$/);
        assert.equal(result.ips?.[0]?.version, compareVersions(version, '1.0.0') < 0 ? '4' : undefined);
        assert.equal(result.interfaces?.[1]?.sandbox, att.netns);
        assert.match(ip(pod, ['addr', 'show', 'eth0']), new RegExp(`inet ${addr.replace('/32', '')}/32`));
        assert.match(ip(pod, ['route']), /default via 169\.254\.1\.1 dev eth0/);
        const record = await readRecord(lab.stateDir, 'pal-net', att.containerId, 'eth0');
        assert.equal(record?.state, 'ready');
        assert.deepEqual(record?.pod, { namespace: 'x', name: att.containerId });

        if (compareVersions(version, '0.4.0') >= 0) {
          await checkNetworkList(net, att, result, lab.runtime);
          const bare = addr.replace('/32', '');
          ip(pod, ['route', 'del', 'default']);
          assert.match(
            (await failure(checkNetworkList(net, att, result, lab.runtime))).msg,
            /route 0\.0\.0\.0\/0 via 169\.254\.1\.1 missing/,
          );
          ip(pod, ['addr', 'del', `${bare}/32`, 'dev', 'eth0']);
          const noAddr = await failure(checkNetworkList(net, att, result, lab.runtime));
          assert.equal(noAddr.code, 103);
          assert.match(noAddr.msg, /address .* missing/);
          ip(pod, ['link', 'del', 'eth0']);
          assert.match(
            (await failure(checkNetworkList(net, att, result, lab.runtime))).msg,
            /interface eth0 missing/,
          );
        } else {
          assert.equal((await failure(checkNetworkList(net, att, result, lab.runtime))).code, 1);
        }
        await delNetworkList(net, att, result, lab.runtime);
        await delNetworkList(net, att, result, lab.runtime);
        // A DEL without prevResult and without the netns still succeeds.
        await delNetworkList(net, { ...att, netns: '' }, undefined, lab.runtime);
        assert.deepEqual(await leftovers(lab, 'pal-net'), NONE);
      });
    }
  }

  it('GC frees what is not in cni.dev/valid-attachments and keeps what is', async () => {
    const net = routedNetwork(lab, '1.1.0', 'palisade-shim');
    const [p1 = '', p2 = ''] = lab.pods(2);
    const keep = lab.attachment(p1, 'gc-keep');
    const drop = lab.attachment(p2, 'gc-drop');
    const r1 = await addNetworkList(net, keep, lab.runtime);
    await addNetworkList(net, drop, lab.runtime);
    await gcNetworkList(net, [{ containerID: 'gc-keep', ifname: 'eth0' }], lab.runtime);
    const left = await leftovers(lab, 'pal-net');
    assert.deepEqual(left.records, ['gc-keep/eth0']);
    assert.deepEqual(left.ips, [r1.ips?.[0]?.address.replace('/32', '')]);
    assert.equal(left.links.length, 1);
    await delNetworkList(net, keep, r1, lab.runtime);
    assert.deepEqual(await leftovers(lab, 'pal-net'), NONE);
  });

  // SPEC.md section 2, ADD: "If an interface of the requested name already exists in the container, the
  // CNI plugin MUST return with an error"; code 4 (SPEC.md "Error") names the variable: CNI_IFNAME.
  it('refuses an interface name that exists in the container (code 4, CNI_IFNAME), and leaves nothing', async () => {
    const net = routedNetwork(lab, '1.1.0', 'palisade-shim');
    const [pod = ''] = lab.pods(1);
    ip(pod, ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'pal-other']);
    const e = await failure(addNetworkList(net, lab.attachment(pod, 'dup-if'), lab.runtime));
    assert.equal(e.code, 4);
    assert.equal(e.msg, 'CNI_IFNAME: interface eth0 already exists in the container');
    assert.doesNotMatch(`${e.msg} ${e.details}`, /RTNETLINK|File exists/);
    assert.deepEqual(await leftovers(lab, 'pal-net'), NONE);
  });

  // SPEC.md section 2: CNI_PATH is an optional parameter of ADD, DEL and CHECK (built-in IPAM needs none).
  it('ADD, CHECK and DEL without CNI_PATH attach and detach a pod', async () => {
    const net = routedNetwork(lab, '1.1.0', 'palisade-shim');
    const [pod = ''] = lab.pods(1);
    const conf = JSON.stringify({ ...net.plugins[0], cniVersion: net.cniVersion, name: net.name });
    const run = async (command: string, stdin: string) => {
      const env = {
        PALISADE_CNI_SOCKET: lab.socket,
        CNI_COMMAND: command,
        CNI_CONTAINERID: 'no-path',
        CNI_NETNS: `/run/netns/${pod}`,
        CNI_IFNAME: 'eth0',
      };
      const out = await execPlugin(join(lab.binDir, 'palisade-shim'), env, stdin);
      assert.equal(out.exitCode, 0, `${command}: ${out.stdout}`);
      return out.stdout;
    };
    const result = JSON.parse(await run('ADD', conf)) as CniResult;
    assert.match(result.ips?.[0]?.address ?? '', /^10\.98\.\d+\.\d+\/32$/);
    const withPrev = JSON.stringify({ ...(JSON.parse(conf) as object), prevResult: result });
    await run('CHECK', withPrev);
    await run('DEL', withPrev);
    assert.deepEqual(await leftovers(lab, 'pal-net'), NONE);
  });

  // SPEC.md section 2, ADD: a plugin given a prevResult "MUST handle prevResult by either passing it
  // through, or modifying it appropriately"; section 5, "ADD Success": with its own modifications included.
  it('ADD after another plugin passes its prevResult on with our interfaces, addresses and routes added', async () => {
    const net = routedNetwork(lab, '1.1.0', 'palisade-shim');
    const [pod = ''] = lab.pods(1);
    const att = lab.attachment(pod, 'chained');
    const prevResult: CniResult = {
      cniVersion: '1.1.0',
      interfaces: [{ name: 'net1', mac: '02:00:00:00:01:01', sandbox: att.netns }],
      ips: [{ address: '192.0.2.7/24', gateway: '192.0.2.1', interface: 0 }],
      routes: [{ dst: '198.51.100.0/24', gw: '192.0.2.1' }],
      dns: { nameservers: ['192.0.2.53'] },
    };
    const { invokePlugin } = await import('../../src/cni/runtime.js');
    const conf = { ...net.plugins[0], cniVersion: net.cniVersion, name: net.name, prevResult };
    const out = await invokePlugin('palisade-shim', 'ADD', conf, att, lab.runtime);
    assert.equal(out.exitCode, 0, out.stdout);
    const result = JSON.parse(out.stdout) as CniResult;
    assert.deepEqual(result.interfaces?.[0], prevResult.interfaces?.[0]);
    assert.deepEqual(
      result.interfaces?.slice(1).map((i) => i.sandbox ?? ''),
      ['', att.netns],
      'then our host end and our container end',
    );
    assert.equal(result.interfaces?.[2]?.name, 'eth0');
    assert.deepEqual(result.ips?.[0], prevResult.ips?.[0]);
    assert.match(result.ips?.[1]?.address ?? '', /^10\.98\.\d+\.\d+\/32$/);
    assert.equal(result.ips?.[1]?.interface, 2, "our address points at our interface's new index");
    assert.deepEqual(result.routes?.[0], prevResult.routes?.[0]);
    assert.deepEqual(result.routes?.slice(1), [{ dst: '0.0.0.0/0', gw: '169.254.1.1' }]);
    assert.deepEqual(result.dns, prevResult.dns);
    // The chained result is what the runtime keeps: CHECK and DEL given it still find our attachment.
    await checkNetworkList(net, att, result, lab.runtime);
    await delNetworkList(net, att, result, lab.runtime);
    assert.deepEqual(await leftovers(lab, 'pal-net'), NONE);
  });

  it("refuses the plugin's own netns as CNI_NETNS (code 4)", async () => {
    const net = routedNetwork(lab, '1.1.0', 'palisade-shim');
    const att: Attachment = { containerId: 'own-ns', netns: `/run/netns/${lab.node}`, ifname: 'eth0' };
    assert.equal((await failure(addNetworkList(net, att, lab.runtime))).code, 4);
  });

  describe('registration with the agent', () => {
    it('fails closed (code 11) when the agent socket refuses, and leaves nothing', async () => {
      const refusing = join(lab.tmp, 'refusing.sock');
      await writeFile(refusing, ''); // a file that is no socket: connect() is refused
      for (const agentSocket of [refusing, join(lab.tmp, 'absent.sock')]) {
        const net = routedNetwork(lab, '1.1.0', 'palisade-shim', { agentSocket, failClosed: true });
        const [pod = ''] = lab.pods(1);
        const e = await failure(addNetworkList(net, lab.attachment(pod, 'closed'), lab.runtime));
        assert.equal(e.code, 11);
        assert.match(`${e.msg} ${e.details}`, /agent unreachable .*failClosed/);
        assert.deepEqual(await leftovers(lab, 'pal-net'), NONE);
      }
      await unlink(refusing);
    });

    it('attaches with a warning when failClosed is false', async () => {
      const net = routedNetwork(lab, '1.1.0', 'palisade-shim', { agentSocket: join(lab.tmp, 'absent.sock') });
      const [pod = ''] = lab.pods(1);
      const att = lab.attachment(pod, 'open');
      const r = await addNetworkList(net, att, lab.runtime);
      await delNetworkList(net, att, r, lab.runtime);
      assert.deepEqual(await leftovers(lab, 'pal-net'), NONE);
    });

    it('registers the endpoint before ADD returns; a refusal (code 102) rolls everything back', async () => {
      let accept = true;
      const path = join(lab.tmp, 'agent.sock');
      const agent = await fakeAgent(path, () =>
        accept ? { ok: true } : { ok: false, reason: 'policy sync failed' },
      );
      try {
        const net = routedNetwork(lab, '1.1.0', 'palisade-shim', { agentSocket: path, failClosed: true });
        const [p1 = '', p2 = ''] = lab.pods(2);
        const att = lab.attachment(p1, 'reg-ok');
        const r = await addNetworkList(net, att, lab.runtime);
        const added = agent.requests.find((q) => q.type === 'endpoint-added');
        assert.deepEqual(added?.endpoint?.ips, [r.ips?.[0]?.address.replace('/32', '')]);
        assert.deepEqual(added?.endpoint?.pod, { namespace: 'x', name: 'reg-ok' });
        await checkNetworkList(net, att, r, lab.runtime);
        await delNetworkList(net, att, r, lab.runtime);
        assert.ok(agent.requests.some((q) => q.type === 'endpoint-removed'));
        accept = false;
        const e = await failure(addNetworkList(net, lab.attachment(p2, 'reg-no'), lab.runtime));
        assert.equal(e.code, 102);
        assert.match(e.details, /policy sync failed/);
        assert.deepEqual(await leftovers(lab, 'pal-net'), NONE);
      } finally {
        await agent.close();
      }
    });
  });

  it('200 parallel ADDs get 200 distinct addresses; DEL leaves nothing', async () => {
    const net = routedNetwork(lab, '1.1.0', 'palisade-shim');
    const pods = lab.pods(200);
    const atts = pods.map((p, i) => lab.attachment(p, `par-${i}`));
    const results = await Promise.all(atts.map((a) => addNetworkList(net, a, lab.runtime)));
    const addrs = results.map((r) => r.ips?.[0]?.address);
    assert.equal(new Set(addrs).size, 200, 'no duplicate IPs');
    const left = await leftovers(lab, 'pal-net');
    assert.equal(left.ips.length, 200);
    assert.equal(left.links.length, 200);
    await Promise.all(atts.map((a, i) => delNetworkList(net, a, results[i], lab.runtime)));
    assert.deepEqual(await leftovers(lab, 'pal-net'), NONE);
  });

  it('an ADD killed halfway is cleaned up by DEL, and another by GC', async () => {
    const path = join(lab.tmp, 'hung-agent.sock');
    // An agent that takes the request and never answers: ADD has made everything and waits there.
    const agent = await fakeAgent(path, () => undefined);
    try {
      const plugin = {
        type: 'palisade',
        stateDir: lab.stateDir,
        agentSocket: path,
        failClosed: true,
        agentTimeoutMs: 60_000,
      };
      const conf = {
        cniVersion: '1.1.0',
        name: 'pal-net',
        ...plugin,
        ipam: { type: 'palisade', ranges: [[{ subnet: '10.98.0.0/16' }]], dataDir: lab.ipamDir },
      };
      const killedAdd = async (containerId: string, pod: string): Promise<void> => {
        const seen = agent.requests.length;
        let pid = 0;
        const run = execPlugin(
          join(lab.binDir, 'palisade'),
          {
            PATH: process.env['PATH'] ?? '',
            CNI_COMMAND: 'ADD',
            CNI_CONTAINERID: containerId,
            CNI_NETNS: `/run/netns/${pod}`,
            CNI_IFNAME: 'eth0',
            CNI_PATH: lab.binDir,
          },
          JSON.stringify(conf),
          { onSpawn: (p) => (pid = p) },
        );
        for (let i = 0; i < 200 && agent.requests.length === seen; i++)
          await new Promise((r) => setTimeout(r, 50));
        assert.ok(agent.requests.length > seen, 'the ADD reached the agent');
        process.kill(pid, 'SIGKILL');
        assert.notEqual((await run).exitCode, 0);
        const left = await leftovers(lab, 'pal-net');
        assert.equal(left.links.length, 1, 'the killed ADD left its veth');
        assert.equal(left.ips.length, 1, 'and its address');
      };
      const [p1 = '', p2 = ''] = lab.pods(2);
      const net = {
        cniVersion: '1.1.0',
        name: 'pal-net',
        plugins: [{ ...plugin, type: 'palisade-shim', agentTimeoutMs: 200, ipam: conf.ipam }],
      };
      await killedAdd('killed-1', p1);
      await delNetworkList(net, lab.attachment(p1, 'killed-1'), undefined, lab.runtime);
      assert.deepEqual(await leftovers(lab, 'pal-net'), NONE);
      await killedAdd('killed-2', p2);
      await gcNetworkList(
        { ...net, plugins: net.plugins.map((p) => ({ ...p, agentSocket: join(lab.tmp, 'absent.sock') })) },
        [],
        lab.runtime,
      );
      assert.deepEqual(await leftovers(lab, 'pal-net'), NONE);
    } finally {
      await agent.close();
    }
  });

  it('STATUS: ready with free addresses, code 50 when a fail-closed agent is unreachable', async () => {
    const ok = routedNetwork(lab, '1.1.0', 'palisade-shim');
    const { invokePlugin } = await import('../../src/cni/runtime.js');
    const conf = (n: ReturnType<typeof routedNetwork>) => ({
      ...n.plugins[0],
      cniVersion: n.cniVersion,
      name: n.name,
    });
    assert.equal(
      (await invokePlugin('palisade-shim', 'STATUS', conf(ok), undefined, lab.runtime)).exitCode,
      0,
    );
    const down = routedNetwork(lab, '1.1.0', 'palisade-shim', {
      agentSocket: join(lab.tmp, 'absent.sock'),
      failClosed: true,
    });
    const out = await invokePlugin('palisade-shim', 'STATUS', conf(down), undefined, lab.runtime);
    assert.equal(out.exitCode, 1);
    assert.equal((JSON.parse(out.stdout) as CniResult & { code: number }).code, 50);
  });
});
