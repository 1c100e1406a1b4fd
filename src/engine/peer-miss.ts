/**
 * Why a peer does not cover the other side of a flow, in words: "why was this dropped?" must be answerable
 * from the explanation alone, so a mismatch names the selector, label or address that failed.
 */
import type { Ip } from '../ir/cidr.js';
import { cidrContainsIp, formatIp } from '../ir/cidr.js';
import type { Labels, Requirement, Selector } from '../ir/labels.js';
import type { NamespaceScope, Peer } from '../ir/peer.js';
import type { PolicyModel } from './model.js';
import { scopeMatches, selectorMatches } from '../ir/label-match.js';
import type { Side } from './side.js';
import { fqdnHits } from './match.js';

function requirementText(r: Requirement): string {
  switch (r.op) {
    case 'In':
      return r.values.length === 1 ? `${r.key}=${r.values[0] ?? ''}` : `${r.key} in (${r.values.join(',')})`;
    case 'NotIn':
      return r.values.length === 1
        ? `${r.key}!=${r.values[0] ?? ''}`
        : `${r.key} notin (${r.values.join(',')})`;
    case 'Exists':
      return r.key;
    case 'DoesNotExist':
      return `!${r.key}`;
    case 'Contains':
      return `${r.key} contains ${r.value}`;
    case 'StartsWith':
      return `${r.key} starts with ${r.value}`;
    case 'EndsWith':
      return `${r.key} ends with ${r.value}`;
  }
}

/** kubectl-like selector text: `app=web,tier in (a,b)`; `{}` for select-all. */
export function selectorText(s: Selector): string {
  switch (s.kind) {
    case 'match':
      return s.requirements.length === 0 ? '{}' : s.requirements.map(requirementText).join(',');
    case 'nothing':
      return '(nothing)';
    case 'and':
      return s.of.map((x) => `(${selectorText(x)})`).join(' && ');
    case 'or':
      return s.of.map((x) => `(${selectorText(x)})`).join(' || ');
    case 'not':
      return `!(${selectorText(s.of)})`;
  }
}

function labelsText(l: Labels): string {
  const entries = Object.entries(l);
  return entries.length === 0 ? '{}' : entries.map(([k, v]) => `${k}=${v}`).join(',');
}

function scopeText(s: NamespaceScope): string {
  return s.kind === 'names' ? `namespace ${s.names.join('|')}` : `namespaces ${selectorText(s.selector)}`;
}

function ipsText(ips: readonly Ip[]): string {
  return ips.length === 0 ? 'no address' : ips.map(formatIp).join(',');
}

/** One line per peer of a rule that did not match; empty when some peer matched or the rule has none. */
export function peerMisses(model: PolicyModel, peers: readonly Peer[], other: Side): string[] {
  const pod = other.endpoint !== undefined && !other.endpoint.hostNetwork ? other.endpoint : undefined;
  return peers.map((peer, i) => {
    const head = `peer ${i}`;
    switch (peer.kind) {
      case 'endpoints': {
        const what = `${scopeText(peer.namespaces)} × pods ${selectorText(peer.pods)}`;
        if (pod === undefined) return `${head} (${what}): ${other.label} is not a pod on the pod network`;
        if (!scopeMatches(peer.namespaces, pod.namespace, pod.namespaceLabels))
          return `${head} (${what}): namespace ${pod.namespace} {${labelsText(pod.namespaceLabels)}} is not selected`;
        if (!selectorMatches(peer.pods, pod.labels))
          return `${head} (${what}): pod labels {${labelsText(pod.labels)}} do not match`;
        return `${head} (${what}): matches`;
      }
      case 'cidr': {
        const what = peer.except.length > 0 ? `${peer.cidr} except ${peer.except.join(',')}` : peer.cidr;
        if (pod !== undefined && !peer.matchesPods)
          return `${head} (${what}): this dialect's CIDR peers never match pods`;
        const block = model.cidrs.get(peer.cidr);
        const inside = block ? other.ips.filter((ip) => cidrContainsIp(block, ip)) : [];
        if (inside.length === 0) return `${head} (${what}): ${ipsText(other.ips)} is outside ${peer.cidr}`;
        const hole = peer.except.find((x) => {
          const h = model.cidrs.get(x);
          return h !== undefined && inside.some((ip) => cidrContainsIp(h, ip));
        });
        return hole === undefined
          ? `${head} (${what}): matches`
          : `${head} (${what}): ${ipsText(inside)} is in the except ${hole}`;
      }
      case 'entity':
        return `${head} (entity ${peer.entity}): ${other.label} is not ${peer.entity}`;
      case 'nodes':
        return `${head} (nodes ${selectorText(peer.selector)}): ${other.label} is not a selected node`;
      case 'fqdn': {
        const what = `fqdn ${peer.pattern}, ${peer.semantics}`;
        if (pod !== undefined && !peer.matchesPods)
          return `${head} (${what}): this dialect's FQDN peers never match pods`;
        const hits = fqdnHits(model, peer, other.ips);
        if (hits.length > 0)
          return `${head} (${what}): matches (${hits.map((h) => `${h.ip} learnt for ${h.name || '.'}`).join(', ')})`;
        const learnt = other.ips.flatMap((ip) => (model.dns.get(formatIp(ip)) ?? []).map((n) => n || '.'));
        return learnt.length === 0
          ? `${head} (${what}): no name is learnt for ${ipsText(other.ips)}`
          : `${head} (${what}): ${ipsText(other.ips)} is learnt for ${learnt.join(', ')}, which the pattern does not select`;
      }
    }
  });
}
