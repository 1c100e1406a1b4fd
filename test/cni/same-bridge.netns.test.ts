/**
 * Policy-only chaining with two pods on the same Linux bridge: their traffic is switched, not routed, so
 * only bridge netfilter brings it to the `inet` forward hook where the palisade table enforces. The
 * node netns starts with `bridge-nf-call-iptables=0` (this kernel's default is 1, a node's often 0), the
 * plugin's ADD must turn it on, and real TCP between the two same-bridge pods then obeys policy compiled
 * from the endpoint records, while a third pod routed in from outside the bridge is still governed too.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listRecords } from '../../src/cni/endpoints.js';
import { PluginFailure, addNetworkList, checkNetworkList, delNetworkList } from '../../src/cni/runtime.js';
import type { NetworkList } from '../../src/cni/runtime.js';
import type { CniResult } from '../../src/cni/spec.js';
import { applyNftables, compileNftables, resolveNodeRules } from '../../src/datapath/index.js';
import { buildModel } from '../../src/engine/index.js';
import type { Policy } from '../../src/ir/index.js';
import { cidrPeer, cluster, netpol, node, pod, podPeer, rule, tcp } from '../datapath/support/builders.js';
import type { CniLab } from './support.js';
import { createCniLab, debianPluginsUnavailable, leftovers, privilegedUnavailable } from './support.js';

const skip = privilegedUnavailable() ?? debianPluginsUnavailable();
const PORT = 8080;
const NODE_IP = '10.96.1.1';
const REMOTE_IP = '10.96.1.2';
const NF_CALL = '/proc/sys/net/bridge/bridge-nf-call-iptables';

function sh(argv: string[]): string {
  const r = spawnSync(argv[0] ?? 'false', argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A sysctl of the named netns (sysctls under net/ are per network namespace). */
const sysctl = (netns: string, path: string): string =>
  sh(['ip', 'netns', 'exec', netns, 'cat', path]).trim();
const setSysctl = (netns: string, path: string, value: string): void => {
  sh(['ip', 'netns', 'exec', netns, 'sh', '-c', `echo ${value} > ${path}`]);
};

/** True when a TCP connection from `netns` to ip:PORT completes within 700 ms. */
function connects(netns: string, ip: string): boolean {
  const js = `const s=require('net').connect(${PORT},'${ip}',()=>process.exit(0));s.on('error',()=>process.exit(1));setTimeout(()=>process.exit(2),700)`;
  return spawnSync('ip', ['netns', 'exec', netns, process.execPath, '-e', js]).status === 0;
}

describe('policy-only behind a bridge: same-bridge traffic is enforced', { skip }, () => {
  let lab: CniLab;
  let server: ChildProcess | undefined;
  before(async () => {
    lab = await createCniLab();
  });
  after(async () => {
    server?.kill('SIGKILL');
    await lab.destroy();
  });

  it('ADD turns bridge netfilter on; policy holds between two pods of the bridge and from a routed pod', async () => {
    const list: NetworkList = {
      cniVersion: '1.0.0',
      name: 'pal-samebr',
      plugins: [
        {
          type: 'bridge',
          bridge: 'pal-br1',
          isGateway: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: '10.97.1.0/24' }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: join(lab.tmp, 'host-local'),
          },
        },
        { type: 'palisade', mode: 'policy-only', stateDir: lab.stateDir },
      ],
    };
    setSysctl(lab.node, NF_CALL, '0');
    const [web = '', neighbour = '', remote = ''] = lab.pods(3);
    const added: [string, CniResult][] = [];
    const attach = async (netns: string, id: string): Promise<string> => {
      const att = lab.attachment(netns, id);
      const result = await addNetworkList(list, att, lab.runtime);
      added.push([netns, result]);
      return result.ips?.[0]?.address.split('/')[0] ?? '';
    };
    const webIp = await attach(web, 'web');
    const neighbourIp = await attach(neighbour, 'neighbour');
    assert.equal(sysctl(lab.node, NF_CALL), '1', 'policy-only ADD behind a bridge turned it on');
    assert.equal(
      sh(['ip', '-n', lab.node, '-o', 'link', 'show', 'master', 'pal-br1']).trim().split('\n').length,
      2,
      'both pods are ports of the same bridge',
    );

    // A third pod outside the bridge, routed through the node as traffic from other nodes is.
    sh([
      'ip',
      '-n',
      lab.node,
      'link',
      'add',
      'pal-rm',
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      remote,
    ]);
    sh(['ip', '-n', lab.node, 'addr', 'add', `${NODE_IP}/24`, 'dev', 'pal-rm']);
    sh(['ip', '-n', lab.node, 'link', 'set', 'pal-rm', 'up']);
    sh(['ip', 'netns', 'exec', lab.node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    sh(['ip', '-n', remote, 'addr', 'add', `${REMOTE_IP}/24`, 'dev', 'eth0']);
    sh(['ip', '-n', remote, 'link', 'set', 'eth0', 'up']);
    sh(['ip', '-n', remote, 'route', 'add', 'default', 'via', NODE_IP]);

    server = spawn(
      'ip',
      [
        'netns',
        'exec',
        web,
        process.execPath,
        '-e',
        `require('net').createServer((s)=>s.end()).listen(${PORT})`,
      ],
      { stdio: 'ignore' },
    );
    let up = false;
    for (let i = 0; i < 20 && !up; i++)
      up = connects(neighbour, webIp) || (await new Promise((r) => setTimeout(r, 50)), false);
    assert.ok(up, 'the neighbour reaches web before any policy');
    assert.equal(connects(remote, webIp), true, 'and so does the routed pod');

    // The enforcement side, as the agent does it: endpoints from the records, policy compiled for the node.
    const records = await listRecords(lab.stateDir, 'pal-samebr');
    const endpoints = records.map((r) => pod('x', r.containerId, r.ips[0] ?? ''));
    assert.deepEqual(endpoints.map((e) => e.ips[0]).sort(), [neighbourIp, webIp].sort());
    const enforce = async (policies: Policy[]): Promise<void> => {
      const rules = resolveNodeRules(
        buildModel(cluster(endpoints, [node('node-1', NODE_IP)]), policies),
        'node-1',
      );
      await applyNftables(compileNftables(rules), { netns: lab.node });
    };

    await enforce([netpol('deny-web', 'x', 'web', { ingress: [] })]);
    assert.equal(connects(neighbour, webIp), false, 'isolation drops the same-bridge neighbour');
    assert.equal(connects(remote, webIp), false, 'and the routed pod');

    await enforce([
      netpol('allow-remote', 'x', 'web', { ingress: [rule([cidrPeer(`${REMOTE_IP}/32`)], [tcp(PORT)])] }),
    ]);
    assert.equal(connects(remote, webIp), true, 'routed ingress that policy allows passes');
    assert.equal(connects(neighbour, webIp), false, 'same-bridge traffic it does not allow stays blocked');

    await enforce([
      netpol('allow-neighbour', 'x', 'web', { ingress: [rule([podPeer('neighbour')], [tcp(PORT)])] }),
    ]);
    assert.equal(connects(neighbour, webIp), true, 'the same-bridge pod the policy selects passes');
    assert.equal(connects(remote, webIp), false, 'the routed pod it does not select is blocked');

    // Why ADD sets it: switched off, the same-bridge pod bypasses a policy that denies it, and CHECK says so.
    await enforce([netpol('deny-web', 'x', 'web', { ingress: [] })]);
    setSysctl(lab.node, NF_CALL, '0');
    assert.equal(connects(neighbour, webIp), true, 'with bridge netfilter off the bridge bypasses policy');
    const [webNs = '', webResult] = added[0] ?? [];
    assert.ok(webResult);
    await assert.rejects(
      checkNetworkList(list, lab.attachment(webNs, 'web'), webResult, lab.runtime),
      (e: unknown) => e instanceof PluginFailure && e.plugin === 'palisade' && e.code === 103,
    );
    setSysctl(lab.node, NF_CALL, '1');
    assert.equal(connects(neighbour, webIp), false, 'back on, the deny holds again');
    await checkNetworkList(list, lab.attachment(webNs, 'web'), webResult, lab.runtime);

    server.kill('SIGKILL');
    server = undefined;
    sh(['ip', 'netns', 'exec', lab.node, 'nft', 'delete', 'table', 'inet', 'palisade']);
    for (const [netns, result] of added) {
      const id = netns === web ? 'web' : 'neighbour';
      await delNetworkList(list, lab.attachment(netns, id), result, lab.runtime);
    }
    assert.deepEqual((await leftovers(lab, 'pal-samebr')).records, []);
  });
});
