import { cidrContainsIp, formatIp } from '../ir/cidr.js';
import type { Ip } from '../ir/cidr.js';
import type { Endpoint, Protocol } from '../ir/endpoint.js';
import type { Peer, PortMatch } from '../ir/peer.js';
import type { Rule } from '../ir/policy.js';
import type { PolicyModel } from './model.js';
import { scopeMatches, selectorMatches } from '../ir/label-match.js';
import type { Side } from './side.js';
import { fqdnMatches } from './fqdn.js';

/**
 * Which parts of a rule matched, kept apart so explanations can say which. A rule matches when its peers
 * and ports match and no negation excludes the flow (see `ruleMatches`). The negations are only looked at
 * when both positive parts matched.
 */
export interface RuleCheck {
  readonly peers: boolean;
  readonly ports: boolean;
  /** Index in `rule.notPeers` of the first entry the other side matches: that negation excludes the flow. */
  readonly notPeer?: number;
  /** Index in `rule.notPorts` of the first entry the flow's port matches. */
  readonly notPort?: number;
}

export function ruleMatches(c: RuleCheck): boolean {
  return c.peers && c.ports && c.notPeer === undefined && c.notPort === undefined;
}

/**
 * Checks a rule with the two questions every caller answers its own way (a single flow, or a class of
 * pods in the matrix): does this peer cover the other side, does this port match cover the flow's port.
 */
export function checkRule(
  rule: Rule,
  peerMatch: (peer: Peer) => boolean,
  portMatch: (pm: PortMatch) => boolean,
): RuleCheck {
  const peers = rule.peers === 'any' || rule.peers.some(peerMatch);
  const ports = rule.ports === 'any' || rule.ports.some(portMatch);
  if (!peers || !ports) return { peers, ports };
  const notPeer = rule.notPeers?.findIndex(peerMatch) ?? -1;
  const notPort = rule.notPorts?.findIndex(portMatch) ?? -1;
  return {
    peers,
    ports,
    ...(notPeer >= 0 ? { notPeer } : {}),
    ...(notPort >= 0 ? { notPort } : {}),
  };
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

/** The names learnt for one of `ips` that `peer` selects (model.dns), in address then name order. */
export function fqdnHits(
  model: PolicyModel,
  peer: Extract<Peer, { kind: 'fqdn' }>,
  ips: readonly Ip[],
): { ip: string; name: string }[] {
  const hits: { ip: string; name: string }[] = [];
  for (const ip of ips) {
    const text = formatIp(ip);
    for (const name of model.dns.get(text) ?? [])
      if (fqdnMatches(peer.semantics, peer.pattern, name)) hits.push({ ip: text, name });
  }
  return hits;
}

/**
 * Whether `peer` (written in a policy selecting `subject`) covers `other`. FQDN peers cover the addresses
 * learnt for a name they select (model.dns; none unless given); kube-apiserver is not known to the model,
 * so it never matches.
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
      if (pod !== undefined && !peer.matchesPods) return false;
      return model.dns.size > 0 && fqdnHits(model, peer, other.ips).length > 0;
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

/** Every peer a rule mentions, negations included (for indexes built ahead of evaluation). */
export function rulePeers(rule: Rule): readonly Peer[] {
  const positive = rule.peers === 'any' ? [] : rule.peers;
  return rule.notPeers === undefined ? positive : [...positive, ...rule.notPeers];
}

/** Every port match a rule mentions, negations included. */
export function rulePorts(rule: Rule): readonly PortMatch[] {
  const positive = rule.ports === 'any' ? [] : rule.ports;
  return rule.notPorts === undefined ? positive : [...positive, ...rule.notPorts];
}
