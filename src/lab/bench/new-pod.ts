/**
 * Adds one pod to a running lab, and removes it, as a container runtime does: the runtime's part (the
 * pod's netns) here, the network through the lab's CNI attachment (`Lab.cni`: Palisade's plugin, ADD and
 * DEL, through whichever CNI host the lab's nodes have). The pod is planned by `planLab` on the lab's
 * nodes, so its netns name, container id and address follow the lab's own rules.
 */
import type { ContainerPort } from '../../ir/endpoint.js';
import type { Lab } from '../lab.js';
import { deleteNetns, run } from '../netns.js';
import type { LabPlan, PlannedPod } from '../topology.js';
import { planLab } from '../topology.js';

export interface NewPodSpec {
  readonly namespace: string;
  readonly name: string;
  readonly node: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The address IPAM is asked for (the `ips` capability). */
  readonly ip: string;
  readonly ports: readonly ContainerPort[];
}

/** A plan of the lab's nodes holding only `spec`, so that its names and addresses are the lab's. */
function planAlone(plan: LabPlan, spec: NewPodSpec): PlannedPod {
  const sub = planLab(
    {
      nodes: plan.nodes.map((n) => ({ name: n.name, labels: {}, ips: [n.ip], podCIDRs: [n.podCidr] })),
      endpoints: [
        {
          namespace: spec.namespace,
          name: spec.name,
          labels: spec.labels,
          namespaceLabels: {},
          node: spec.node,
          ips: [spec.ip],
          ports: spec.ports,
          hostNetwork: false,
        },
      ],
      routing: plan.routing,
    },
    plan.id,
  );
  const pod = sub.pods[0];
  if (!pod) throw new Error(`new pod ${spec.namespace}/${spec.name}: not planned`);
  return pod;
}

/** Creates the pod's netns and runs CNI ADD for it; on failure removes what it made. */
export async function attachPod(lab: Pick<Lab, 'plan' | 'cni'>, spec: NewPodSpec): Promise<PlannedPod> {
  const pod = planAlone(lab.plan, spec);
  await run('ip', ['netns', 'add', pod.netns]);
  try {
    await lab.cni.add(pod);
  } catch (err) {
    await deleteNetns([pod.netns]);
    throw err;
  }
  return pod;
}

/** CNI DEL, then the netns; the netns goes even when DEL fails (whose error is then rethrown). */
export async function detachPod(lab: Pick<Lab, 'cni'>, pod: PlannedPod): Promise<void> {
  try {
    await lab.cni.remove(pod.key);
  } finally {
    await deleteNetns([pod.netns]);
  }
}
