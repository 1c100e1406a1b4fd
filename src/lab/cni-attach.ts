/**
 * Attaching the lab's pods the way a container runtime does: for each pod, its network configuration
 * list goes through src/cni/runtime.ts (CNI_* in the environment, the request config on stdin) to the
 * plugin executable, the C shim, which hands it to its node's CNI server (cni-host.ts). So every lab test
 * exercises the plugin's ADD, and `Lab.down()` its DEL. The runtime's own part stays here: it creates
 * the pod's netns (done with the fabric, in one batch), names the attachment, keeps each ADD result for
 * CHECK and DEL, and passes the pod identity (CNI_ARGS) and the planned address (the `ips` capability).
 *
 * Per node (one "machine" each): a network list for the node's pod CIDR, the endpoint records and IPAM
 * reservations under the node's state dir, `<lab state>/nodes/<node netns suffix>/{cni,ipam}`, which go
 * with the lab's state dir.
 */
import { join } from 'node:path';
import { BUILTIN_IPAM } from '../cni/config.js';
import { installPlugin } from '../cni/install.js';
import type { Attachment, NetworkList, RuntimeOptions } from '../cni/runtime.js';
import { addNetworkList, checkNetworkList, delNetworkList } from '../cni/runtime.js';
import type { CniResult } from '../cni/spec.js';
import { cidrLast, formatIp, parseCidr } from '../ir/cidr.js';
import type { CniHost, CniHostHandle } from './cni-host.js';
import { serverProcessHost } from './cni-host.js';
import { labNetnsPrefix } from './lab-id.js';
import { mapLimit } from './netns.js';
import { labStateDir } from './state.js';
import type { LabPlan, PlannedNode, PlannedPod } from './topology.js';
import { POD_IFNAME } from './topology.js';

export const CNI_VERSION = '1.1.0';
/** The plugin's type, i.e. its executable's name in the lab's CNI bin dir. */
export const CNI_PLUGIN_TYPE = 'palisade';
/** A plugin that hangs must not hang the lab. */
const PLUGIN_TIMEOUT_MS = 60_000;

/** The network every pod of lab `id` is attached to. */
export function labNetworkName(id: string): string {
  return `pal-${id}`;
}

/** CNI_PATH of the lab: the shim installed as `palisade`. */
export function labCniBinDir(id: string): string {
  return join(labStateDir(id), 'bin');
}

/** The node's own state dir: its CNI server socket, endpoint records (`cni/`) and IPAM data (`ipam/`). */
export function nodeStateDir(id: string, node: PlannedNode): string {
  return join(labStateDir(id), 'nodes', node.netns.slice(labNetnsPrefix(id).length));
}

export const cniStateDir = (nodeDir: string): string => join(nodeDir, 'cni');
export const ipamDataDir = (nodeDir: string): string => join(nodeDir, 'ipam');

/**
 * The node's pod CIDR as a host-local range. IPAM refuses subnets smaller than a /30, which the lab
 * allows (every address usable): those become their /30 restricted to the pod CIDR, with the range's
 * reserved gateway put on an address of the /30 outside it.
 */
export function ipamRange(podCidr: string): Record<string, string> {
  const c = parseCidr(podCidr);
  if (!c || c.family !== 4 || c.prefix <= 30) return { subnet: podCidr };
  const parentBase = c.base - (c.base % 4n);
  const ip = (v: bigint): string => formatIp({ family: 4, value: v });
  const gateway = c.base === parentBase ? parentBase + 3n : parentBase;
  return {
    subnet: `${ip(parentBase)}/30`,
    rangeStart: ip(c.base),
    rangeEnd: ip(cidrLast(c)),
    gateway: ip(gateway),
  };
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The node's network configuration list. Pure. `extra`: the CNI host's fields (its `ipam` is merged). */
export function nodeNetworkList(
  plan: LabPlan,
  node: PlannedNode,
  stateDir: string,
  extra: Readonly<Record<string, unknown>> = {},
): NetworkList {
  const { ipam: extraIpam, ...rest } = extra;
  return {
    cniVersion: CNI_VERSION,
    name: labNetworkName(plan.id),
    plugins: [
      {
        type: CNI_PLUGIN_TYPE,
        mode: 'routed',
        mtu: plan.podMtu,
        stateDir: cniStateDir(stateDir),
        ...rest,
        ipam: {
          type: BUILTIN_IPAM,
          ranges: [[ipamRange(node.podCidr)]],
          dataDir: ipamDataDir(stateDir),
          ...(isObject(extraIpam) ? extraIpam : {}),
        },
        capabilities: { ips: true },
      },
    ],
  };
}

/** The pod's attachment as kubelet's runtimes describe it. Pure. */
export function podAttachment(pod: PlannedPod, node: PlannedNode): Attachment {
  if (pod.containerId === undefined) throw new Error(`pod ${pod.key} uses the host network: no attachment`);
  const prefix = node.podCidr.split('/')[1] ?? '32';
  return {
    containerId: pod.containerId,
    netns: `/run/netns/${pod.netns}`,
    ifname: POD_IFNAME,
    args: [
      ['IgnoreUnknown', '1'],
      ['K8S_POD_NAMESPACE', pod.namespace],
      ['K8S_POD_NAME', pod.name],
      ['K8S_POD_INFRA_CONTAINER_ID', pod.containerId],
    ],
    // The plan's address (status.podIP, or the plan's own choice) is what IPAM must hand out.
    capabilityArgs: { ips: [`${pod.ip}/${prefix}`] },
  };
}

const SHOWN_FAILURES = 10;

/** A CNI command failed for a pod; `message` carries the plugin's own error text. */
export class LabCniError extends Error {
  readonly command: 'ADD' | 'DEL';
  /** `namespace/name` of each pod the command failed for. */
  readonly pods: readonly string[];
  constructor(command: 'ADD' | 'DEL', failures: readonly { pod: PlannedPod; error: unknown }[]) {
    const text = (e: unknown): string => (e instanceof Error ? e.message : String(e));
    const lines = failures
      .slice(0, SHOWN_FAILURES)
      .map((f) => `  pod ${f.pod.key} on node ${f.pod.node}: ${text(f.error)}`);
    if (failures.length > SHOWN_FAILURES) lines.push(`  … and ${failures.length - SHOWN_FAILURES} more`);
    super(`CNI ${command} failed for ${failures.length} pod(s):\n${lines.join('\n')}`, {
      cause: failures[0]?.error,
    });
    this.name = 'LabCniError';
    this.command = command;
    this.pods = failures.map((f) => f.pod.key);
  }
}

export interface LabCniNode {
  readonly node: PlannedNode;
  readonly stateDir: string;
  readonly list: NetworkList;
  readonly runtime: RuntimeOptions;
}

export interface LabCniOptions {
  readonly cniHost?: CniHost;
  /** ADDs (and DELs) in flight at once, over all nodes; default 16. */
  readonly concurrency?: number;
}

/**
 * `fn` over `items`, at most `limit` at once, every item tried even when some fail (one failure must not
 * leave the others half-done in the background); failures are returned with their item.
 */
async function settleAll<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<unknown>,
): Promise<{ item: T; error: unknown }[]> {
  const failed: { item: T; error: unknown }[] = [];
  await mapLimit(items, limit, (item) =>
    fn(item).then(
      () => undefined,
      (error: unknown) => void failed.push({ item, error }),
    ),
  );
  return failed;
}

interface Host {
  readonly node: LabCniNode;
  readonly handle: CniHostHandle;
}

/**
 * The runtime side of the lab's CNI: the plugin installed in the lab's bin dir, a CNI host per node
 * (started with the node's first pod, so a pod added to a running lab finds one too), every ADD result.
 */
export class LabCni {
  readonly plan: LabPlan;
  readonly binDir: string;
  readonly #host: CniHost;
  readonly #limit: number;
  readonly #hosts = new Map<string, Promise<Host>>();
  readonly #started = new Map<string, LabCniNode>();
  readonly #results = new Map<string, { pod: PlannedPod; result: CniResult }>();
  #closed = false;

  private constructor(plan: LabPlan, binDir: string, opts: LabCniOptions) {
    this.plan = plan;
    this.binDir = binDir;
    this.#host = opts.cniHost ?? serverProcessHost;
    this.#limit = opts.concurrency ?? 16;
  }

  /** Installs the plugin (the C shim, as `palisade`) in the lab's CNI bin dir. */
  static async create(plan: LabPlan, opts: LabCniOptions = {}): Promise<LabCni> {
    const binDir = labCniBinDir(plan.id);
    await installPlugin(binDir, 'shim', CNI_PLUGIN_TYPE);
    return new LabCni(plan, binDir, opts);
  }

  /** Nodes whose CNI host runs: their network list and runtime options (what CHECK or GC needs). */
  get nodes(): ReadonlyMap<string, LabCniNode> {
    return this.#started;
  }

  #nodeOf(name: string): Promise<Host> {
    let h = this.#hosts.get(name);
    if (h) return h;
    if (this.#closed) return Promise.reject(new Error(`the lab's CNI hosts are stopped`));
    const node = this.plan.nodes.find((n) => n.name === name);
    if (!node) return Promise.reject(new Error(`node ${name} is not in the lab`));
    h = (async () => {
      const stateDir = nodeStateDir(this.plan.id, node);
      const handle = await this.#host({ labId: this.plan.id, name, netns: node.netns, stateDir });
      const cni: LabCniNode = {
        node,
        stateDir,
        list: nodeNetworkList(this.plan, node, stateDir, handle.pluginConfig),
        runtime: {
          binDirs: [this.binDir],
          env: { PALISADE_CNI_SOCKET: handle.socket },
          timeoutMs: PLUGIN_TIMEOUT_MS,
        },
      };
      this.#started.set(name, cni);
      return { node: cni, handle };
    })();
    this.#hosts.set(name, h);
    return h;
  }

  /** The pod's attachment (CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, capability args). */
  attachment(pod: PlannedPod): Attachment {
    const node = this.plan.nodes.find((n) => n.name === pod.node);
    if (!node) throw new Error(`node ${pod.node} of pod ${pod.key} is not in the lab`);
    return podAttachment(pod, node);
  }

  /** The final ADD result of a pod (what the runtime keeps for CHECK and DEL). */
  result(key: string): CniResult | undefined {
    return this.#results.get(key)?.result;
  }

  /** ADD one pod, whose netns must exist; keeps the result for CHECK and DEL. */
  async add(pod: PlannedPod): Promise<CniResult> {
    if (this.#results.has(pod.key)) throw new Error(`pod ${pod.key} is already attached`);
    const { node } = await this.#nodeOf(pod.node);
    const result = await addNetworkList(node.list, podAttachment(pod, node.node), node.runtime);
    this.#results.set(pod.key, { pod, result });
    return result;
  }

  /** DEL one pod with its ADD result; a pod that is not attached is success. */
  async remove(key: string): Promise<void> {
    const got = this.#results.get(key);
    if (!got) return;
    const { node } = await this.#nodeOf(got.pod.node);
    await delNetworkList(node.list, podAttachment(got.pod, node.node), got.result, node.runtime);
    this.#results.delete(key);
  }

  /** CHECK a pod's attachment against its ADD result. */
  async check(key: string): Promise<void> {
    const got = this.#results.get(key);
    if (!got) throw new Error(`pod ${key} is not attached`);
    const { node } = await this.#nodeOf(got.pod.node);
    await checkNetworkList(node.list, podAttachment(got.pod, node.node), got.result, node.runtime);
  }

  /** ADD every pod that has its own netns, each tried. Throws LabCniError naming each pod that failed. */
  async attach(pods: readonly PlannedPod[]): Promise<void> {
    const failed = await settleAll(
      pods.filter((p) => !p.hostNetwork),
      this.#limit,
      (pod) => this.add(pod),
    );
    if (failed.length > 0)
      throw new LabCniError(
        'ADD',
        failed.map((f) => ({ pod: f.item, error: f.error })),
      );
  }

  /** DEL every attached pod, each tried. Throws LabCniError naming each pod whose DEL failed. */
  async detach(): Promise<void> {
    const attached = [...this.#results.values()].map((r) => r.pod);
    const failed = await settleAll(attached, this.#limit, (pod) => this.remove(pod.key));
    if (failed.length > 0)
      throw new LabCniError(
        'DEL',
        failed.map((f) => ({ pod: f.item, error: f.error })),
      );
  }

  /** Stops every node's CNI host (those that failed to start need nothing). */
  async close(): Promise<void> {
    this.#closed = true;
    const hosts = await Promise.allSettled(this.#hosts.values());
    await Promise.all(
      hosts.map((h) => (h.status === 'fulfilled' ? h.value.handle.close() : Promise.resolve())),
    );
  }
}
