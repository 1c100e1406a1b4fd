/**
 * Policy-only chaining: Debian's bridge + host-local make the pod's interface, `palisade` in
 * `mode: policy-only` after them finds it from prevResult (and the veth peer on the host), records the
 * endpoint, and passes the result through. "Enforced" here means what will be wired in the agent: the
 * enforcement reads the endpoint records, compiles policy for those IPs with the nftables datapath, and
 * applies it on the node, and real TCP from a client routed through the node obeys it.
 *
 * The client here is routed through the node, as traffic from other nodes is. Two pods on the same
 * bridge (switched, not routed) are covered by same-bridge.netns.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyNftables, compileNftables, resolveNodeRules } from '../../src/datapath/index.js';
import { listRecords } from '../../src/cni/endpoints.js';
import { addNetworkList, checkNetworkList, delNetworkList } from '../../src/cni/runtime.js';
import type { NetworkList } from '../../src/cni/runtime.js';
import { buildModel } from '../../src/engine/index.js';
import type { Policy } from '../../src/ir/index.js';
import { cidrPeer, cluster, netpol, node, pod, rule, tcp } from '../datapath/support/builders.js';
import type { CniLab } from './support.js';
import { createCniLab, debianPluginsUnavailable, leftovers, privilegedUnavailable } from './support.js';

const skip = privilegedUnavailable() ?? debianPluginsUnavailable();
const CLIENT_IP = '10.96.0.2';
const NODE_IP = '10.96.0.1';
const PORT = 8080;

function sh(argv: string[]): void {
  const r = spawnSync(argv[0] ?? 'false', argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
}

/** 'open' when a TCP connection from `netns` completes within 700 ms. */
function connects(netns: string, ip: string): boolean {
  const js = `const s=require('net').connect(${PORT},'${ip}',()=>process.exit(0));s.on('error',()=>process.exit(1));setTimeout(()=>process.exit(2),700)`;
  return spawnSync('ip', ['netns', 'exec', netns, process.execPath, '-e', js]).status === 0;
}

describe('policy-only after the Debian bridge plugin', { skip }, () => {
  let lab: CniLab;
  let server: ChildProcess | undefined;
  before(async () => {
    lab = await createCniLab();
  });
  after(async () => {
    server?.kill('SIGKILL');
    await lab.destroy();
  });

  for (const version of ['0.4.0', '1.0.0']) {
    it(`${version}: finds the bridge's interface, records it, passes the result through; policy on it holds`, async () => {
      const list: NetworkList = {
        cniVersion: version,
        name: 'pal-chain',
        plugins: [
          {
            type: 'bridge',
            bridge: 'pal-br0',
            isGateway: true,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: '10.97.0.0/24' }]],
              routes: [{ dst: '0.0.0.0/0' }],
              dataDir: join(lab.tmp, 'host-local'),
            },
          },
          { type: 'palisade', mode: 'policy-only', stateDir: lab.stateDir },
        ],
      };
      const [web = '', client = ''] = lab.pods(2);
      const att = lab.attachment(web, `web-${version.replace(/\./g, '')}`);
      const result = await addNetworkList(list, att, lab.runtime);
      const podIp = result.ips?.[0]?.address.split('/')[0] ?? '';
      assert.match(podIp, /^10\.97\.0\.\d+$/);
      const hostVeth = result.interfaces?.find((i) => (i.sandbox ?? '') === '' && i.name !== 'pal-br0')?.name;
      const record = (await listRecords(lab.stateDir, 'pal-chain')).find(
        (r) => r.containerId === att.containerId,
      );
      assert.equal(record?.mode, 'policy-only');
      assert.deepEqual(record?.ips, [podIp]);
      assert.equal(record?.hostIfname, hostVeth, 'the host end is the veth the bridge plugin made');
      await checkNetworkList(list, att, result, lab.runtime);

      // A client routed through the node, and a server in the pod.
      sh([
        'ip',
        '-n',
        lab.node,
        'link',
        'add',
        'pal-cl',
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        client,
      ]);
      sh(['ip', '-n', lab.node, 'addr', 'add', `${NODE_IP}/24`, 'dev', 'pal-cl']);
      sh(['ip', '-n', lab.node, 'link', 'set', 'pal-cl', 'up']);
      sh(['ip', 'netns', 'exec', lab.node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      sh(['ip', '-n', client, 'addr', 'add', `${CLIENT_IP}/24`, 'dev', 'eth0']);
      sh(['ip', '-n', client, 'link', 'set', 'eth0', 'up']);
      sh(['ip', '-n', client, 'route', 'add', 'default', 'via', NODE_IP]);
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
        up = connects(client, podIp) || (await new Promise((r) => setTimeout(r, 50)), false);
      assert.ok(up, 'reachable before any policy');

      // The enforcement side: endpoints come from the records, policy from the API (here: built).
      const endpoints = (await listRecords(lab.stateDir, 'pal-chain'))
        .filter((r) => r.containerId === att.containerId)
        .map((r) => pod(r.pod?.namespace ?? 'x', 'web', r.ips[0] ?? ''));
      const enforce = async (policies: Policy[]): Promise<void> => {
        const rules = resolveNodeRules(
          buildModel(cluster(endpoints, [node('node-1', NODE_IP)]), policies),
          'node-1',
        );
        await applyNftables(compileNftables(rules), { netns: lab.node });
      };
      await enforce([netpol('deny-web', 'x', 'web', { ingress: [] })]);
      assert.equal(connects(client, podIp), false, 'an isolating policy drops the client');
      await enforce([
        netpol('allow-client', 'x', 'web', { ingress: [rule([cidrPeer(`${CLIENT_IP}/32`)], [tcp(PORT)])] }),
      ]);
      assert.equal(connects(client, podIp), true, 'an allowing policy lets it in');

      server.kill('SIGKILL');
      server = undefined;
      sh(['ip', '-n', lab.node, 'link', 'del', 'pal-cl']);
      sh(['ip', 'netns', 'exec', lab.node, 'nft', 'delete', 'table', 'inet', 'palisade']);
      await delNetworkList(list, att, result, lab.runtime);
      await delNetworkList(list, att, result, lab.runtime);
      assert.deepEqual((await leftovers(lab, 'pal-chain')).records, []);
      assert.equal(
        spawnSync('ip', ['-n', lab.node, 'link', 'show', hostVeth ?? '']).status,
        1,
        'bridge removed its veth',
      );
    });
  }
});
