/**
 * `--dns NAME=IP[,IP…]` (repeatable), `--dns-query NAME` and `--dns-reject CODE`: resolutions and queries as
 * the node's DNS proxy would see them, for the analyze verbs.
 */
import { addressesOf, canonicalName, emptyDnsCache, learn, learntNames } from '../engine/index.js';
import type { DnsRefusal, LearntNames } from '../engine/index.js';
import { canonicalIp } from '../ir/index.js';
import type { Cluster, Endpoint, FlowPeer } from '../ir/index.js';
import { UsageError } from './exit-codes.js';

export const DNS_HELP =
  'a resolution the node DNS proxy saw, NAME=IP[,IP...] (repeatable): FQDN peers cover IP while NAME is ' +
  'one they select (enforced offline only)';

/** A DNS name as resolvers send it: labels of letters, digits, '-' and '_', an optional trailing dot. */
const DNS_NAME =
  /^(?=.{1,254}$)([A-Za-z0-9_]([-A-Za-z0-9_]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_]([-A-Za-z0-9_]{0,61}[A-Za-z0-9_])?\.?$/;

export function checkDnsName(name: string, flag: string): string {
  if (!DNS_NAME.test(name)) throw new UsageError(`${flag} ${JSON.stringify(name)}: not a DNS name`);
  return canonicalName(name);
}

/**
 * The names learnt from `--dns` entries: each an answer that has just passed through the proxy (offline
 * there is no clock, so every entry is live).
 */
export function learntFromFlags(entries: readonly string[]): LearntNames | undefined {
  if (entries.length === 0) return undefined;
  let cache = emptyDnsCache();
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const name = eq < 0 ? '' : entry.slice(0, eq).trim();
    const list =
      eq < 0
        ? []
        : entry
            .slice(eq + 1)
            .split(',')
            .map((s) => s.trim());
    if (eq < 0 || list.length === 0 || list.some((s) => s === ''))
      throw new UsageError(`--dns ${JSON.stringify(entry)}: expected NAME=IP[,IP...]`);
    checkDnsName(name, '--dns');
    const bad = list.find((ip) => canonicalIp(ip) === undefined);
    if (bad !== undefined)
      throw new UsageError(`--dns ${JSON.stringify(entry)}: ${bad} is not an IP address`);
    cache = learn(cache, { name, ips: list, ttl: 1, at: 0 });
  }
  return learntNames(cache, 0);
}

export function parseDnsRefusal(value: string): DnsRefusal {
  // Cilium's --tofqdns-dns-reject-response-code spells them refused and nameError.
  const v = value.toLowerCase();
  if (v === 'refused') return 'REFUSED';
  if (v === 'nxdomain' || v === 'nameerror') return 'NXDOMAIN';
  throw new UsageError(`--dns-reject ${value}: one of refused, nxdomain`);
}

/**
 * `--to NAME`: the first address `--dns` gives the name (sorted), as a client connecting after that lookup
 * would use; undefined when `text` is not a name `--dns` resolved.
 */
export function resolveByDns(
  text: string,
  learnt: LearntNames | undefined,
): { name: string; ip: string } | undefined {
  if (learnt === undefined || !DNS_NAME.test(text)) return undefined;
  const ip = addressesOf(learnt, text)[0];
  return ip === undefined ? undefined : { name: canonicalName(text), ip };
}

/**
 * The cluster DNS a pod's query goes to: as in a real cluster, the pods labelled `k8s-app: kube-dns` in
 * `kube-system` (the first by name).
 */
export function clusterDns(cluster: Cluster): FlowPeer | undefined {
  const pods: Endpoint[] = cluster.endpoints
    .filter((e) => e.namespace === 'kube-system' && e.labels['k8s-app'] === 'kube-dns' && !e.hostNetwork)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const first = pods[0];
  return first === undefined ? undefined : { kind: 'endpoint', endpoint: first };
}
