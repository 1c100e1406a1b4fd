// Needs root, `ip netns` and a C compiler (the plugin shim): the lab attaches every pod through Palisade's
// CNI plugin, as a runtime does, and this checks the plugin's work in the kernel and in its state.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listRecords } from '../../src/cni/endpoints.js';
import { checkNetworkList } from '../../src/cni/runtime.js';
import type { CniResult } from '../../src/cni/spec.js';
import type { ClusterNode, Endpoint } from '../../src/ir/endpoint.js';
import { LabCniError, cniStateDir, ipamDataDir, labNetworkName } from '../../src/lab/cni-attach.js';
import type { CniHost, CniHostNode } from '../../src/lab/cni-host.js';
import { labDown } from '../../src/lab/fabric.js';
import { CNI_SERVER_NAME, serverProcessHost } from '../../src/lab/cni-host.js';
import type { Lab } from '../../src/lab/lab.js';
import { labUp } from '../../src/lab/lab.js';
import { netnsInScope } from '../../src/lab/lab-id.js';
import { listLinks, listNetns, netnsSupport, run } from '../../src/lab/netns.js';
import { defaultProbeBinary } from '../../src/lab/probe-process.js';
import { labStateDir } from '../../src/lab/state.js';
import type { PlannedPod } from '../../src/lab/topology.js';

const support = await netnsSupport();
const probeBinary = await access(defaultProbeBinary()).then(
  () => true,
  () => false,
);
const skip = !support.ok
  ? support.reason
  : !probeBinary
    ? 'dist/native/pal-probe missing: run npm run build:native'
    : spawnSync('cc', ['--version']).status !== 0
      ? 'no C compiler for the CNI shim'
      : false;

const newId = (): string => `t-${randomBytes(4).toString('hex')}`;

const nodes: ClusterNode[] = ['node-a', 'node-b'].map((name) => ({
  name,
  labels: {},
  ips: [],
  podCIDRs: [],
}));

function pod(name: string, node: string, tweak: Partial<Endpoint> = {}): Endpoint {
  return {
    namespace: 'default',
    name,
    labels: {},
    namespaceLabels: {},
    node,
    ips: [],
    ports: [{ port: 80, protocol: 'TCP' }],
    hostNetwork: false,
    ...tweak,
  };
}

/** Processes started for lab `id`: the probe process and the CNI servers carry `--lab=<id>`. */
async function labPids(id: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir('/proc')) {
    const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmd.split('\0').includes(`--lab=${id}`)) {
      const comm = await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '?');
      found.push(`pid ${entry} (${comm.trim()})`);
    }
  }
  return found;
}

/** What is left of lab `id`: netns, processes, state dir (which holds the CNI records and IPAM data). */
async function leftovers(id: string): Promise<string[]> {
  const netns = (await listNetns()).filter((n) => netnsInScope(n, { id }));
  const state = await access(labStateDir(id)).then(
    () => [labStateDir(id)],
    () => [],
  );
  return [...netns, ...(await labPids(id)), ...state];
}

/** IPAM reservations of a node: one file per address, named by it (host-local's layout). */
async function reservations(stateDir: string, network: string): Promise<string[]> {
  const files = await readdir(join(ipamDataDir(stateDir), network)).catch(() => [] as string[]);
  return files.filter((f) => !f.startsWith('.') && !f.startsWith('last_reserved_ip')).sort();
}

interface AtClose {
  readonly node: string;
  readonly records: number;
  readonly reservations: readonly string[];
  readonly hostLinks: readonly string[];
}

/**
 * The default CNI host, observed: when the lab stops a node's host (after its DELs, before the netns go),
 * what the plugin's state and the node's links look like. `pluginConfig` per node, for breaking one.
 */
function observedHost(
  network: string,
  seen: AtClose[],
  pluginConfig: (node: CniHostNode) => Record<string, unknown> | undefined = () => undefined,
): CniHost {
  return async (node) => {
    const h = await serverProcessHost(node);
    const extra = pluginConfig(node);
    return {
      socket: h.socket,
      ...(extra === undefined ? {} : { pluginConfig: extra }),
      close: async () => {
        seen.push({
          node: node.name,
          records: (await listRecords(cniStateDir(node.stateDir), network)).length,
          reservations: await reservations(node.stateDir, network),
          // The plugin's host ends are `pal` + 12 hex; the fabric's are `pal-…`.
          hostLinks: (await listLinks(node.netns)).filter((l) => /^pal[0-9a-f]{12}$/.test(l)),
        });
        await h.close();
      },
    };
  };
}

interface IpAddr {
  readonly ifname: string;
  readonly mtu: number;
  readonly address: string;
  readonly link_index?: number;
  readonly addr_info: readonly {
    readonly family: string;
    readonly local: string;
    readonly prefixlen: number;
  }[];
}

async function eth0(netns: string): Promise<IpAddr | undefined> {
  const out = await run('ip', ['-n', netns, '-j', 'addr', 'show', 'dev', 'eth0']);
  return (JSON.parse(out) as IpAddr[])[0];
}

void describe('lab pods attached through the palisade CNI plugin', { skip }, () => {
  const id = newId();
  const network = labNetworkName(id);
  const seen: AtClose[] = [];
  let lab: Lab;
  let pods: PlannedPod[];
  before(async () => {
    lab = await labUp(
      {
        nodes,
        endpoints: [
          // status.podIP is honoured: the plan asks IPAM for it through the `ips` capability.
          pod('a-x', 'node-a', { ips: ['10.244.0.77'] }),
          pod('a-y', 'node-a'),
          pod('b-x', 'node-b'),
          pod('b-y', 'node-b'),
          pod('agent', 'node-a', { namespace: 'kube-system', hostNetwork: true }),
        ],
        routing: 'native',
      },
      { id, cniHost: observedHost(network, seen) },
    );
    pods = lab.pods.filter((p) => !p.hostNetwork);
  });
  after(async () => {
    await lab.down();
  });

  void it("gives each pod an eth0 the plugin made and recorded, with the pod's identity and planned IP", async () => {
    assert.equal(pods.find((p) => p.name === 'a-x')?.ip, '10.244.0.77');
    for (const p of pods) {
      const node = lab.cni.nodes.get(p.node);
      assert.ok(node, `node ${p.node} has a CNI host`);
      const records = await listRecords(cniStateDir(node.stateDir), network);
      const rec = records.find((r) => r.containerId === p.containerId);
      assert.ok(rec, `endpoint record of ${p.key}`);
      assert.deepEqual(
        [rec.pod, rec.ips, rec.state, rec.ifname, rec.netns, rec.mode],
        [
          { namespace: p.namespace, name: p.name },
          [p.ip],
          'ready',
          'eth0',
          `/run/netns/${p.netns}`,
          'routed',
        ],
      );
      const inner = await eth0(p.netns);
      const result: CniResult | undefined = lab.cni.result(p.key);
      const podIf = result?.interfaces?.find((i) => i.name === 'eth0');
      assert.ok(inner && podIf, `${p.key}: eth0 and its ADD result`);
      assert.deepEqual(
        inner.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
        [`${p.ip}/32`],
      );
      assert.deepEqual([inner.address, inner.mtu], [podIf.mac, lab.plan.podMtu]);
      assert.ok(
        (await listLinks(node.node.netns)).includes(rec.hostIfname ?? '?'),
        `${p.key}: its host end ${rec.hostIfname ?? '?'} is in the node netns`,
      );
    }
  });

  void it("keeps exactly the pods' addresses in each node's IPAM, and nothing for a host-network pod", async () => {
    for (const [name, node] of lab.cni.nodes) {
      const ips = pods
        .filter((p) => p.node === name)
        .map((p) => p.ip)
        .sort();
      assert.deepEqual(await reservations(node.stateDir, network), ips, `IPAM of ${name}`);
      assert.equal((await listRecords(cniStateDir(node.stateDir), network)).length, ips.length);
    }
    assert.equal(lab.cni.result('kube-system/agent'), undefined);
  });

  void it('carries a connection from a pod to a pod of another node over the plugin-made links', async () => {
    const [from, to] = [pods.find((p) => p.name === 'a-y'), pods.find((p) => p.name === 'b-x')];
    assert.ok(from && to);
    const out = await lab.prober.probe({
      netns: from.netns,
      ip: to.ip,
      port: 80,
      protocol: 'TCP',
      timeoutMs: 3000,
    });
    assert.deepEqual(out, { result: 'ok', reply: to.key });
  });

  void it('passes CNI CHECK through the runtime, which does look at the kernel', async () => {
    for (const p of pods) await lab.cni.check(p.key);
    const p = pods[0];
    const result = p && lab.cni.result(p.key);
    const node = p && lab.cni.nodes.get(p.node);
    assert.ok(p && result && node);
    const tampered: CniResult = {
      ...result,
      interfaces: (result.interfaces ?? []).map((i) =>
        i.name === 'eth0' ? { ...i, mac: '02:00:00:00:00:01' } : i,
      ),
    };
    await assert.rejects(checkNetworkList(node.list, lab.cni.attachment(p), tampered, node.runtime), /MAC/);
  });

  void it('down() deletes every pod through the plugin, then leaves no record, claim, netns or process', async () => {
    await lab.down();
    assert.deepEqual(seen.map((s) => s.node).sort(), ['node-a', 'node-b'], 'each node host was stopped once');
    for (const s of seen) {
      assert.deepEqual(
        [s.records, s.reservations, s.hostLinks],
        [0, [], []],
        `${s.node}: DEL removed records, IPAM claims and host links before the host stopped`,
      );
    }
    assert.deepEqual(await leftovers(id), []);
    assert.deepEqual(
      (await labPids(id)).filter((p) => p.includes(CNI_SERVER_NAME)),
      [],
      'no CNI server of the lab',
    );
  });
});

void describe('a failing CNI ADD', { skip }, () => {
  void it('fails labUp with the plugin message naming the pod, and leaves nothing behind', async () => {
    const id = newId();
    const seen: AtClose[] = [];
    // node-b's IPAM range ends at .100, so the address planned for b-y is one IPAM cannot give.
    const narrow = (node: CniHostNode): Record<string, unknown> | undefined =>
      node.name === 'node-b'
        ? { ipam: { ranges: [[{ subnet: '10.244.1.0/24', rangeEnd: '10.244.1.100' }]] } }
        : undefined;
    try {
      await assert.rejects(
        labUp(
          {
            nodes,
            endpoints: [
              pod('a-x', 'node-a'),
              pod('b-x', 'node-b', { ips: ['10.244.1.10'] }),
              pod('b-y', 'node-b', { ips: ['10.244.1.200'] }),
            ],
            routing: 'vxlan',
          },
          { id, cniHost: observedHost(labNetworkName(id), seen, narrow) },
        ),
        (err: unknown) => {
          assert.ok(err instanceof LabCniError, String(err));
          assert.deepEqual([err.command, err.pods], ['ADD', ['default/b-y']]);
          assert.match(
            err.message,
            /pod default\/b-y on node node-b: .*requested IP address 10\.244\.1\.200/,
          );
          return true;
        },
      );
      assert.deepEqual(seen.map((s) => s.node).sort(), ['node-a', 'node-b'], 'both hosts were stopped');
      for (const s of seen) {
        assert.deepEqual(
          [s.records, s.reservations, s.hostLinks],
          [0, [], []],
          `${s.node}: the pods that were attached were deleted, the failed ADD rolled itself back`,
        );
      }
      assert.deepEqual(await leftovers(id), []);
    } finally {
      await labDown({ id });
    }
  });
});
