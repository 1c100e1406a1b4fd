/**
 * The agent as the node's CNI host, as root: a real `palisade agent --cni-socket` inside a private node
 * netns serves the shim's requests and the plugin's registrations. An ADD of a pod a default deny selects
 * returns only once the node's table dispatches the pod's IP; a pod the datastore does not know is
 * refused (code 102) after the wait; with the agent down the plugin (run as its own process) fails closed
 * or, without failClosed, attaches; a restarted agent reads the IPs back from the plugin's records.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readStatus, socketPathFor } from '../../src/agent/index.js';
import type { AgentStatus } from '../../src/agent/index.js';
import { PluginFailure, addNetworkList, delNetworkList } from '../../src/cni/runtime.js';
import type { Attachment } from '../../src/cni/runtime.js';
import type { CniResult } from '../../src/cni/spec.js';
import type { CniLab } from '../cni/support.js';
import { createCniLab, leftovers, privilegedUnavailable, routedNetwork } from '../cni/support.js';
import { CLI, waitFor } from './agent-support.js';

const NODE = 'n1';
const skip =
  privilegedUnavailable() ??
  (spawnSync('nft', ['--version']).status === 0 ? undefined : 'nft is not installed');

/** The pods the attachments name (namespace x, name = container id), as the API server has them. */
function unaddressedPod(name: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'x', labels: { app: name } },
    spec: { nodeName: NODE, containers: [{ name: 'c', image: 'i' }] },
  };
}

const DENY = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'default-deny', namespace: 'x' },
  spec: { podSelector: {}, policyTypes: ['Ingress'] },
};

/** The string leaves of the elements of `inet palisade`'s map `name` in `netns` (IPs and verdicts). */
function mapElements(netns: string, name: string): string {
  const r = spawnSync('ip', ['netns', 'exec', netns, 'nft', '-j', 'list', 'map', 'inet', 'palisade', name], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return '';
  const doc = JSON.parse(r.stdout) as { nftables: { map?: { elem?: unknown } }[] };
  return JSON.stringify(doc.nftables.find((x) => x.map !== undefined)?.map?.elem ?? []);
}

const bare = (r: CniResult): string => (r.ips?.[0]?.address ?? '').replace(/\/\d+$/, '');

async function failure(p: Promise<unknown>): Promise<PluginFailure> {
  try {
    await p;
  } catch (e) {
    if (e instanceof PluginFailure) return e;
    throw e;
  }
  assert.fail('expected the plugin to fail');
}

describe('agent as CNI host (--cni-socket)', { skip }, () => {
  let lab: CniLab;
  let agent: ChildProcess | undefined;
  let agentLog = '';
  let runDir = '';
  let agentSocket = '';
  const attached: { net: ReturnType<typeof routedNetwork>; att: Attachment; result: CniResult }[] = [];

  const startAgent = async (): Promise<void> => {
    agentLog = '';
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        lab.node,
        process.execPath,
        CLI,
        'agent',
        '--node',
        NODE,
        '--datastore',
        `dir:${join(lab.tmp, 'ds')}`,
        '--state-dir',
        runDir,
        '--cni-socket',
        lab.socket,
        '--cni-state-dir',
        lab.stateDir,
        '--registration-wait',
        '1.5',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr?.on('data', (b: Buffer) => (agentLog += b.toString()));
    agent = child;
    await waitFor('the agent to be ready', async () => {
      const s = (await readStatus(socketPathFor(runDir, NODE), 1000)) as AgentStatus;
      return s.state === 'ready' ? s : undefined;
    }).catch((e: unknown) => {
      throw new Error(`${String(e)}\nagent log:\n${agentLog}`);
    });
  };

  const stopAgent = async (): Promise<void> => {
    const c = agent;
    agent = undefined;
    if (c === undefined || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };

  before(async () => {
    lab = await createCniLab();
    runDir = join(lab.tmp, 'run');
    agentSocket = join(runDir, 'agent.sock');
    await mkdir(join(lab.tmp, 'ds'), { recursive: true });
    const objects = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } },
      unaddressedPod('enforced'),
      unaddressedPod('loose'),
      DENY,
    ];
    await writeFile(
      join(lab.tmp, 'ds', 'objects.yaml'),
      objects.map((o) => JSON.stringify(o)).join('\n---\n'),
    );
    await startAgent();
  });

  after(async () => {
    await stopAgent().catch(() => undefined);
    for (const a of attached.reverse())
      await delNetworkList(a.net, a.att, a.result, lab.runtime).catch(() => undefined);
    await lab.destroy();
  });

  it('ADD of a pod a default deny selects returns only once the table dispatches its IP', async () => {
    assert.equal(mapElements(lab.node, 'ingress_dispatch').includes('10.98.'), false, 'no pod IP yet');
    const net = routedNetwork(lab, '1.1.0', 'palisade-shim', {
      agentSocket,
      failClosed: true,
      agentTimeoutMs: 20_000,
    });
    const [pod = ''] = lab.pods(1);
    const att = lab.attachment(pod, 'enforced');
    const result = await addNetworkList(net, att, lab.runtime);
    attached.push({ net, att, result });
    // Read right after ADD returned: the datastore has no podIP, so only the registration put it there.
    const elements = mapElements(lab.node, 'ingress_dispatch');
    assert.ok(elements.includes(`"${bare(result)}"`), `${bare(result)} not in ${elements}`);
    assert.match(elements, /ing_/);
  });

  it('ADD of a pod unknown to the datastore is refused after the wait (code 102) and rolled back', async () => {
    const net = routedNetwork(lab, '1.1.0', 'palisade-shim', {
      agentSocket,
      failClosed: true,
      agentTimeoutMs: 20_000,
    });
    const [pod = ''] = lab.pods(1);
    const e = await failure(addNetworkList(net, lab.attachment(pod, 'ghost'), lab.runtime));
    assert.equal(e.code, 102, `${e.msg}; ${e.details}`);
    assert.match(e.msg, /the palisade agent refused the endpoint/);
    assert.match(e.details, /pod x\/ghost unknown to the agent's datastore \(waited 1\.5s\)/);
    const left = await leftovers(lab, 'pal-net');
    assert.deepEqual(left.records, ['enforced/eth0'], 'only the enforced pod stays attached');
  });

  it('with the agent down, a separate plugin process fails closed, or attaches without failClosed', async () => {
    await stopAgent();
    const [p1 = '', p2 = ''] = lab.pods(2);
    // The Node plugin as its own process (not the shim: its server lived in the agent).
    const closed = routedNetwork(lab, '1.1.0', 'palisade', { agentSocket, failClosed: true });
    const e = await failure(addNetworkList(closed, lab.attachment(p1, 'loose'), lab.runtime));
    assert.equal(e.code, 11);
    assert.match(`${e.msg} ${e.details}`, /agent unreachable .*failClosed is set/);
    const open = routedNetwork(lab, '1.1.0', 'palisade', { agentSocket, failClosed: false });
    const att = lab.attachment(p2, 'loose');
    const result = await addNetworkList(open, att, lab.runtime);
    attached.push({ net: open, att, result });
    assert.match(bare(result), /^10\.98\./);
  });

  it('a restarted agent reads the attached IPs back from the plugin records', async () => {
    await startAgent();
    const enforced = attached[0];
    assert.ok(enforced);
    const s = (await readStatus(socketPathFor(runDir, NODE), 2000)) as AgentStatus;
    assert.equal(s.cni?.endpoints, 2, 'both ready records registered');
    const elements = mapElements(lab.node, 'ingress_dispatch');
    assert.ok(elements.includes(`"${bare(enforced.result)}"`), elements);
    // DEL through the agent-hosted server unregisters: the IP leaves the dispatch map.
    await delNetworkList(enforced.net, enforced.att, enforced.result, lab.runtime);
    attached.shift();
    await waitFor('the IP to leave the map', () =>
      Promise.resolve(
        mapElements(lab.node, 'ingress_dispatch').includes(`"${bare(enforced.result)}"`) ? undefined : true,
      ),
    );
  });
});
