/**
 * Renders a LabPlan as batches for `ip -batch` and `bridge -batch` (sysctls are `netns exec … sysctl`
 * lines of root-netns `ip` batches). Pure. Batches inside one phase touch different netns and may run in
 * parallel; phases run in order.
 */
import type { LabPlan, PlannedLink, PlannedRoute } from './topology.js';

export type Tool = 'ip' | 'bridge' | 'sysctl';

export interface Batch {
  /** Netns the batch runs in; undefined for the root netns. */
  readonly netns?: string;
  readonly tool: Tool;
  readonly lines: readonly string[];
}

export type Phase = readonly Batch[];

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

function linkAdd(l: PlannedLink): string[] {
  switch (l.kind) {
    case 'bridge':
      return [`link add ${l.name} type bridge`];
    case 'veth': {
      // Creating the peer straight inside its netns means no half-made link ever sits in the root netns.
      const mac = (m: string | undefined): string => (m === undefined ? '' : ` address ${m}`);
      const add =
        `link add ${l.name}${mac(l.mac)} mtu ${l.mtu} type veth ` +
        `peer name ${l.peer.name}${mac(l.peer.mac)} mtu ${l.mtu} netns ${l.peer.netns}`;
      return l.master === undefined ? [add] : [add, `link set ${l.name} master ${l.master}`];
    }
    case 'vxlan':
      return [
        `link add ${l.name} type vxlan id ${l.vni} local ${l.local} dev ${l.dev} dstport ${l.port} nolearning`,
        `link set ${l.name} address ${l.mac} mtu ${l.mtu}`,
      ];
  }
}

function routeAdd(r: PlannedRoute): string {
  const parts = ['route add'];
  if (r.type !== undefined) parts.push(r.type);
  parts.push(r.dst);
  if (r.via !== undefined) parts.push('via', r.via);
  if (r.dev !== undefined) parts.push('dev', r.dev);
  if (r.src !== undefined) parts.push('src', r.src);
  if (r.scope !== undefined) parts.push('scope', r.scope);
  if (r.onlink) parts.push('onlink');
  return parts.join(' ');
}

const SYSCTL_LINES_PER_BATCH = 16;

export function renderPlan(plan: LabPlan): Phase[] {
  const created = [{ tool: 'ip' as const, lines: plan.netns.map((n) => `netns add ${n}`) }];

  // One `ip -batch` forks a `sysctl` per netns far more cheaply than we can start one per netns.
  const sysctlLines = [...groupBy(plan.sysctls, (s) => s.netns)].map(
    ([netns, list]) => `netns exec ${netns} sysctl -q -w ${list.map((s) => `${s.key}=${s.value}`).join(' ')}`,
  );
  const sysctls: Batch[] = [];
  for (let i = 0; i < sysctlLines.length; i += SYSCTL_LINES_PER_BATCH) {
    sysctls.push({ tool: 'ip', lines: sysctlLines.slice(i, i + SYSCTL_LINES_PER_BATCH) });
  }

  // The fabric's veths create the node uplinks that the nodes' vxlan devices sit on, so they go first.
  const linksByCreator = groupBy(plan.links, (l) => l.netns);
  const fabricLinks = [...linksByCreator].filter(([netns]) => netns === plan.fabric.netns);
  const otherLinks = [...linksByCreator].filter(([netns]) => netns !== plan.fabric.netns);
  const linkBatch = ([netns, list]: [string, PlannedLink[]]): Batch => ({
    netns,
    tool: 'ip',
    lines: list.flatMap(linkAdd),
  });

  // A pod netns is left as the runtime makes it: the CNI plugin brings its loopback up with eth0.
  const configured = [plan.fabric.netns, ...plan.nodes.map((n) => n.netns)];
  const upByNetns = new Map<string, string[]>(configured.map((n) => [n, ['link set lo up']]));
  for (const l of plan.links) {
    upByNetns.get(l.netns)?.push(`link set ${l.name} up`);
    if (l.kind === 'veth') upByNetns.get(l.peer.netns)?.push(`link set ${l.peer.name} up`);
  }
  for (const a of plan.addresses) upByNetns.get(a.netns)?.push(`addr add ${a.cidr} dev ${a.dev}`);
  for (const r of plan.routes) upByNetns.get(r.netns)?.push(routeAdd(r));
  for (const n of plan.neighbors) {
    upByNetns.get(n.netns)?.push(`neigh add ${n.ip} lladdr ${n.mac} dev ${n.dev} nud permanent`);
  }
  const configure: Batch[] = [...upByNetns].map(([netns, lines]) => ({ netns, tool: 'ip', lines }));
  for (const [netns, list] of groupBy(plan.fdb, (f) => f.netns)) {
    configure.push({
      netns,
      tool: 'bridge',
      lines: list.map((f) => `fdb append ${f.mac} dev ${f.dev} dst ${f.dst}`),
    });
  }
  return [created, sysctls, fabricLinks.map(linkBatch), otherLinks.map(linkBatch), configure];
}
