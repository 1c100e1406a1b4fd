/**
 * The cluster as the lab built it, and manifests bound to it. Pure. The lab allocates pod IPs the
 * manifests leave out, schedules pods without a node, and may move a node off a clashing InternalIP, so
 * the engine must be told the lab's addresses, or it would compute a matrix for a different network than
 * the one the packets cross.
 */
import type { Cluster, ClusterNode, Endpoint, Namespace } from '../ir/endpoint.js';
import { endpointKey } from '../ir/endpoint.js';
import type { LabInput, LabPlan } from './topology.js';

/** `input` with the plan's final node IPs, pod CIDRs, pod nodes and pod IPs (IPv4 only, as the lab). */
export function labCluster(input: LabInput, plan: LabPlan): Cluster {
  const pods = new Map(plan.pods.map((p) => [p.key, p]));
  const nodes = new Map(plan.nodes.map((n) => [n.name, n]));
  const endpoints = input.endpoints.flatMap((e): Endpoint[] => {
    const p = pods.get(endpointKey(e));
    return p ? [{ ...e, node: p.node, ips: [p.ip] }] : [];
  });
  return {
    namespaces: input.namespaces ?? namespacesOf(endpoints),
    endpoints,
    nodes: input.nodes.flatMap((n): ClusterNode[] => {
      const planned = nodes.get(n.name);
      return planned ? [{ ...n, ips: [planned.ip], podCIDRs: [planned.podCidr] }] : [];
    }),
  };
}

function namespacesOf(endpoints: readonly Endpoint[]): Namespace[] {
  const out = new Map<string, Namespace>();
  for (const e of endpoints) {
    if (!out.has(e.namespace)) out.set(e.namespace, { name: e.namespace, labels: e.namespaceLabels });
  }
  return [...out.values()];
}

export type BindProblemCode = 'pod-not-in-lab' | 'node-not-in-lab' | 'pod-moved';

export interface BindProblem {
  readonly code: BindProblemCode;
  readonly subject: string;
  readonly message: string;
}

export type BindResult =
  | { readonly ok: true; readonly cluster: Cluster }
  | { readonly ok: false; readonly problems: readonly BindProblem[] };

/**
 * `given` (e.g. the cluster a case's manifests declare) with every pod and node at its lab address. Lab
 * pods, nodes and namespaces the manifests do not mention are added: their packets are real, so the engine
 * must see them too. A pod or node the lab does not have, or a pod on another node or network than in the
 * lab, is a problem: nothing could enforce or probe it.
 */
export function bindCluster(given: Cluster, lab: Cluster): BindResult {
  const problems: BindProblem[] = [];
  const labPods = new Map(lab.endpoints.map((e) => [endpointKey(e), e]));
  const labNodes = new Map(lab.nodes.map((n) => [n.name, n]));
  const endpoints = given.endpoints.flatMap((e): Endpoint[] => {
    const key = endpointKey(e);
    const l = labPods.get(key);
    if (!l) {
      problems.push({ code: 'pod-not-in-lab', subject: key, message: 'the lab has no such pod' });
      return [];
    }
    if ((e.node !== undefined && e.node !== l.node) || e.hostNetwork !== l.hostNetwork) {
      const where = (x: Endpoint) => `${x.node ?? '?'}${x.hostNetwork ? ' (host network)' : ''}`;
      problems.push({
        code: 'pod-moved',
        subject: key,
        message: `declared on ${where(e)} but the lab has it on ${where(l)}`,
      });
      return [];
    }
    return [{ ...e, ...(l.node === undefined ? {} : { node: l.node }), ips: l.ips }];
  });
  const nodes = given.nodes.flatMap((n): ClusterNode[] => {
    const l = labNodes.get(n.name);
    if (!l) {
      problems.push({ code: 'node-not-in-lab', subject: n.name, message: 'the lab has no such node' });
      return [];
    }
    return [{ ...n, ips: l.ips, podCIDRs: l.podCIDRs }];
  });
  if (problems.length > 0) return { ok: false, problems };
  const has = <T>(list: readonly T[], key: (t: T) => string) => {
    const keys = new Set(list.map(key));
    return (t: T) => !keys.has(key(t));
  };
  return {
    ok: true,
    cluster: {
      namespaces: [...given.namespaces, ...lab.namespaces.filter(has(given.namespaces, (n) => n.name))],
      endpoints: [...endpoints, ...lab.endpoints.filter(has(given.endpoints, endpointKey))],
      nodes: [...nodes, ...lab.nodes.filter(has(given.nodes, (n) => n.name))],
    },
  };
}

export class LabBindError extends Error {
  readonly problems: readonly BindProblem[];
  constructor(problems: readonly BindProblem[]) {
    super(
      `the manifests do not fit the lab:\n${problems.map((p) => `  ${p.subject}: ${p.message}`).join('\n')}`,
    );
    this.name = 'LabBindError';
    this.problems = problems;
  }
}
