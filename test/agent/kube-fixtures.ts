/**
 * Objects as a Kubernetes 1.31 API server returns them (`kubectl get -o json` of a kind cluster, trimmed
 * to one container): server-set metadata (uid, creationTimestamp, managedFields), defaulted spec fields
 * and the pod's status with its IPs. The replay server stamps resourceVersion and uid on top.
 */
import type { KubeObject, ReplayResource } from './kube-replay.js';
import { pathOf } from './kube-replay.js';

export const PODS: ReplayResource = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', crd: false };
export const NAMESPACES: ReplayResource = {
  group: '',
  version: 'v1',
  plural: 'namespaces',
  kind: 'Namespace',
  crd: false,
};
export const NODES: ReplayResource = { group: '', version: 'v1', plural: 'nodes', kind: 'Node', crd: false };
export const NETPOLS: ReplayResource = {
  group: 'networking.k8s.io',
  version: 'v1',
  plural: 'networkpolicies',
  kind: 'NetworkPolicy',
  crd: false,
};
export const CILIUM: ReplayResource = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumnetworkpolicies',
  kind: 'CiliumNetworkPolicy',
  crd: true,
};
/** Served at the older of the two versions the source tries, as by an Antrea release before 1.13. */
export const ANTREA_TIERS_V1ALPHA1: ReplayResource = {
  group: 'crd.antrea.io',
  version: 'v1alpha1',
  plural: 'tiers',
  kind: 'Tier',
  crd: true,
};

/** Core, networking and one CRD of each of two dialects; the other CRDs answer 404 (not installed). */
export const SERVED = [PODS, NAMESPACES, NODES, NETPOLS, CILIUM, ANTREA_TIERS_V1ALPHA1];
export const P = {
  pods: pathOf(PODS),
  namespaces: pathOf(NAMESPACES),
  nodes: pathOf(NODES),
  netpols: pathOf(NETPOLS),
  cilium: pathOf(CILIUM),
  antreaTiers: pathOf(ANTREA_TIERS_V1ALPHA1),
};

const managed = (manager: string, apiVersion: string, fields: Record<string, unknown>): unknown[] => [
  {
    manager,
    operation: 'Update',
    apiVersion,
    time: '2025-06-02T09:14:07Z',
    fieldsType: 'FieldsV1',
    fieldsV1: fields,
  },
];

export function namespace(name: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name,
      labels: { 'kubernetes.io/metadata.name': name },
      managedFields: managed('kubectl-create', 'v1', { 'f:metadata': { 'f:labels': { '.': {} } } }),
    },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  };
}

export function node(name: string, ip: string, podCidr: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' },
      annotations: { 'node.alpha.kubernetes.io/ttl': '0' },
    },
    spec: { podCIDR: podCidr, podCIDRs: [podCidr], providerID: `kind://docker/pal/${name}` },
    status: {
      addresses: [
        { type: 'InternalIP', address: ip },
        { type: 'Hostname', address: name },
      ],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }],
    },
  };
}

export function pod(name: string, ns: string, nodeName: string, ip: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: ns,
      labels: { app: name },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2025-06-02T09:14:00Z' },
      managedFields: managed('kubelet', 'v1', { 'f:status': { 'f:podIP': {}, 'f:podIPs': {} } }),
    },
    spec: {
      containers: [
        {
          name: 'web',
          image: 'registry.k8s.io/e2e-test-images/agnhost:2.52',
          args: ['netexec', '--http-port=80'],
          ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
          resources: {},
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          imagePullPolicy: 'IfNotPresent',
        },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      serviceAccount: 'default',
      nodeName,
      securityContext: {},
      schedulerName: 'default-scheduler',
      tolerations: [
        {
          key: 'node.kubernetes.io/not-ready',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
      ],
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
    },
    status: {
      phase: 'Running',
      conditions: [
        { type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: '2025-06-02T09:14:09Z' },
      ],
      hostIP: '172.18.0.2',
      hostIPs: [{ ip: '172.18.0.2' }],
      podIP: ip,
      podIPs: [{ ip }],
      startTime: '2025-06-02T09:14:07Z',
      qosClass: 'BestEffort',
    },
  };
}

/** A NetworkPolicy as stored: policyTypes and each port's protocol defaulted by the server. */
export function netpol(name: string, ns: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name,
      namespace: ns,
      generation: 1,
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({
          apiVersion: 'networking.k8s.io/v1',
          kind: 'NetworkPolicy',
          metadata: { name, namespace: ns },
          spec,
        }),
      },
      managedFields: managed('kubectl-client-side-apply', 'networking.k8s.io/v1', { 'f:spec': {} }),
    },
    spec,
  };
}

export const denyAll = (ns: string): KubeObject =>
  netpol('default-deny', ns, { podSelector: {}, policyTypes: ['Ingress'] });

export const allowFrom = (
  name: string,
  ns: string,
  from: string,
  to: string,
  port: number | string,
): KubeObject =>
  netpol(name, ns, {
    podSelector: { matchLabels: { app: to } },
    ingress: [
      { from: [{ podSelector: { matchLabels: { app: from } } }], ports: [{ protocol: 'TCP', port }] },
    ],
    policyTypes: ['Ingress'],
  });

export function ciliumPolicy(name: string, ns: string, app: string): KubeObject {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name, namespace: ns, generation: 1 },
    spec: {
      endpointSelector: { matchLabels: { app } },
      ingress: [
        {
          fromEndpoints: [{ matchLabels: { app: 'b' } }],
          toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }],
        },
      ],
    },
  };
}

export function antreaTier(name: string, priority: number): KubeObject {
  return {
    apiVersion: 'crd.antrea.io/v1alpha1',
    kind: 'Tier',
    metadata: { name, generation: 1 },
    spec: { priority, description: 'tier of the replay tests' },
  };
}
