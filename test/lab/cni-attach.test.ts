import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePalisadeConfig } from '../../src/cni/config.js';
import { candidates, ipText, parseIpamConfig, rangeOf } from '../../src/cni/ipam/config.js';
import { requestedIps } from '../../src/cni/ipam/index.js';
import { parseRequestConfig } from '../../src/cni/env.js';
import type { CniEnv, RequestConfig } from '../../src/cni/spec.js';
import type { Ip } from '../../src/ir/cidr.js';
import { cidrContainsIp, parseCidr, parseIp } from '../../src/ir/cidr.js';
import type { Endpoint } from '../../src/ir/endpoint.js';
import {
  ipamRange,
  labCniBinDir,
  nodeNetworkList,
  nodeStateDir,
  podAttachment,
} from '../../src/lab/cni-attach.js';
import type { LabPlan } from '../../src/lab/topology.js';
import { planLab } from '../../src/lab/topology.js';

function pod(name: string, node: string, tweak: Partial<Endpoint> = {}): Endpoint {
  return {
    namespace: 'shop',
    name,
    labels: {},
    namespaceLabels: {},
    node,
    ips: [],
    ports: [],
    hostNetwork: false,
    ...tweak,
  };
}

function plan(podCidr = '10.9.0.0/24'): LabPlan {
  return planLab(
    {
      nodes: [{ name: 'n1', labels: {}, ips: [], podCIDRs: [podCidr] }],
      endpoints: [pod('web', 'n1'), pod('agent', 'n1', { hostNetwork: true })],
      routing: 'vxlan',
    },
    't-1',
  );
}

/** What the plugin would see: the list's plugin entry as the runtime sends it (runtime.ts). */
function requestConfig(p: LabPlan, extra?: Record<string, unknown>): RequestConfig {
  const node = p.nodes[0];
  assert.ok(node);
  const list = nodeNetworkList(p, node, nodeStateDir(p.id, node), extra);
  return parseRequestConfig(
    JSON.stringify({ ...list.plugins[0], cniVersion: list.cniVersion, name: list.name }),
  );
}

void describe('the lab network list', () => {
  void it('is a routed palisade network with the lab MTU, per-node state and the ips capability', () => {
    const p = plan();
    const conf = requestConfig(p);
    const pal = parsePalisadeConfig(conf);
    assert.deepEqual(
      [pal.mode, pal.mtu, pal.stateDir, conf.raw['capabilities'], conf.name],
      ['routed', 1450, '/run/palisade-lab/t-1/nodes/n-n1/cni', { ips: true }, 'pal-t-1'],
    );
    const ipam = parseIpamConfig(pal.ipam ?? {});
    assert.equal(ipam.dataDir, '/run/palisade-lab/t-1/nodes/n-n1/ipam');
    assert.equal(labCniBinDir('t-1'), '/run/palisade-lab/t-1/bin');
  });

  void it("merges the CNI host's fields, ipam field by field", () => {
    const conf = requestConfig(plan(), {
      agentSocket: '/run/x.sock',
      ipam: { exclude: ['10.9.0.9'] },
    });
    const pal = parsePalisadeConfig(conf);
    assert.equal(pal.agentSocket, '/run/x.sock');
    assert.deepEqual(pal.ipam?.['exclude'], ['10.9.0.9']);
    assert.equal(pal.ipam?.['type'], 'palisade');
  });

  const ranges: { name: string; cidr: string; planned: string[] }[] = [
    { name: 'a /30, as it is', cidr: '10.9.0.4/30', planned: ['10.9.0.5', '10.9.0.6'] },
    { name: 'a /31, lower half of its /30', cidr: '10.9.0.4/31', planned: ['10.9.0.4', '10.9.0.5'] },
    { name: 'a /31, upper half of its /30', cidr: '10.9.0.6/31', planned: ['10.9.0.6', '10.9.0.7'] },
    { name: 'a /32', cidr: '10.9.0.9/32', planned: ['10.9.0.9'] },
  ];
  for (const c of ranges) {
    void it(`IPAM grants every address the plan may take from ${c.name}, and hands out none outside`, () => {
      const [set] = parseIpamConfig({ type: 'palisade', ranges: [[ipamRange(c.cidr)]] }).rangeSets;
      const cidr = parseCidr(c.cidr);
      assert.ok(set && cidr);
      const ip = (t: string): Ip => parseIp(t) ?? assert.fail(t);
      // A requested address is granted when it lies in a range (reserveExact skips the gateway check).
      for (const t of c.planned) assert.ok(rangeOf(set, ip(t)), `${t} is in the range`);
      for (const v of candidates(set, [])) {
        assert.ok(cidrContainsIp(cidr, { family: 4, value: v }), `${ipText(4, v)} is in ${c.cidr}`);
      }
    });
  }
});

void describe('the pod attachment', () => {
  void it("is the runtime's: container id, netns path, eth0, pod identity, the planned IP", () => {
    const p = plan();
    const [node] = p.nodes;
    const web = p.pods.find((x) => x.name === 'web');
    assert.ok(node && web?.containerId);
    const att = podAttachment(web, node);
    assert.deepEqual(
      [att.containerId, att.netns, att.ifname, att.capabilityArgs],
      [web.containerId, `/run/netns/${web.netns}`, 'eth0', { ips: [`${web.ip}/24`] }],
    );
    assert.deepEqual(
      att.args?.filter(([k]) => k.startsWith('K8S_POD_N')),
      [
        ['K8S_POD_NAMESPACE', 'shop'],
        ['K8S_POD_NAME', 'web'],
      ],
    );
    const env = { args: att.args ?? [] } as unknown as CniEnv;
    const conf = { runtimeConfig: att.capabilityArgs } as unknown as RequestConfig;
    assert.deepEqual(requestedIps(env, conf), [web.ip], 'IPAM reads the planned address');
  });

  void it('does not exist for a host-network pod', () => {
    const p = plan();
    const agent = p.pods.find((x) => x.name === 'agent');
    const [node] = p.nodes;
    assert.ok(agent && node);
    assert.throws(() => podAttachment(agent, node), /host network/);
  });
});
