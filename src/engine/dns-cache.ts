/**
 * What a node's DNS proxy has learnt, as plain data: which addresses answered for which name, until when.
 * Pure (no clock: every function takes the time it answers for), so the agent, the lab and `analyze --dns`
 * share one meaning:
 * - an FQDN peer covers an address only while a record learnt from an answer that passed through the node's
 *   proxy holds it (NPEP-133 "Expected Behavior": "When the TTL for a DNS record expires, the implementor
 *   should stop allowing new connections to that IP"; established connections are conntrack's business);
 * - a record lives max(TTL, minimum TTL) seconds from the answer (Cilium `--tofqdns-min-ttl`, Antrea
 *   `fqdnCacheMinTTL`: both floor the answer's TTL; both default to 0 today);
 * - the same address answered again for the same name keeps the later expiry (Antrea fqdn.go onDNSResponse:
 *   "update its expiration time to the later of the new and existing values"); an address missing from a
 *   newer answer lives on until its own expiry (the same function: "It hasn't expired yet, so just retain
 *   it").
 */
import { canonicalIp } from '../ir/cidr.js';
import { canonicalName } from './fqdn.js';

/** One answer as the proxy saw it: the question's name and the A/AAAA addresses it carried. */
export interface DnsAnswer {
  readonly name: string;
  readonly ips: readonly string[];
  /** Seconds, as the answer's records carry it (the lowest of its A/AAAA records). */
  readonly ttl: number;
  /** When the answer passed, in seconds on the caller's clock. */
  readonly at: number;
}

export interface DnsCache {
  /** Floor for every answer's TTL, in seconds. */
  readonly minTtl: number;
  /** Canonical name → canonical address → expiry (seconds on the caller's clock). */
  readonly records: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

/** Canonical address → the canonical names it was learnt for: what the engine reads (ModelOptions.dns). */
export type LearntNames = ReadonlyMap<string, readonly string[]>;

export const NO_LEARNT_NAMES: LearntNames = new Map();

export function emptyDnsCache(minTtl = 0): DnsCache {
  if (!Number.isFinite(minTtl) || minTtl < 0) throw new RangeError(`minimum TTL ${minTtl}: not a duration`);
  return { minTtl, records: new Map() };
}

/**
 * The cache after one answer (a new cache; the argument is not changed). Addresses that do not parse are
 * left out; an answer without addresses (NXDOMAIN, NODATA, a bare CNAME) teaches nothing.
 */
export function learn(cache: DnsCache, answer: DnsAnswer): DnsCache {
  if (!Number.isFinite(answer.ttl) || answer.ttl < 0)
    throw new RangeError(`TTL ${answer.ttl}: not a duration`);
  const ips = answer.ips.map(canonicalIp).filter((ip): ip is string => ip !== undefined);
  if (ips.length === 0) return cache;
  const name = canonicalName(answer.name);
  const expires = answer.at + Math.max(answer.ttl, cache.minTtl);
  const byIp = new Map(cache.records.get(name) ?? []);
  for (const ip of ips) byIp.set(ip, Math.max(byIp.get(ip) ?? -Infinity, expires));
  const records = new Map(cache.records);
  records.set(name, byIp);
  return { minTtl: cache.minTtl, records };
}

/** Whether a record expiring at `expires` still holds at `now` (it holds strictly before its expiry). */
function live(expires: number, now: number): boolean {
  return now < expires;
}

/** The cache without the records expired at `now`. */
export function expire(cache: DnsCache, now: number): DnsCache {
  const records = new Map<string, ReadonlyMap<string, number>>();
  for (const [name, byIp] of cache.records) {
    const kept = new Map([...byIp].filter(([, expires]) => live(expires, now)));
    if (kept.size > 0) records.set(name, kept);
  }
  return { minTtl: cache.minTtl, records };
}

/** Every address with the names it is learnt for at `now`, names sorted. */
export function learntNames(cache: DnsCache, now: number): LearntNames {
  const out = new Map<string, string[]>();
  for (const [name, byIp] of cache.records) {
    for (const [ip, expires] of byIp) {
      if (!live(expires, now)) continue;
      const names = out.get(ip);
      if (names === undefined) out.set(ip, [name]);
      else names.push(name);
    }
  }
  for (const names of out.values()) names.sort();
  return out;
}

/** The addresses learnt for `name` (any case, trailing dot or not), sorted. */
export function addressesOf(learnt: LearntNames, name: string): string[] {
  const n = canonicalName(name);
  return [...learnt]
    .filter(([, names]) => names.includes(n))
    .map(([ip]) => ip)
    .sort();
}
