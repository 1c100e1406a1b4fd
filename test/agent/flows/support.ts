/**
 * A small cluster for flow attribution: namespace `pal` with pods a and b on node n1 and c on n2, a
 * default deny of ingress, an allow b → a on 80, and an AdminNetworkPolicy with a named Deny of 81.
 */
import { reconcile } from '../../../src/agent/index.js';
import type { AttributionContext, KernelFlow } from '../../../src/agent/index.js';
import { DENY_ALL, NAMESPACE, allowBToA, json, pod } from '../support.js';

export const A = '10.77.0.10';
export const B = '10.77.0.11';
export const C = '10.77.0.12';

export const DENY_81 = {
  apiVersion: 'policy.networking.k8s.io/v1alpha1',
  kind: 'AdminNetworkPolicy',
  metadata: { name: 'no-81' },
  spec: {
    priority: 10,
    subject: { namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'pal' } } },
    ingress: [
      {
        name: 'block-81',
        action: 'Deny',
        from: [{ namespaces: {} }],
        ports: [{ portNumber: { protocol: 'TCP', port: 81 } }],
      },
    ],
  },
};

export function remotePod(name: string, ip: string): Record<string, unknown> {
  const p = pod(name, ip) as { spec: Record<string, unknown> };
  return { ...p, spec: { ...p.spec, nodeName: 'n2' } };
}

/** The objects, with or without the policies (`none`: no policy at all). */
export function objects(which: 'all' | 'none' | 'deny-all-only' = 'all'): Map<string, string> {
  const m = new Map([
    ['ns', json(NAMESPACE)],
    ['a', json(pod('a', A))],
    ['b', json(pod('b', B))],
    ['c', json(remotePod('c', C))],
  ]);
  if (which !== 'none') m.set('deny', json(DENY_ALL));
  if (which === 'all') {
    m.set('allow', json(allowBToA(80)));
    m.set('anp', json(DENY_81));
  }
  return m;
}

export function context(which: 'all' | 'none' | 'deny-all-only' = 'all'): AttributionContext {
  const r = reconcile(objects(which), new Map(), { node: 'n1' });
  return { node: 'n1', model: r.model, local: new Set(r.rules.endpoints.map((e) => e.key)) };
}

export function flow(over: Partial<KernelFlow> & Pick<KernelFlow, 'source'>): KernelFlow {
  return {
    kind: 'flow',
    family: 4,
    src: B,
    dst: A,
    proto: 6,
    sport: 40000,
    dport: 80,
    ts: Date.parse('2030-01-02T03:04:05.000Z'),
    ...over,
  };
}
