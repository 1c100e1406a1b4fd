/**
 * host-local's IPAM configuration, canonicalised as host-local does: `ranges` is a list of range sets
 * (one address is allocated from each set), a set is a list of ranges tried in order; a range defaults
 * to the whole subnet minus the network address (and, for IPv4, the broadcast address) and reserves a
 * gateway (default: the subnet's first address). The legacy top-level `subnet`/`rangeStart`/`rangeEnd`/
 * `gateway` form is one set of one range. Palisade adds `exclude`: CIDRs never handed out. Pure.
 */
import type { Cidr, Family, Ip } from '../../ir/cidr.js';
import { cidrContainsIp, cidrLast, formatCidr, formatIp, parseCidr, parseIp } from '../../ir/cidr.js';
import { InvalidConfigError, UnsupportedFieldError } from '../errors.js';
import type { CniDns, CniRoute } from '../spec.js';

export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

export interface Range {
  readonly subnet: Cidr;
  readonly start: bigint;
  readonly end: bigint;
  readonly gateway: bigint;
}

export interface IpamConfig {
  readonly rangeSets: readonly (readonly Range[])[];
  readonly routes: readonly CniRoute[];
  readonly dataDir: string;
  readonly exclude: readonly Cidr[];
  readonly dns?: CniDns;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function ipIn(text: unknown, field: string, subnet: Cidr): bigint {
  const ip = typeof text === 'string' ? parseIp(text) : undefined;
  if (!ip) throw new UnsupportedFieldError(field, text, 'an IP address');
  if (!cidrContainsIp(subnet, ip)) {
    throw new InvalidConfigError(`${field} ${String(text)} not in network ${formatCidr(subnet)}`);
  }
  return ip.value;
}

export function parseRange(raw: Record<string, unknown>): Range {
  const subnetText = raw['subnet'];
  const subnet = typeof subnetText === 'string' ? parseCidr(subnetText) : undefined;
  if (!subnet) throw new UnsupportedFieldError('subnet', subnetText, 'a CIDR');
  const bits = subnet.family === 4 ? 32 : 128;
  if (subnet.prefix > bits - 2) {
    throw new InvalidConfigError(`Network ${formatCidr(subnet)} too small to allocate from`);
  }
  const last = cidrLast(subnet) - (subnet.family === 4 ? 1n : 0n);
  const start =
    raw['rangeStart'] === undefined ? subnet.base + 1n : ipIn(raw['rangeStart'], 'rangeStart', subnet);
  const end = raw['rangeEnd'] === undefined ? last : ipIn(raw['rangeEnd'], 'rangeEnd', subnet);
  const gateway = raw['gateway'] === undefined ? subnet.base + 1n : ipIn(raw['gateway'], 'gateway', subnet);
  if (start > end) throw new InvalidConfigError(`rangeStart is after rangeEnd in ${formatCidr(subnet)}`);
  return { subnet, start, end, gateway };
}

function overlaps(a: Range, b: Range): boolean {
  return a.subnet.family === b.subnet.family && a.start <= b.end && b.start <= a.end;
}

export function parseIpamConfig(ipam: Readonly<Record<string, unknown>>): IpamConfig {
  let sets: unknown = ipam['ranges'];
  if (sets === undefined) {
    if (ipam['subnet'] === undefined)
      throw new InvalidConfigError('IPAM config missing "ranges" or "subnet"');
    sets = [
      [
        {
          subnet: ipam['subnet'],
          rangeStart: ipam['rangeStart'],
          rangeEnd: ipam['rangeEnd'],
          gateway: ipam['gateway'],
        },
      ],
    ];
  }
  if (!Array.isArray(sets) || sets.length === 0)
    throw new UnsupportedFieldError('ranges', sets, 'a non-empty list of range sets');
  const rangeSets = sets.map((set, i) => {
    if (!Array.isArray(set) || set.length === 0) {
      throw new UnsupportedFieldError(`ranges[${i}]`, set, 'a non-empty list of ranges');
    }
    return set.map((r, j) => {
      if (!isObject(r)) throw new UnsupportedFieldError(`ranges[${i}][${j}]`, r, 'a range object');
      const clean = Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined));
      return parseRange(clean);
    });
  });
  const all = rangeSets.flat();
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i];
      const b = all[j];
      if (a && b && overlaps(a, b)) {
        throw new InvalidConfigError(`ranges ${formatCidr(a.subnet)} and ${formatCidr(b.subnet)} overlap`);
      }
    }
  }
  const exclude = (Array.isArray(ipam['exclude']) ? (ipam['exclude'] as unknown[]) : []).map((e) => {
    const c =
      typeof e === 'string'
        ? parseCidr(e.includes('/') ? e : `${e}/${e.includes(':') ? 128 : 32}`)
        : undefined;
    if (!c) throw new UnsupportedFieldError('exclude', e, 'a list of CIDRs or addresses');
    return c;
  });
  if (ipam['exclude'] !== undefined && !Array.isArray(ipam['exclude'])) {
    throw new UnsupportedFieldError('exclude', ipam['exclude'], 'a list of CIDRs or addresses');
  }
  const routes = (Array.isArray(ipam['routes']) ? (ipam['routes'] as unknown[]) : []).map((r): CniRoute => {
    if (!isObject(r) || typeof r['dst'] !== 'string' || !parseCidr(r['dst'])) {
      throw new UnsupportedFieldError('routes', r, 'a list of {dst, gw?}');
    }
    return typeof r['gw'] === 'string' ? { dst: r['dst'], gw: r['gw'] } : { dst: r['dst'] };
  });
  const dataDir = ipam['dataDir'];
  if (dataDir !== undefined && (typeof dataDir !== 'string' || !dataDir.startsWith('/'))) {
    throw new UnsupportedFieldError('dataDir', dataDir, 'an absolute path');
  }
  const dns = isObject(ipam['dns']) ? (ipam['dns'] as CniDns) : undefined;
  return {
    rangeSets,
    routes,
    dataDir: typeof dataDir === 'string' ? dataDir : DEFAULT_DATA_DIR,
    exclude,
    ...(dns === undefined ? {} : { dns }),
  };
}

export function rangeFamily(set: readonly Range[]): Family {
  return set[0]?.subnet.family ?? 4;
}

/** Whether `ip` may be handed out from `r`: inside the range, not its gateway, not excluded. */
export function allocatable(r: Range, ip: bigint, exclude: readonly Cidr[]): boolean {
  if (ip < r.start || ip > r.end || ip === r.gateway) return false;
  const probe: Ip = { family: r.subnet.family, value: ip };
  return !exclude.some((c) => cidrContainsIp(c, probe));
}

/**
 * Candidates of a range set in host-local's order: from just after `last` (the previous allocation) to
 * the end of the set, then from the start, each at most once. Lazy: a /16 is not materialised.
 */
export function* candidates(
  set: readonly Range[],
  exclude: readonly Cidr[],
  last?: bigint,
): Generator<bigint> {
  let startRange = 0;
  let startIp: bigint | undefined;
  if (last !== undefined) {
    const i = set.findIndex((r) => last >= r.start && last <= r.end);
    if (i >= 0) {
      startRange = i;
      startIp = last + 1n;
    }
  }
  const n = set.length;
  for (let k = 0; k <= n; k++) {
    const r = set[(startRange + k) % n];
    if (!r) continue;
    // The first range is visited twice: from `startIp` at k=0, and up to `startIp` at k=n.
    const from = k === 0 && startIp !== undefined ? startIp : r.start;
    const to = k === n ? (startIp ?? r.start) - 1n : r.end;
    if (k === n && startIp === undefined) break;
    for (let ip = from; ip <= to && ip <= r.end; ip++) if (allocatable(r, ip, exclude)) yield ip;
  }
}

export function ipText(family: Family, value: bigint): string {
  return formatIp({ family, value });
}

/** The range of `set` that holds `ip`, for requested addresses. */
export function rangeOf(set: readonly Range[], ip: Ip): Range | undefined {
  return set.find((r) => r.subnet.family === ip.family && ip.value >= r.start && ip.value <= r.end);
}
