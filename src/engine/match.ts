import { cidrContainsIp } from '../ir/cidr.js';
import type { Ip } from '../ir/cidr.js';
import type { Endpoint, Protocol } from '../ir/endpoint.js';
import type { Peer, PortMatch } from '../ir/peer.js';
import type { Rule } from '../ir/policy.js';
import type { PolicyModel } from './model.js';
import { scopeMatches, selectorMatches } from './selector.js';
import type { Side } from './side.js';

/** Which halves of a rule matched; a rule matches when both do. Kept apart so explanations can say which. */
export interface RuleCheck {
  readonly peers: boolean;
  readonly ports: boolean;
}

/** Peers whose answer depends on the subject's own node, not only on the other side. */
export function isSubjectRelative(peer: Peer): boolean {
  return peer.kind === 'entity' && (peer.entity === 'host' || peer.entity === 'remote-node');
}

function cidrMatches(model: PolicyModel, peer: Extract<Peer, { kind: 'cidr' }>, ips: readonly Ip[]): boolean {
  const block = model.cidrs.get(peer.cidr);
  if (!block) return false;
  const holes = peer.except.map((x) => model.cidrs.get(x));
  return ips.some(
    (ip) => cidrContainsIp(block, ip) && !holes.some((h) => h !== undefined && cidrContainsIp(h, ip)),
  );
}

/**
 * Whether `peer` (written in a policy selecting `subject`) covers `other`. FQDN peers never match at L3,
 * and kube-apiserver is not known to the model, so it never matches either.
 */
export function peerMatches(model: PolicyModel, peer: Peer, other: Side, subject: Endpoint): boolean {
  const pod = other.endpoint !== undefined && !other.endpoint.hostNetwork ? other.endpoint : undefined;
  switch (peer.kind) {
    case 'endpoints':
      return (
        pod !== undefined &&
        scopeMatches(peer.namespaces, pod.namespace, pod.namespaceLabels) &&
        selectorMatches(peer.pods, pod.labels)
      );
    case 'cidr':
      if (pod !== undefined && !peer.matchesPods) return false;
      return cidrMatches(model, peer, other.ips);
    case 'nodes': {
      const node = other.node === undefined ? undefined : model.nodesByName.get(other.node);
      return node !== undefined && selectorMatches(peer.selector, node.labels);
    }
    case 'fqdn':
      return false;
    case 'entity':
      switch (peer.entity) {
        case 'all':
          return true;
        case 'world':
          return other.endpoint === undefined && other.node === undefined;
        case 'cluster':
          return other.endpoint !== undefined || other.node !== undefined;
        case 'host':
          return other.node !== undefined && other.node === subject.node;
        case 'remote-node':
          return other.node !== undefined && other.node !== subject.node;
        case 'kube-apiserver':
          return false;
      }
  }
}

/** Named ports resolve against the destination's container ports, by name and protocol. */
export function portMatches(
  pm: PortMatch,
  protocol: Protocol,
  port: number,
  dst: Endpoint | undefined,
): boolean {
  // ICMP matches never match the L4 flows the engine evaluates.
  if (pm.kind === 'icmp' || pm.protocol !== protocol) return false;
  switch (pm.kind) {
    case 'protocol':
      return true;
    case 'range':
      return pm.from <= port && port <= pm.to;
    case 'named':
      return (
        dst !== undefined &&
        dst.ports.some((p) => p.name === pm.name && p.protocol === protocol && p.port === port)
      );
  }
}

export function portsMatch(rule: Rule, protocol: Protocol, port: number, dst: Endpoint | undefined): boolean {
  return rule.ports === 'any' || rule.ports.some((pm) => portMatches(pm, protocol, port, dst));
}

export function peersMatch(model: PolicyModel, rule: Rule, other: Side, subject: Endpoint): boolean {
  return rule.peers === 'any' || rule.peers.some((p) => peerMatches(model, p, other, subject));
}
