/** Manifests shared by the agent tests: namespace `pal` with pods a and b on node n1, and two policies. */
export const NODE = 'n1';

export const NAMESPACE = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'pal' } };

export function pod(name: string, ip: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'pal', labels: { app: name } },
    spec: { nodeName: NODE, containers: [{ name: 'c', ports: [{ containerPort: 80 }] }] },
    status: { podIP: ip },
  };
}

export const DENY_ALL = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'default-deny', namespace: 'pal' },
  spec: { podSelector: {}, policyTypes: ['Ingress'] },
};

/** Lets b reach a on `port`: changing the port must touch only a's ingress. */
export function allowBToA(port: number): Record<string, unknown> {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'allow-b-to-a', namespace: 'pal' },
    spec: {
      podSelector: { matchLabels: { app: 'a' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'b' } } }], ports: [{ port }] }],
    },
  };
}

/** Invalid: podSelector must be an object. */
export const MALFORMED = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'broken', namespace: 'pal' },
  spec: { podSelector: 5 },
};

export const json = (o: unknown): string => JSON.stringify(o);
