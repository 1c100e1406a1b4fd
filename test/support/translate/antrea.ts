/**
 * Kubernetes NetworkPolicies → Antrea crd.antrea.io/v1beta1 NetworkPolicies (ANNP) (test oracle).
 *
 * ANNPs do not isolate: inside a tier policies run by priority (then name), rules first-match in written
 * order, and a pod no rule matches falls through to the next tier (docs/antrea-network-policy.md). The
 * Kubernetes meaning is, per pod X and direction D: if some policy selecting X isolates D, a connection
 * is allowed exactly when an allow rule (for D) of some policy selecting X matches; otherwise allowed.
 *
 * The translation places, in the `application` tier, every allow rule before every drop:
 * - `per-policy` layout: for each Kubernetes policy P an ANNP `P` at priority 1 with P's allow rules
 *   (appliedTo P's podSelector), and an ANNP `P-isolation` at priority 2 with one `Drop` rule matching
 *   everything per direction P isolates.
 * - `per-namespace` layout: one ANNP per namespace whose rules carry their own appliedTo: first the allow
 *   rules of all the namespace's policies, then one `Drop` per policy and isolated direction.
 *
 * Why that is the Kubernetes meaning: the policies (or rules) that apply to X are exactly those made from
 * Kubernetes policies selecting X — a Kubernetes policy only selects pods of its own namespace, so per
 * namespace nothing is missed. All allows come first and are only Allow, so the first match among them
 * allows iff some allow of some policy selecting X matches (the union). If none matches, X meets a Drop
 * for D iff some policy selecting X isolates D (the isolation), which matches every connection. If X is
 * selected in no isolating policy it meets neither, falls out of the tier and, with no other policy in the
 * pipeline, is allowed by default. Rules for directions a policy does not isolate are dropped, as the
 * Kubernetes API ignores them.
 */
import type { Direction, NetpolRule, NetworkPolicy, Obj, Peer, Port } from './k8s.js';
import { DIRECTIONS, readNetworkPolicy, writeSelector } from './k8s.js';

export type AntreaLayout = 'per-policy' | 'per-namespace';

const ALLOW_PRIORITY = 1;
const DROP_PRIORITY = 2;

function peer(p: Peer): Obj {
  switch (p.kind) {
    // In an ANNP a bare podSelector selects pods of the policy's namespace, as in Kubernetes.
    case 'pods':
      return { podSelector: writeSelector(p.pods) };
    case 'namespaces':
      return { namespaceSelector: writeSelector(p.namespaces), podSelector: writeSelector(p.pods) };
    // Antrea's ipBlock matches every address, pod IPs included.
    case 'ipBlock':
      return { ipBlock: { cidr: p.cidr, ...(p.except.length > 0 ? { except: [...p.except] } : {}) } };
  }
}

function port(p: Port): Obj {
  return {
    protocol: p.protocol,
    ...(p.port === undefined ? {} : { port: p.port }),
    ...(p.endPort === undefined ? {} : { endPort: p.endPort }),
  };
}

const peersKey = (d: Direction): string => (d === 'Ingress' ? 'from' : 'to');
const listKey = (d: Direction): 'ingress' | 'egress' => (d === 'Ingress' ? 'ingress' : 'egress');

/** A Kubernetes rule is one Antrea Allow rule: both OR their peers and their ports, and absent means any. */
function allow(rule: NetpolRule, d: Direction): Obj {
  return {
    action: 'Allow',
    ...(rule.peers === 'any' ? {} : { [peersKey(d)]: rule.peers.map(peer) }),
    ...(rule.ports === 'any' ? {} : { ports: rule.ports.map(port) }),
  };
}

/** No peers and no ports: matches every connection of the direction. */
const DROP: Obj = { action: 'Drop' };

function annp(namespace: string, name: string, priority: number, spec: Obj): Obj {
  return {
    apiVersion: 'crd.antrea.io/v1beta1',
    kind: 'NetworkPolicy',
    metadata: { namespace, name },
    spec: { tier: 'application', priority, ...spec },
  };
}

function perPolicy(np: NetworkPolicy): Obj[] {
  const appliedTo = [{ podSelector: writeSelector(np.podSelector) }];
  const allows: Obj = {};
  const drops: Obj = {};
  for (const d of np.isolates) {
    if (np.rules[d].length > 0) allows[listKey(d)] = np.rules[d].map((r) => allow(r, d));
    drops[listKey(d)] = [DROP];
  }
  return [
    ...(Object.keys(allows).length > 0
      ? [annp(np.namespace, np.name, ALLOW_PRIORITY, { appliedTo, ...allows })]
      : []),
    annp(np.namespace, `${np.name}-isolation`, DROP_PRIORITY, { appliedTo, ...drops }),
  ];
}

function perNamespace(namespace: string, nps: readonly NetworkPolicy[]): Obj {
  const spec: Obj = {};
  for (const d of DIRECTIONS) {
    const appliedTo = (np: NetworkPolicy) => [{ podSelector: writeSelector(np.podSelector) }];
    const isolating = nps.filter((np) => np.isolates.includes(d));
    const rules = [
      ...isolating.flatMap((np) => np.rules[d].map((r) => ({ ...allow(r, d), appliedTo: appliedTo(np) }))),
      ...isolating.map((np) => ({ ...DROP, appliedTo: appliedTo(np) })),
    ];
    if (rules.length > 0) spec[listKey(d)] = rules;
  }
  return annp(namespace, 'kubernetes-equivalent', ALLOW_PRIORITY, spec);
}

export function toAntrea(networkPolicies: readonly Obj[], layout: AntreaLayout = 'per-policy'): Obj[] {
  const nps = networkPolicies.map(readNetworkPolicy);
  if (layout === 'per-policy') return nps.flatMap(perPolicy);
  const namespaces = [...new Set(nps.map((np) => np.namespace))].sort();
  return namespaces.map((ns) =>
    perNamespace(
      ns,
      nps.filter((np) => np.namespace === ns),
    ),
  );
}
