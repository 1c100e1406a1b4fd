/**
 * The lab's network, planned as plain data: which netns, links, addresses, routes, neighbours and FDB
 * entries exist. Pure (no I/O); fabric.ts applies a plan, ip-script.ts renders it as `ip -batch` text.
 *
 * Every lab has an id; its netns are named `pal-<id>.<what>` (see lab-id.ts), so labs with different ids
 * coexist on one machine. Links need no id: they all live inside the lab's own netns (veth pairs are
 * created with their peer directly in the target netns), so none ever sits in the root netns.
 *
 * Shape: an underlay netns `pal-<id>.fabric` holds one bridge; each node is a netns with a veth to that bridge
 * and routes to every other node's pod CIDR (natively or over VXLAN). Each pod gets a netns, and nothing
 * else from the plan: as on a real node, the CNI plugin attaches it (cni-attach.ts runs Palisade's plugin
 * in "routed" mode, src/cni/kernel/routed.ts: a veth named eth0, the pod's /32, a default route via the
 * link-local gateway 169.254.1.1 with permanent neighbour entries on both ends, a /32 host route per pod,
 * and forwarding on the node). The plan fixes what the plugin is asked for: the pod's address (IPAM honours
 * it as a requested IP), its container id, the MTU.
 */
import { createHash } from 'node:crypto';
import type { Cidr } from '../ir/cidr.js';
import {
  cidrContainsIp,
  cidrLast,
  cidrWithin,
  formatCidr,
  formatIp,
  parseCidr,
  parseIp,
} from '../ir/cidr.js';
import type { ClusterNode, ContainerPort, Endpoint, Namespace } from '../ir/endpoint.js';
import { endpointKey } from '../ir/endpoint.js';
import { DEFAULT_LAB_ID, isLabId, labNetnsName } from './lab-id.js';

export type Routing = 'native' | 'vxlan';

/** A Cluster (ir/endpoint.ts) plus a routing mode is a LabInput. */
export interface LabInput {
  readonly nodes: readonly ClusterNode[];
  readonly endpoints: readonly Endpoint[];
  /** Only carried into `Lab.cluster`; derived from the endpoints when absent. */
  readonly namespaces?: readonly Namespace[];
  readonly routing: Routing;
}

export { LAB_PREFIX } from './lab-id.js';
export const FABRIC_BRIDGE = 'pal-br0';
/** The node's end of its underlay veth, inside the node netns. */
export const NODE_UPLINK = 'pal-up0';
export const NODE_VXLAN = 'pal-vx0';
/** CNI_IFNAME of every pod attachment: the pod's end of its veth, as kubelet's runtimes name it. */
export const POD_IFNAME = 'eth0';
export const VXLAN_VNI = 1;
export const VXLAN_PORT = 4789;
export const MTU = 1500;
/** 50 bytes of outer Ethernet/IP/UDP/VXLAN headers. */
export const VXLAN_MTU = MTU - 50;
/** Linux IFNAMSIZ minus the terminating NUL: the limit for link names (netns names may be longer). */
export const MAX_NAME = 15;
const UNDERLAY_FALLBACK = '10.255.0.0/24';

export interface VxlanPlan {
  readonly link: string;
  readonly vni: number;
  readonly port: number;
  readonly mac: string;
  /** The pod CIDR's network address, as Flannel does; peers route to it on-link. */
  readonly vtepIp: string;
}

export interface PlannedNode {
  readonly name: string;
  readonly netns: string;
  /** Underlay address: the node's declared InternalIP (IPv4) if usable, else one from 10.255.0.0/24. */
  readonly ip: string;
  readonly podCidr: string;
  readonly uplink: string;
  /** The fabric's end of the node's underlay veth. */
  readonly fabricLink: string;
  readonly vxlan?: VxlanPlan;
}

export interface PlannedPod {
  /** `namespace/name`, also the text the pod's probe servers answer with. */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly node: string;
  /** The pod's own netns, or its node's for host-network pods. */
  readonly netns: string;
  readonly ip: string;
  readonly hostNetwork: boolean;
  /** CNI_CONTAINERID of the pod's attachment (stable per lab and pod); absent for host-network pods. */
  readonly containerId?: string;
  readonly ports: readonly ContainerPort[];
}

export interface Peer {
  readonly netns: string;
  readonly name: string;
  readonly mac?: string;
}

export type PlannedLink =
  | { readonly kind: 'bridge'; readonly netns: string; readonly name: string }
  | {
      readonly kind: 'veth';
      readonly netns: string;
      readonly name: string;
      readonly peer: Peer;
      readonly mtu: number;
      readonly mac?: string;
      /** Bridge the `name` end is enslaved to. */
      readonly master?: string;
    }
  | {
      readonly kind: 'vxlan';
      readonly netns: string;
      readonly name: string;
      readonly vni: number;
      readonly port: number;
      readonly local: string;
      readonly dev: string;
      readonly mac: string;
      readonly mtu: number;
    };

export interface PlannedAddress {
  readonly netns: string;
  readonly dev: string;
  readonly cidr: string;
}

export interface PlannedRoute {
  readonly netns: string;
  readonly dst: string;
  /** A blackhole route drops silently; it has no device. */
  readonly type?: 'blackhole';
  readonly dev?: string;
  readonly via?: string;
  /** Pinned so that traffic a node originates always comes from its node IP, whatever link it leaves by. */
  readonly src?: string;
  readonly onlink?: true;
  readonly scope?: 'link';
}

export interface PlannedNeighbor {
  readonly netns: string;
  readonly dev: string;
  readonly ip: string;
  readonly mac: string;
}

export interface PlannedFdb {
  readonly netns: string;
  readonly dev: string;
  readonly mac: string;
  readonly dst: string;
}

export interface PlannedSysctl {
  readonly netns: string;
  readonly key: string;
  readonly value: string;
}

export interface LabPlan {
  /** The lab id every netns name carries. */
  readonly id: string;
  readonly routing: Routing;
  /** MTU of the pod links: the underlay's, less the VXLAN headers when encapsulating. */
  readonly podMtu: number;
  readonly fabric: { readonly netns: string; readonly bridge: string };
  readonly nodes: readonly PlannedNode[];
  /** Sorted by namespace, then name. */
  readonly pods: readonly PlannedPod[];
  /** Every netns to create: fabric, nodes, pods (the runtime's part of attaching a pod). */
  readonly netns: readonly string[];
  readonly links: readonly PlannedLink[];
  readonly addresses: readonly PlannedAddress[];
  readonly routes: readonly PlannedRoute[];
  readonly neighbors: readonly PlannedNeighbor[];
  readonly fdb: readonly PlannedFdb[];
  readonly sysctls: readonly PlannedSysctl[];
}

export type PlanProblemCode =
  | 'bad-lab-id'
  | 'no-nodes'
  | 'duplicate-node'
  | 'duplicate-pod'
  | 'unknown-node'
  | 'bad-pod-cidr'
  | 'overlapping-pod-cidr'
  | 'too-many-nodes'
  | 'ip-outside-pod-cidr'
  | 'reserved-ip'
  | 'duplicate-ip'
  | 'host-network-ip'
  | 'pod-cidr-exhausted'
  | 'name-collision';

export interface PlanProblem {
  readonly code: PlanProblemCode;
  /** The node name or pod key the problem is about. */
  readonly subject: string;
  readonly message: string;
}

export type PlanResult =
  | { readonly ok: true; readonly plan: LabPlan }
  | { readonly ok: false; readonly problems: readonly PlanProblem[] };

export class LabPlanError extends Error {
  readonly problems: readonly PlanProblem[];
  constructor(problems: readonly PlanProblem[]) {
    super(`cannot plan the lab:\n${problems.map((p) => `  ${p.subject}: ${p.message}`).join('\n')}`);
    this.name = 'LabPlanError';
    this.problems = problems;
  }
}

/** Throwing wrapper of `tryPlanLab`. */
export function planLab(input: LabInput, id: string = DEFAULT_LAB_ID): LabPlan {
  const r = tryPlanLab(input, id);
  if (!r.ok) throw new LabPlanError(r.problems);
  return r.plan;
}

function hash(text: string, hexChars: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, hexChars);
}

/**
 * A kernel name for `key`: readable `prefix-key` when it fits, else `prefix` + hash. The readable form has
 * a '-' right after the prefix and the hashed one a hex digit, so the two forms never meet.
 */
export function shortName(prefix: string, key: string): string {
  const readable = `${prefix}-${key}`;
  if (readable.length <= MAX_NAME && /^[a-z0-9][a-z0-9-]*$/.test(key)) return readable;
  return prefix + hash(key, MAX_NAME - prefix.length);
}

/** Locally administered unicast MAC derived from `key`, so plans are reproducible. */
function macFor(key: string): string {
  const h = hash(`mac:${key}`, 10);
  return ['02', ...(h.match(/../g) ?? [])].join(':');
}

function firstV4(texts: readonly string[]): string | undefined {
  for (const t of texts) {
    const ip = parseIp(t);
    if (ip?.family === 4) return formatIp(ip);
  }
  return undefined;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface NodeDraft {
  readonly source: ClusterNode;
  readonly cidr: Cidr;
  ip: string;
}

export function tryPlanLab(input: LabInput, id: string = DEFAULT_LAB_ID): PlanResult {
  const problems: PlanProblem[] = [];
  const fail = (code: PlanProblemCode, subject: string, message: string): void => {
    problems.push({ code, subject, message });
  };
  if (!isLabId(id)) {
    fail('bad-lab-id', id, 'a lab id is 1-32 of [a-z0-9-], starting and ending with a letter or digit');
    return { ok: false, problems };
  }
  if (input.nodes.length === 0) fail('no-nodes', '-', 'the lab needs at least one node');
  if (input.nodes.length > 253) fail('too-many-nodes', '-', 'the lab supports at most 253 nodes');

  const drafts = new Map<string, NodeDraft>();
  input.nodes.forEach((node, i) => {
    if (drafts.has(node.name)) return fail('duplicate-node', node.name, 'node declared twice');
    const declared = node.podCIDRs.map(parseCidr).find((c) => c?.family === 4);
    if (node.podCIDRs.length > 0 && !declared) {
      return fail('bad-pod-cidr', node.name, `no IPv4 CIDR among podCIDRs ${node.podCIDRs.join(', ')}`);
    }
    const cidr = declared ?? parseCidr(`10.244.${i % 256}.0/24`);
    if (cidr) drafts.set(node.name, { source: node, cidr, ip: '' });
    return undefined;
  });
  const nodeList = [...drafts.values()];
  for (let i = 0; i < nodeList.length; i++) {
    for (let j = i + 1; j < nodeList.length; j++) {
      const a = nodeList[i];
      const b = nodeList[j];
      if (a && b && (cidrWithin(a.cidr, b.cidr) || cidrWithin(b.cidr, a.cidr))) {
        fail(
          'overlapping-pod-cidr',
          b.source.name,
          `pod CIDR ${formatCidr(b.cidr)} overlaps ${a.source.name}'s ${formatCidr(a.cidr)}`,
        );
      }
    }
  }
  assignNodeIps(nodeList);

  const pods = planPods(id, input.endpoints, drafts, fail);
  const nodes = nodeList.map((d) => planNode(id, d, input.routing));
  if (problems.length === 0) checkNames(id, nodes, pods, fail);
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, plan: buildPlan(id, input.routing, nodes, pods) };
}

/**
 * The declared InternalIP keeps engine and lab in agreement about "traffic from the node"; it is usable
 * unless it clashes with another node or a pod CIDR, in which case the node gets one from 10.255.0.0/24.
 */
function assignNodeIps(nodes: NodeDraft[]): void {
  const inPodCidr = (text: string): boolean => {
    const ip = parseIp(text);
    return ip !== undefined && nodes.some((n) => cidrContainsIp(n.cidr, ip));
  };
  const used = new Set<string>();
  for (const n of nodes) {
    const declared = firstV4(n.source.ips);
    if (declared && !used.has(declared) && !inPodCidr(declared) && !/^(127|169\.254|0)\./.test(declared)) {
      n.ip = declared;
      used.add(declared);
    }
  }
  const pool = parseCidr(UNDERLAY_FALLBACK);
  let next = (pool?.base ?? 0n) + 1n;
  for (const n of nodes) {
    if (n.ip !== '') continue;
    let candidate = formatIp({ family: 4, value: next });
    while (used.has(candidate) || inPodCidr(candidate)) {
      next++;
      candidate = formatIp({ family: 4, value: next });
    }
    n.ip = candidate;
    used.add(candidate);
    next++;
  }
}

/** The node's netns: `pal-<id>.n-<node>`, the node part hashed as link names are when it is unwieldy. */
function nodeNetns(id: string, node: string): string {
  return labNetnsName(id, shortName('n', node));
}

function planNode(id: string, d: NodeDraft, routing: Routing): PlannedNode {
  const name = d.source.name;
  const base: PlannedNode = {
    name,
    netns: nodeNetns(id, name),
    ip: d.ip,
    podCidr: formatCidr(d.cidr),
    uplink: NODE_UPLINK,
    fabricLink: shortName('pal-u', name),
  };
  if (routing === 'native') return base;
  return {
    ...base,
    vxlan: {
      link: NODE_VXLAN,
      vni: VXLAN_VNI,
      port: VXLAN_PORT,
      mac: macFor(`vxlan/${name}`),
      vtepIp: formatIp({ family: 4, value: d.cidr.base }),
    },
  };
}

function planPods(
  id: string,
  endpoints: readonly Endpoint[],
  nodes: ReadonlyMap<string, NodeDraft>,
  fail: (code: PlanProblemCode, subject: string, message: string) => void,
): PlannedPod[] {
  const sorted = [...endpoints].sort(
    (a, b) => compareText(a.namespace, b.namespace) || compareText(a.name, b.name),
  );
  const nodeNames = [...nodes.keys()];
  const taken = new Map<string, string>();
  const chosen: { e: Endpoint; node: NodeDraft; ip?: string }[] = [];
  let roundRobin = 0;
  const seen = new Set<string>();
  for (const e of sorted) {
    const key = endpointKey(e);
    if (seen.has(key)) {
      fail('duplicate-pod', key, 'pod declared twice');
      continue;
    }
    seen.add(key);
    // A pod without spec.nodeName has not been scheduled; the lab schedules it round-robin.
    const nodeName = e.node ?? nodeNames[roundRobin++ % Math.max(nodeNames.length, 1)];
    const node = nodeName === undefined ? undefined : nodes.get(nodeName);
    if (!node) {
      fail('unknown-node', key, `node "${nodeName ?? ''}" is not declared`);
      continue;
    }
    const declared = firstV4(e.ips);
    if (e.hostNetwork) {
      if (declared !== undefined && declared !== node.ip) {
        fail(
          'host-network-ip',
          key,
          `host-network pod declares ${declared} but node ${nodeName} has ${node.ip}`,
        );
      }
      chosen.push({ e, node, ip: node.ip });
      continue;
    }
    if (declared !== undefined) {
      const ip = parseIp(declared);
      const cidr = formatCidr(node.cidr);
      if (!ip || !cidrContainsIp(node.cidr, ip)) {
        fail(
          'ip-outside-pod-cidr',
          key,
          `IP ${declared} is outside node ${node.source.name}'s pod CIDR ${cidr}`,
        );
        continue;
      }
      if (node.cidr.prefix < 31 && (ip.value === node.cidr.base || ip.value === cidrLast(node.cidr))) {
        fail('reserved-ip', key, `IP ${declared} is the network or broadcast address of ${cidr}`);
        continue;
      }
      const owner = taken.get(declared);
      if (owner !== undefined) {
        fail('duplicate-ip', key, `IP ${declared} is already used by ${owner}`);
        continue;
      }
      taken.set(declared, key);
      chosen.push({ e, node, ip: declared });
    } else {
      chosen.push({ e, node });
    }
  }
  const cursor = new Map<NodeDraft, bigint>();
  const exhausted = new Set<NodeDraft>();
  return chosen.flatMap(({ e, node, ip }) => {
    const key = endpointKey(e);
    let finalIp = ip;
    if (finalIp === undefined) {
      finalIp = allocate(node, cursor, taken);
      if (finalIp === undefined) {
        if (!exhausted.has(node))
          fail('pod-cidr-exhausted', key, `no free address in ${formatCidr(node.cidr)}`);
        exhausted.add(node);
        return [];
      }
      taken.set(finalIp, key);
    }
    const netns = e.hostNetwork ? nodeNetns(id, node.source.name) : labNetnsName(id, 'p' + hash(key, 10));
    const pod: PlannedPod = {
      key,
      namespace: e.namespace,
      name: e.name,
      node: node.source.name,
      netns,
      ip: finalIp,
      hostNetwork: e.hostNetwork,
      ports: e.ports,
    };
    // A CNI container id is [A-Za-z0-9_.-]; the lab id keeps two labs' attachments apart in any state.
    return [e.hostNetwork ? pod : { ...pod, containerId: `pal-${id}-${hash(key, 16)}` }];
  });
}

function allocate(node: NodeDraft, cursor: Map<NodeDraft, bigint>, taken: ReadonlyMap<string, string>) {
  const small = node.cidr.prefix >= 31;
  const last = cidrLast(node.cidr) - (small ? 0n : 1n);
  let v = cursor.get(node) ?? node.cidr.base + (small ? 0n : 1n);
  for (; v <= last; v++) {
    const text = formatIp({ family: 4, value: v });
    if (!taken.has(text)) {
      cursor.set(node, v + 1n);
      return text;
    }
  }
  cursor.set(node, v);
  return undefined;
}

/** Hashes are 40 bits; a clash is unlikely but would silently merge two pods, so it is checked. */
function checkNames(
  id: string,
  nodes: readonly PlannedNode[],
  pods: readonly PlannedPod[],
  fail: (code: PlanProblemCode, subject: string, message: string) => void,
): void {
  const owners = new Map<string, string>();
  const claim = (name: string, owner: string): void => {
    const prev = owners.get(name);
    if (prev !== undefined && prev !== owner)
      fail('name-collision', owner, `name ${name} also used by ${prev}`);
    owners.set(name, owner);
  };
  claim(labNetnsName(id, 'fabric'), 'fabric');
  for (const n of nodes) {
    claim(n.netns, `node ${n.name}`);
    claim(n.fabricLink, `node ${n.name}`);
  }
  for (const p of pods) {
    if (p.hostNetwork) continue;
    claim(p.netns, p.key);
  }
}

function buildPlan(
  id: string,
  routing: Routing,
  nodes: readonly PlannedNode[],
  pods: readonly PlannedPod[],
): LabPlan {
  const fabricNetns = labNetnsName(id, 'fabric');
  const links: PlannedLink[] = [{ kind: 'bridge', netns: fabricNetns, name: FABRIC_BRIDGE }];
  const addresses: PlannedAddress[] = [];
  const routes: PlannedRoute[] = [];
  const neighbors: PlannedNeighbor[] = [];
  const fdb: PlannedFdb[] = [];
  const sysctls: PlannedSysctl[] = [];
  // ICMP errors are how a probe learns "refused" for UDP and rejected traffic; the default rate limits
  // would turn a sweep's later refusals into timeouts.
  const quietIcmp = (netns: string): PlannedSysctl => ({ netns, key: 'net.ipv4.icmp_ratemask', value: '0' });

  for (const n of nodes) {
    // Forwarding, which only pods need, is the CNI plugin's to turn on (as Calico's and ptp's ADD do).
    sysctls.push(quietIcmp(n.netns));
    links.push({
      kind: 'veth',
      netns: fabricNetns,
      name: n.fabricLink,
      peer: { netns: n.netns, name: n.uplink },
      mtu: MTU,
      master: FABRIC_BRIDGE,
    });
    addresses.push({ netns: n.netns, dev: n.uplink, cidr: `${n.ip}/32` });
    // As Calico does for its blocks: a free address of the node's own pod CIDR is dropped silently, not
    // sent back out by a less specific route.
    routes.push({ netns: n.netns, dst: n.podCidr, type: 'blackhole' });
    for (const other of nodes) {
      if (other === n) continue;
      // /32 underlay addresses plus on-link host routes let nodes keep arbitrary declared InternalIPs.
      routes.push({ netns: n.netns, dst: `${other.ip}/32`, dev: n.uplink, src: n.ip, scope: 'link' });
      if (!n.vxlan || !other.vxlan) {
        routes.push({ netns: n.netns, dst: other.podCidr, dev: n.uplink, via: other.ip, src: n.ip });
        continue;
      }
      routes.push({
        netns: n.netns,
        dst: other.podCidr,
        dev: n.vxlan.link,
        via: other.vxlan.vtepIp,
        src: n.ip,
        onlink: true,
      });
      neighbors.push({ netns: n.netns, dev: n.vxlan.link, ip: other.vxlan.vtepIp, mac: other.vxlan.mac });
      fdb.push({ netns: n.netns, dev: n.vxlan.link, mac: other.vxlan.mac, dst: other.ip });
    }
    if (n.vxlan) {
      links.push({
        kind: 'vxlan',
        netns: n.netns,
        name: n.vxlan.link,
        vni: n.vxlan.vni,
        port: n.vxlan.port,
        local: n.ip,
        dev: n.uplink,
        mac: n.vxlan.mac,
        mtu: VXLAN_MTU,
      });
      addresses.push({ netns: n.netns, dev: n.vxlan.link, cidr: `${n.vxlan.vtepIp}/32` });
    }
  }
  // The pod's own sysctls are the runtime's to set (pod spec `sysctls`), not the plugin's.
  for (const p of pods) if (!p.hostNetwork) sysctls.push(quietIcmp(p.netns));
  const netns = [
    fabricNetns,
    ...nodes.map((n) => n.netns),
    ...pods.filter((p) => !p.hostNetwork).map((p) => p.netns),
  ];
  return {
    id,
    routing,
    podMtu: routing === 'vxlan' ? VXLAN_MTU : MTU,
    fabric: { netns: fabricNetns, bridge: FABRIC_BRIDGE },
    nodes,
    pods,
    netns,
    links,
    addresses,
    routes,
    neighbors,
    fdb,
    sysctls,
  };
}
