/**
 * The objects `palisade bench sync` writes into the datastore, as the Kubernetes API would hold them.
 * Pure. Shapes follow clusterloader2's NetworkPolicyEnforcement measurement (kubernetes/perf-tests,
 * clusterloader2/pkg/measurement/common/network-policy): target pods behind a policy that denies by
 * default, allow policies created while load policies are written, load policies that select other pods
 * of the target namespaces with an ipBlock and two ports (its manifests/policy-load.yaml), and for pod
 * creation, clients whose egress is allowed only to the new pods (its policy-egress-allow-target-pods).
 */
import type { Obj } from '../../dialects/index.js';
import type { NamedObject } from '../../agent/index.js';
import { nameObject } from '../../agent/index.js';

export const TARGET_NS = 'bench-targets';
export const CLIENT_NS = 'bench-clients';
export const TARGET_PORT = 8080;
/** Load policies' second port, as clusterloader2's policy-load.yaml uses two to double the rules. */
const LOAD_PORT_2 = 6355;
/** Clients are split over this many `load-peer` labels that load policies admit. */
const LOAD_PEERS = 2;

export type PodRole = 'target' | 'client' | 'pod-client' | 'load' | 'new';

export interface BenchPod {
  readonly namespace: string;
  readonly name: string;
  readonly node: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Serves TARGET_PORT. */
  readonly serves: boolean;
}

export interface BenchLayout {
  readonly nodes: readonly string[];
  readonly pods: readonly BenchPod[];
  /** Distinct `load-group` values: each load policy selects one. */
  readonly loadGroups: number;
}

/**
 * `targets` target pods round-robin over the nodes; per node one policy-creation client, one
 * pod-creation client and two load pods (so that every node's agent has load policies to recompute).
 */
export function benchLayout(nodes: number, targets: number): BenchLayout {
  const names = Array.from({ length: nodes }, (_, i) => `node-${i}`);
  const at = (i: number): string => names[i % nodes] ?? 'node-0';
  const pods: BenchPod[] = [];
  for (let i = 0; i < targets; i++) {
    pods.push({
      namespace: TARGET_NS,
      name: `target-${i}`,
      node: at(i),
      labels: { role: 'target', app: `target-${i}` },
      serves: true,
    });
  }
  names.forEach((node, n) => {
    pods.push(
      {
        namespace: CLIENT_NS,
        name: `client-${n}`,
        node,
        labels: { role: 'client', app: `client-${n}`, 'load-peer': `q${n % LOAD_PEERS}` },
        serves: false,
      },
      {
        namespace: CLIENT_NS,
        name: `pod-client-${n}`,
        node,
        labels: { role: 'pod-client', app: `pod-client-${n}` },
        serves: false,
      },
    );
  });
  const loadGroups = 2 * nodes;
  for (let g = 0; g < loadGroups; g++) {
    pods.push({
      namespace: TARGET_NS,
      name: `load-${g}`,
      node: at(g),
      labels: { role: 'load', 'load-group': `g${g}` },
      serves: true,
    });
  }
  return { nodes: names, pods, loadGroups };
}

function named(o: Obj): NamedObject {
  const n = nameObject(o);
  if (!n.ok) throw new Error(`bench sync built an invalid object: ${n.error.message}`, { cause: n.error });
  return n.value;
}

export function namespaceObjects(): NamedObject[] {
  return [
    [TARGET_NS, 'targets'],
    [CLIENT_NS, 'clients'],
  ].map(([name, role]) =>
    named({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels: { 'kubernetes.io/metadata.name': name, 'bench-role': role } },
    }),
  );
}

/**
 * A Pod as the API holds it once scheduled: without `ip`, as created (no address yet); with it, once the
 * kubelet reported status.podIP, which is how agents of other nodes learn the address.
 */
export function podObject(pod: BenchPod, ip?: string): NamedObject {
  return named({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: pod.name, namespace: pod.namespace, labels: { ...pod.labels } },
    spec: {
      nodeName: pod.node,
      containers: [
        {
          name: 'probe',
          ports: pod.serves ? [{ containerPort: TARGET_PORT, protocol: 'TCP' }] : [],
        },
      ],
    },
    status: ip === undefined ? { phase: 'Pending' } : { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
  });
}

function policy(
  namespace: string,
  name: string,
  spec: Obj,
  labels: Record<string, string> = {},
): NamedObject {
  return named({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace, labels: { 'bench-sync': 'true', ...labels } },
    spec,
  });
}

const fromClients = (podLabels: Record<string, string>): Obj => ({
  namespaceSelector: { matchLabels: { 'bench-role': 'clients' } },
  podSelector: { matchLabels: podLabels },
});

const tcp = (port: number): Obj => ({ protocol: 'TCP', port });

/**
 * Present from the start: the target namespace denies ingress by default; new pods (role=new) admit the
 * pod-creation clients; those clients may send only to new pods, so a new pod is reachable only once the
 * client's node knows its IP (an address no agent knows yet is not in any allowed set).
 */
export function basePolicies(): NamedObject[] {
  return [
    policy(TARGET_NS, 'default-deny', { podSelector: {}, policyTypes: ['Ingress'] }),
    policy(TARGET_NS, 'allow-new-pods', {
      podSelector: { matchLabels: { role: 'new' } },
      policyTypes: ['Ingress'],
      ingress: [{ from: [fromClients({ role: 'pod-client' })], ports: [tcp(TARGET_PORT)] }],
    }),
    policy(CLIENT_NS, 'pod-client-egress', {
      podSelector: { matchLabels: { role: 'pod-client' } },
      policyTypes: ['Egress'],
      egress: [
        {
          to: [
            {
              namespaceSelector: { matchLabels: { 'bench-role': 'targets' } },
              podSelector: { matchLabels: { role: 'new' } },
            },
          ],
          ports: [tcp(TARGET_PORT)],
        },
      ],
    }),
  ];
}

/** The measured allow: `client` may reach `target` on TARGET_PORT. */
export function allowPolicy(sample: number, target: BenchPod, client: BenchPod): NamedObject {
  return policy(TARGET_NS, `allow-sample-${sample}`, {
    podSelector: { matchLabels: { app: target.labels['app'] ?? target.name } },
    policyTypes: ['Ingress'],
    ingress: [
      { from: [fromClients({ app: client.labels['app'] ?? client.name })], ports: [tcp(TARGET_PORT)] },
    ],
  });
}

/**
 * Load policy `k`: selects one load group of the target namespace; ingress from one half of the clients
 * and egress to a /24 (clusterloader2's `10.0.<k mod 256>.0/24`), both on two ports. Each one changes
 * the rules of a real pod, so every write makes that pod's node recompute and re-apply.
 */
export function loadPolicy(k: number, loadGroups: number): NamedObject {
  const ports = [tcp(TARGET_PORT), tcp(LOAD_PORT_2)];
  return policy(
    TARGET_NS,
    `load-${k}`,
    {
      podSelector: { matchLabels: { 'load-group': `g${k % loadGroups}` } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [fromClients({ 'load-peer': `q${k % LOAD_PEERS}` })], ports }],
      egress: [{ to: [{ ipBlock: { cidr: `10.0.${k % 256}.0/24` } }], ports }],
    },
    { group: 'load' },
  );
}
