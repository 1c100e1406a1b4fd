/**
 * Kubernetes NetworkPolicy → Cilium cilium.io/v2 CiliumNetworkPolicy (test oracle).
 *
 * Where the two differ (docs.cilium.io "Layer 3 Policies", "Using Kubernetes Constructs in Policy"):
 * - Isolation: a CNP puts a direction into default deny when it has any rule there; `ingress: [{}]` is
 *   Cilium's idiom for "deny all" (an empty rule selects no peer), whereas in Kubernetes `ingress: [{}]`
 *   allows everything. So an isolated direction without rules becomes `[{}]`, a Kubernetes rule with no
 *   peers and no ports becomes `fromEntities: [all]`, and one with ports only becomes an L4-only rule
 *   (toPorts without an L3 member, which Cilium applies to every peer).
 * - An L3 member (`fromEndpoints`, `fromCIDRSet`, `fromEntities`) stands alone in a rule; a Kubernetes
 *   rule mixing pod and ipBlock peers becomes one Cilium rule per member, each with the same toPorts.
 * - A selector that names no namespace means the policy's own namespace; "every namespace" is
 *   `io.kubernetes.pod.namespace Exists`, and namespace labels are `io.cilium.k8s.namespace.labels.<key>`
 *   (the name label `kubernetes.io/metadata.name` is written as `io.kubernetes.pod.namespace`).
 * - CIDR rules never match pods (nor nodes): they select only addresses without a Cilium identity. An
 *   ipBlock's effect on pods is therefore translated into `fromEndpoints` naming exactly the pods whose
 *   IPs it covers — exact for a cluster whose pod IPs are known and fixed, like the e2e xyz layout; each
 *   pod is named by namespace plus all its labels, and the translation refuses when that would also catch
 *   another pod. The ipBlock itself stays as a `fromCIDRSet` rule for non-pod addresses. A block that
 *   covers node addresses is exact only as the whole IPv4 space (`fromEntities: [all]`); any other is
 *   refused (the arbitraries never produce one).
 * - Ports: Cilium's default protocol is ANY and port "0" is every port, so the protocol is always written.
 */
import type { Cluster } from '../../../src/ir/index.js';
import type { Direction, LabelSelector, NetpolRule, Obj, Peer, Port, Requirement } from './k8s.js';
import { DIRECTIONS, Untranslatable, readNetworkPolicy, writeSelector } from './k8s.js';

const POD_NAMESPACE = 'k8s:io.kubernetes.pod.namespace';
const NAMESPACE_LABELS = 'k8s:io.cilium.k8s.namespace.labels.';
const NAMESPACE_NAME = 'kubernetes.io/metadata.name';

/** The pods and node addresses an ipBlock is resolved against. */
export type Addresses = Pick<Cluster, 'endpoints' | 'nodes'>;

function namespaceKey(key: string): string {
  return key === NAMESPACE_NAME ? POD_NAMESPACE : `${NAMESPACE_LABELS}${key}`;
}

/** A Kubernetes namespaceSelector as requirements on a Cilium endpoint's namespace labels. */
function namespaceSelector(s: LabelSelector): LabelSelector {
  const matchLabels = Object.fromEntries(Object.entries(s.matchLabels).map(([k, v]) => [namespaceKey(k), v]));
  const matchExpressions = s.matchExpressions.map((r): Requirement => ({ ...r, key: namespaceKey(r.key) }));
  if (matchExpressions.length === 0 && Object.keys(matchLabels).length === 0)
    // Without a namespace requirement a CNP selector means the policy's own namespace.
    return { matchLabels: {}, matchExpressions: [{ key: POD_NAMESPACE, operator: 'Exists', values: [] }] };
  return { matchLabels, matchExpressions };
}

function merge(a: LabelSelector, b: LabelSelector): LabelSelector {
  return {
    matchLabels: { ...a.matchLabels, ...b.matchLabels },
    matchExpressions: [...a.matchExpressions, ...b.matchExpressions],
  };
}

// IPv4 only: the layouts these properties run on are IPv4.
function ipv4(text: string): number | undefined {
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

function inCidr(ip: string, cidr: string): boolean {
  const [base = '', prefix = ''] = cidr.split('/');
  const a = ipv4(ip);
  const b = ipv4(base);
  if (a === undefined || b === undefined) return false;
  const size = 2 ** (32 - Number(prefix));
  return Math.floor(a / size) === Math.floor(b / size);
}

const covers = (block: Extract<Peer, { kind: 'ipBlock' }>, ip: string): boolean =>
  inCidr(ip, block.cidr) && !block.except.some((e) => inCidr(ip, e));

/** Exactly the pods an ipBlock covers, as endpoint selectors (see the file comment). */
function podsCovered(block: Extract<Peer, { kind: 'ipBlock' }>, at: Addresses): LabelSelector[] {
  const pods = at.endpoints.filter((e) => !e.hostNetwork);
  return pods
    .filter((e) => e.ips.some((ip) => covers(block, ip)))
    .map((e) => {
      const lookalike = pods.find(
        (o) =>
          o !== e &&
          o.namespace === e.namespace &&
          Object.entries(e.labels).every(([k, v]) => Object.hasOwn(o.labels, k) && o.labels[k] === v),
      );
      if (lookalike !== undefined)
        throw new Untranslatable(`${e.namespace}/${e.name} cannot be selected without ${lookalike.name}`);
      return { matchLabels: { [POD_NAMESPACE]: e.namespace, ...e.labels }, matchExpressions: [] };
    });
}

interface Members {
  readonly endpoints: LabelSelector[];
  readonly cidrSets: Obj[];
  readonly entities: Set<string>;
}

function members(peers: readonly Peer[], at: Addresses): Members {
  const out: Members = { endpoints: [], cidrSets: [], entities: new Set() };
  for (const peer of peers) {
    switch (peer.kind) {
      case 'pods':
        out.endpoints.push(peer.pods);
        break;
      case 'namespaces':
        out.endpoints.push(merge(peer.pods, namespaceSelector(peer.namespaces)));
        break;
      case 'ipBlock': {
        const nodes = at.nodes.flatMap((n) => n.ips).filter((ip) => covers(peer, ip));
        if (peer.cidr === '0.0.0.0/0' && peer.except.length === 0) {
          out.entities.add('all');
        } else if (nodes.length > 0) {
          throw new Untranslatable(`${peer.cidr} covers node addresses ${nodes.join(', ')}`);
        } else {
          out.endpoints.push(...podsCovered(peer, at));
          out.cidrSets.push({
            cidr: peer.cidr,
            ...(peer.except.length > 0 ? { except: [...peer.except] } : {}),
          });
        }
        break;
      }
    }
  }
  return out;
}

function toPorts(ports: readonly Port[]): Obj[] {
  return [
    {
      ports: ports.map((p) => ({
        port: String(p.port ?? 0),
        ...(p.endPort === undefined ? {} : { endPort: p.endPort }),
        protocol: p.protocol,
      })),
    },
  ];
}

function rules(rule: NetpolRule, direction: Direction, at: Addresses): Obj[] {
  const from = direction === 'Ingress' ? 'from' : 'to';
  const l4 = rule.ports === 'any' ? {} : { toPorts: toPorts(rule.ports) };
  if (rule.peers === 'any') return [rule.ports === 'any' ? { [`${from}Entities`]: ['all'] } : l4];
  const m = members(rule.peers, at);
  const out: Obj[] = [];
  if (m.endpoints.length > 0) out.push({ [`${from}Endpoints`]: m.endpoints.map(writeSelector), ...l4 });
  if (m.cidrSets.length > 0) out.push({ [`${from}CIDRSet`]: m.cidrSets, ...l4 });
  if (m.entities.size > 0) out.push({ [`${from}Entities`]: [...m.entities], ...l4 });
  return out;
}

export function toCilium(networkPolicy: Obj, at: Addresses): Obj {
  const np = readNetworkPolicy(networkPolicy);
  const spec: Obj = { endpointSelector: writeSelector(np.podSelector) };
  for (const d of DIRECTIONS) {
    // A non-isolated direction gets no rules at all: any rule there would isolate it.
    if (!np.isolates.includes(d)) continue;
    const translated = np.rules[d].flatMap((r) => rules(r, d, at));
    // An isolated direction always gets a rule, `{}` (selects no peer) when there is nothing to allow.
    spec[d === 'Ingress' ? 'ingress' : 'egress'] = translated.length > 0 ? translated : [{}];
  }
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { namespace: np.namespace, name: np.name },
    spec,
  };
}
