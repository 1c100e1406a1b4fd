/**
 * The lab's cluster DNS: what CoreDNS's kubernetes plugin answers in a kubeadm cluster (Corefile
 * `kubernetes cluster.local { pods insecure }`), for A and AAAA, plus the lab's external hosts.
 *
 * Names, as the Kubernetes DNS specification (kubernetes/dns docs/specification.md, schema 1.1.0) and
 * "DNS for Services and Pods" define them, with `<zone>` the cluster domain:
 * - `<svc>.<ns>.svc.<zone>`: the ClusterIPs of a Service, or for a headless one (no ClusterIP) the IPs of
 *   its ready endpoints; `<hostname>.<svc>.<ns>.svc.<zone>`: an endpoint that has a hostname.
 * - `<ip-dashed>.<ns>.pod.<zone>`: a pod's IP with `.` (IPv4) or `:` (IPv6) written `-`. In `insecure`
 *   mode (kubeadm's default, as CoreDNS does it) any well-formed address answers in a namespace that
 *   exists; in `verified` mode only the address of a pod in that namespace.
 * - any name the caller registers for an external host (issue 12's ExternalHost `dnsNames`).
 * A name in a served zone (the cluster domain and the zones the caller lists) that has no record is
 * NXDOMAIN, or NODATA (NOERROR, no answer) when the name exists with other types or only as a parent of
 * other names (RFC 8020); both carry the zone's SOA so clients cache the negative answer for `ttl`. Every
 * other name is REFUSED: this server is authoritative, not a recursive resolver. Names are
 * case-insensitive and taken with or without the trailing dot.
 *
 * The table is plain data built by a pure function; the server only reads it, and `setTable` swaps it.
 */
import { isIP, isIPv4, isIPv6 } from 'node:net';
import type { Answer } from 'dns-packet';
import { normalizeName, parseQuery, respond, fitUdp } from './message.js';
import type { DnsClient, DnsListenerLimits, ListenAddress } from './transport.js';
import { DnsListener } from './transport.js';

export interface ClusterDnsPod {
  readonly namespace: string;
  readonly name: string;
  readonly ips: readonly string[];
}

export interface ClusterDnsEndpoint {
  readonly ips: readonly string[];
  /** The endpoint's hostname (pod `spec.hostname` under a headless Service named by `spec.subdomain`). */
  readonly hostname?: string;
}

export interface ClusterDnsService {
  readonly namespace: string;
  readonly name: string;
  /** Empty for a headless Service (`clusterIP: None`): then the name answers with its endpoints. */
  readonly clusterIPs: readonly string[];
  /** Ready endpoints. */
  readonly endpoints?: readonly ClusterDnsEndpoint[];
}

export interface ClusterDnsHost {
  readonly names: readonly string[];
  readonly addresses: readonly string[];
  /** Overrides the table's TTL for these names (tests of TTL expiry want short ones). */
  readonly ttl?: number;
}

export interface ClusterDnsRecords {
  /** Namespaces that exist; those of pods and services are added. */
  readonly namespaces?: readonly string[];
  readonly pods?: readonly ClusterDnsPod[];
  readonly services?: readonly ClusterDnsService[];
  readonly hosts?: readonly ClusterDnsHost[];
}

export interface ClusterDnsOptions {
  /** Default `cluster.local`. */
  readonly clusterDomain?: string;
  /** Seconds, for every record and negative answer. Default 5 (CoreDNS kubernetes plugin's default). */
  readonly ttl?: number;
  /** Default `insecure`, as kubeadm configures CoreDNS. */
  readonly pods?: 'insecure' | 'verified';
  /** More zones answered authoritatively: unknown names in them are NXDOMAIN rather than REFUSED. */
  readonly zones?: readonly string[];
  /** The SOA serial (a revision of the records). Default 1. */
  readonly serial?: number;
}

export type AddressType = 'A' | 'AAAA';

export interface AddressRecord {
  readonly type: AddressType;
  readonly ip: string;
  readonly ttl: number;
}

export type DnsLookup =
  | { readonly kind: 'answer'; readonly records: readonly AddressRecord[] }
  | { readonly kind: 'nodata'; readonly zone: string }
  | { readonly kind: 'nxdomain'; readonly zone: string }
  | { readonly kind: 'refused' };

export interface ClusterDnsTable {
  readonly clusterDomain: string;
  readonly ttl: number;
  readonly serial: number;
  lookup(name: string, type: string): DnsLookup;
  /** The zone a name falls in (the longest served zone it ends with, or an external name itself). */
  zoneOf(name: string): string | undefined;
}

export interface ClusterDnsProblem {
  readonly path: string;
  readonly message: string;
}

export class ClusterDnsInputError extends Error {
  constructor(readonly problems: readonly ClusterDnsProblem[]) {
    super(`cluster DNS records: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
    this.name = 'ClusterDnsInputError';
  }
}

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

function nameProblem(name: string): string | undefined {
  const n = normalizeName(name);
  if (n.length === 0) return 'empty name';
  if (n.length > 253) return 'longer than 253 characters';
  const bad = n.split('.').find((label) => !LABEL.test(label));
  return bad === undefined ? undefined : `label ${JSON.stringify(bad)} is not a DNS label`;
}

function isWithin(name: string, zone: string): boolean {
  return name === zone || name.endsWith(`.${zone}`);
}

interface Entry {
  readonly records: AddressRecord[];
}

/** Validates and indexes the records; every problem is reported, not only the first. */
export function safeBuildClusterDnsTable(
  input: ClusterDnsRecords,
  options: ClusterDnsOptions = {},
): { ok: true; table: ClusterDnsTable } | { ok: false; problems: readonly ClusterDnsProblem[] } {
  const problems: ClusterDnsProblem[] = [];
  const clusterDomain = normalizeName(options.clusterDomain ?? 'cluster.local');
  const ttl = options.ttl ?? 5;
  const podMode = options.pods ?? 'insecure';
  const checkTtl = (value: number, path: string): void => {
    if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
      problems.push({ path, message: `TTL ${value} is not an integer in 0..2147483647` });
    }
  };
  checkTtl(ttl, 'options.ttl');
  const zones = [clusterDomain, ...(options.zones ?? []).map(normalizeName)];
  zones.forEach((zone, i) => {
    const problem = nameProblem(zone);
    if (problem)
      problems.push({
        path: i === 0 ? 'options.clusterDomain' : `options.zones[${i - 1}]`,
        message: problem,
      });
  });

  const entries = new Map<string, Entry>();
  const namespaces = new Set((input.namespaces ?? []).map((n) => n.toLowerCase()));
  const podIps = new Map<string, Set<string>>(); // namespace → pod IPs, for `verified` mode
  const add = (name: string, ips: readonly string[], recordTtl: number, path: string): void => {
    const problem = nameProblem(name);
    if (problem) {
      problems.push({ path, message: problem });
      return;
    }
    const key = normalizeName(name);
    const entry = entries.get(key) ?? { records: [] };
    ips.forEach((ip, i) => {
      const family = isIP(ip);
      if (family === 0) {
        problems.push({ path: `${path}.ips[${i}]`, message: `${JSON.stringify(ip)} is not an IP address` });
        return;
      }
      const type: AddressType = family === 4 ? 'A' : 'AAAA';
      if (!entry.records.some((r) => r.ip === ip)) entry.records.push({ type, ip, ttl: recordTtl });
    });
    entries.set(key, entry);
  };

  (input.pods ?? []).forEach((pod, i) => {
    const ns = pod.namespace.toLowerCase();
    namespaces.add(ns);
    pod.ips.forEach((ip, j) => {
      if (isIP(ip) === 0)
        problems.push({
          path: `pods[${i}].ips[${j}]`,
          message: `${JSON.stringify(ip)} is not an IP address`,
        });
    });
    const set = podIps.get(ns) ?? new Set<string>();
    for (const ip of pod.ips) set.add(canonicalIp(ip));
    podIps.set(ns, set);
  });
  (input.services ?? []).forEach((svc, i) => {
    const ns = svc.namespace.toLowerCase();
    namespaces.add(ns);
    const base = `${svc.name}.${ns}.svc.${clusterDomain}`;
    const endpoints = svc.endpoints ?? [];
    const headless = svc.clusterIPs.length === 0;
    add(base, headless ? endpoints.flatMap((e) => e.ips) : svc.clusterIPs, ttl, `services[${i}]`);
    endpoints.forEach((e, j) => {
      if (e.hostname !== undefined)
        add(`${e.hostname}.${base}`, e.ips, ttl, `services[${i}].endpoints[${j}]`);
    });
  });
  (input.hosts ?? []).forEach((host, i) => {
    if (host.ttl !== undefined) checkTtl(host.ttl, `hosts[${i}].ttl`);
    host.names.forEach((name, j) => add(name, host.addresses, host.ttl ?? ttl, `hosts[${i}].names[${j}]`));
  });
  for (const ns of namespaces) {
    const problem = nameProblem(ns);
    if (problem) problems.push({ path: `namespace ${JSON.stringify(ns)}`, message: problem });
  }
  if (problems.length > 0) return { ok: false, problems };

  const zoneOf = (name: string): string | undefined => {
    let best: string | undefined;
    for (const zone of zones) if (isWithin(name, zone) && (!best || zone.length > best.length)) best = zone;
    if (best) return best;
    return entries.has(name) ? name : undefined;
  };
  // Names that exist without records of their own: every parent of a record's name up to its zone, and
  // the pod subtree of every namespace.
  const parents = new Set<string>();
  const addParents = (name: string, zone: string): void => {
    for (let n = name; n !== zone && n.includes('.');) {
      n = n.slice(n.indexOf('.') + 1);
      parents.add(n);
    }
  };
  for (const name of entries.keys()) {
    const zone = zoneOf(name);
    if (zone) addParents(name, zone);
  }
  for (const ns of namespaces) addParents(`x.${ns}.pod.${clusterDomain}`, clusterDomain);
  parents.add(clusterDomain);

  const podLookup = (name: string): AddressRecord | 'nxdomain' | undefined => {
    const suffix = `.pod.${clusterDomain}`;
    if (!name.endsWith(suffix)) return undefined;
    const labels = name.slice(0, -suffix.length).split('.');
    if (labels.length !== 2) return 'nxdomain';
    const [dashed = '', ns = ''] = labels;
    if (!namespaces.has(ns)) return 'nxdomain';
    const ip = dashedIp(dashed);
    if (!ip) return 'nxdomain';
    if (podMode === 'verified' && !podIps.get(ns)?.has(ip)) return 'nxdomain';
    return { type: isIPv4(ip) ? 'A' : 'AAAA', ip, ttl };
  };

  const lookup = (rawName: string, type: string): DnsLookup => {
    const name = normalizeName(rawName);
    const zone = zoneOf(name);
    if (!zone) return { kind: 'refused' };
    const pod = podLookup(name);
    const records = pod === undefined ? entries.get(name)?.records : pod === 'nxdomain' ? undefined : [pod];
    if (records) {
      const matching = records.filter((r) => r.type === type);
      return matching.length > 0 ? { kind: 'answer', records: matching } : { kind: 'nodata', zone };
    }
    return parents.has(name) ? { kind: 'nodata', zone } : { kind: 'nxdomain', zone };
  };

  return {
    ok: true,
    table: {
      clusterDomain,
      ttl,
      serial: options.serial ?? 1,
      lookup,
      zoneOf: (n) => zoneOf(normalizeName(n)),
    },
  };
}

/** The throwing form of safeBuildClusterDnsTable. */
export function buildClusterDnsTable(
  input: ClusterDnsRecords,
  options: ClusterDnsOptions = {},
): ClusterDnsTable {
  const result = safeBuildClusterDnsTable(input, options);
  if (!result.ok) throw new ClusterDnsInputError(result.problems);
  return result.table;
}

/** `10-1-2-3` → `10.1.2.3`, `fd00--1` → `fd00::1`; undefined when it is neither. */
export function dashedIp(dashed: string): string | undefined {
  const v4 = dashed.replaceAll('-', '.');
  if (isIPv4(v4)) return v4;
  const v6 = dashed.replaceAll('-', ':');
  return isIPv6(v6) ? canonicalIp(v6) : undefined;
}

/** One spelling per address, so `fd00:0::1` and `fd00::1` are the same pod. */
function canonicalIp(ip: string): string {
  if (!isIPv6(ip)) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip;
  }
}

export interface ClusterDnsCounters {
  readonly queries: number;
  readonly answered: number;
  readonly nodata: number;
  readonly nxdomain: number;
  readonly refused: number;
  /** Packets that were not DNS queries: dropped unanswered. */
  readonly malformed: number;
}

export interface ClusterDnsServerOptions extends DnsListenerLimits {
  readonly table: ClusterDnsTable;
}

/** Serves a ClusterDnsTable over UDP and TCP on one address. */
export class ClusterDnsServer {
  private table: ClusterDnsTable;
  private readonly listener: DnsListener;
  private readonly count = { queries: 0, answered: 0, nodata: 0, nxdomain: 0, refused: 0, malformed: 0 };

  constructor(options: ClusterDnsServerOptions) {
    this.table = options.table;
    this.listener = new DnsListener(
      (message, client) => Promise.resolve(this.answer(message, client)),
      options,
    );
  }

  listen(at: ListenAddress): Promise<ListenAddress> {
    return this.listener.listen(at);
  }

  /** Later queries read the new table; one being answered finishes on the old. */
  setTable(table: ClusterDnsTable): void {
    this.table = table;
  }

  get counters(): ClusterDnsCounters {
    return { ...this.count };
  }

  close(): Promise<void> {
    return this.listener.close();
  }

  private answer(message: Buffer, client: DnsClient): Buffer | undefined {
    const parsed = parseQuery(message);
    if (!parsed.ok) {
      this.count.malformed++;
      return parsed.drop ? undefined : respond(parsed.packet, { rcode: parsed.rcode });
    }
    this.count.queries++;
    const { packet, question, qname, qtype } = parsed.query;
    const table = this.table;
    const result =
      (question.class ?? 'IN') === 'IN' ? table.lookup(qname, qtype) : ({ kind: 'refused' } as const);
    let response: Buffer;
    switch (result.kind) {
      case 'answer': {
        this.count.answered++;
        const answers: Answer[] = result.records.map((r) => ({
          type: r.type,
          name: qname,
          ttl: r.ttl,
          data: r.ip,
        }));
        response = respond(packet, { answers, authoritative: true });
        break;
      }
      case 'nodata':
      case 'nxdomain': {
        this.count[result.kind]++;
        response = respond(packet, {
          rcode: result.kind === 'nxdomain' ? 'NXDOMAIN' : 'NOERROR',
          authoritative: true,
          authorities: [soa(result.zone, table)],
        });
        break;
      }
      case 'refused':
        this.count.refused++;
        response = respond(packet, { rcode: 'REFUSED' });
        break;
    }
    return client.transport === 'udp' ? fitUdp(packet, response) : response;
  }
}

/** The zone's SOA, as CoreDNS writes it for cluster.local; its minimum is the negative-caching TTL. */
function soa(zone: string, table: ClusterDnsTable): Answer {
  return {
    type: 'SOA',
    name: zone,
    ttl: table.ttl,
    data: {
      mname: `ns.dns.${zone}`,
      rname: `hostmaster.${zone}`,
      serial: table.serial,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: table.ttl,
    },
  };
}
