/**
 * Kubernetes NetworkPolicy → Calico projectcalico.org/v3 NetworkPolicy (test oracle).
 *
 * Calico runs Kubernetes policies in its `default` tier at order 1000 (docs.tigera.io "Tier" reference),
 * so the translation sits exactly there. Inside a tier a policy that selects the endpoint but has no
 * matching rule hands over to the next policy, and the tier drops at its end when some policy of it
 * selected the endpoint; with Allow rules only, that is the Kubernetes union of allows plus isolation.
 *
 * A Calico rule holds one peer (EntityRule) and one protocol, while a Kubernetes rule ORs a list of peers
 * and a list of ports over several protocols; one Kubernetes rule therefore becomes the cross product
 * peers × protocols of Calico Allow rules, whose union is the original rule.
 */
import type { Direction, LabelSelector, NetpolRule, Obj, Peer, Port, Protocol } from './k8s.js';
import { DIRECTIONS, readNetworkPolicy } from './k8s.js';

const quote = (v: string): string => `'${v}'`;

/** A Kubernetes LabelSelector as a Calico selector expression; the empty selector is `all()`. */
export function calicoSelector(s: LabelSelector): string {
  const parts = [
    ...Object.entries(s.matchLabels).map(([k, v]) => `${k} == ${quote(v)}`),
    ...s.matchExpressions.map((r) => {
      const set = `{${r.values.map(quote).join(', ')}}`;
      switch (r.operator) {
        case 'In':
          return `${r.key} in ${set}`;
        // Calico's `not in`, like Kubernetes' NotIn, also matches objects without the label.
        case 'NotIn':
          return `${r.key} not in ${set}`;
        case 'Exists':
          return `has(${r.key})`;
        case 'DoesNotExist':
          return `!has(${r.key})`;
      }
    }),
  ];
  return parts.length === 0 ? 'all()' : parts.join(' && ');
}

/** The EntityRule fields for one Kubernetes peer; `undefined` (no peer) matches any source/destination. */
function entity(peer: Peer | undefined): Obj {
  if (peer === undefined) return {};
  switch (peer.kind) {
    // In a namespaced Calico NetworkPolicy a bare `selector` is scoped to the policy's namespace.
    case 'pods':
      return { selector: calicoSelector(peer.pods) };
    case 'namespaces':
      return {
        namespaceSelector: calicoSelector(peer.namespaces),
        selector: calicoSelector(peer.pods),
      };
    // Calico `nets` match any address, pods included, as ipBlock does; `notNets` are the excepts.
    case 'ipBlock':
      return { nets: [peer.cidr], ...(peer.except.length > 0 ? { notNets: [...peer.except] } : {}) };
  }
}

interface ProtocolGroup {
  readonly protocol: Protocol;
  /** Undefined: every port of the protocol. */
  readonly ports: readonly (number | string)[] | undefined;
}

/** Ports grouped by protocol; a protocol-only entry swallows the port entries of its protocol. */
function byProtocol(ports: readonly Port[]): ProtocolGroup[] {
  const groups = new Map<Protocol, (number | string)[] | undefined>();
  for (const p of ports) {
    const had = groups.has(p.protocol) ? groups.get(p.protocol) : [];
    if (p.port === undefined || had === undefined) {
      groups.set(p.protocol, undefined);
      continue;
    }
    // Calico writes a range as "start:end" and a named port by its name.
    had.push(p.endPort === undefined ? p.port : `${p.port}:${p.endPort}`);
    groups.set(p.protocol, had);
  }
  return [...groups].map(([protocol, list]) => ({ protocol, ports: list }));
}

function rules(rule: NetpolRule, direction: Direction): Obj[] {
  const peers: readonly (Peer | undefined)[] = rule.peers === 'any' ? [undefined] : rule.peers;
  const groups: readonly (ProtocolGroup | undefined)[] =
    rule.ports === 'any' ? [undefined] : byProtocol(rule.ports);
  return peers.flatMap((peer) =>
    groups.map((g) => {
      const other = entity(peer);
      const ports = g?.ports === undefined ? {} : { ports: [...g.ports] };
      // The policy's own endpoint is the destination of ingress and the source of egress; ports are
      // always destination ports.
      const source = direction === 'Ingress' ? other : {};
      const destination = direction === 'Ingress' ? ports : { ...other, ...ports };
      return {
        action: 'Allow',
        ...(g === undefined ? {} : { protocol: g.protocol }),
        ...(Object.keys(source).length > 0 ? { source } : {}),
        ...(Object.keys(destination).length > 0 ? { destination } : {}),
      };
    }),
  );
}

export function toCalico(networkPolicy: Obj): Obj {
  const np = readNetworkPolicy(networkPolicy);
  const spec: Obj = {
    tier: 'default',
    order: 1000,
    selector: calicoSelector(np.podSelector),
    // Explicit: Calico's own default for `types` differs (Egress alone when there are only egress rules).
    types: [...np.isolates],
  };
  for (const d of DIRECTIONS) {
    if (np.isolates.includes(d))
      spec[d === 'Ingress' ? 'ingress' : 'egress'] = np.rules[d].flatMap((r) => rules(r, d));
  }
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'NetworkPolicy',
    metadata: { namespace: np.namespace, name: np.name },
    spec,
  };
}
