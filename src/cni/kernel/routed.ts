/**
 * The routed attachment (the lab's pod wiring, src/lab/topology.ts): a veth pair, the container end named
 * CNI_IFNAME with the pod's /32 (/128) addresses, a default route via the link-local gateway 169.254.1.1
 * (fe80::1 for IPv6) that the host end answers for through a permanent neighbour entry, and on the host a
 * /32 route per address plus a permanent neighbour entry for the pod. No ARP/ND ever runs on the link and
 * the host needs no address on it. Pure: renders `ip -batch` lines; ip.ts runs them.
 */
import type { CniRoute } from '../spec.js';

export const GATEWAY_V4 = '169.254.1.1';
export const GATEWAY_V6 = 'fe80::1';

export interface RoutedPlan {
  readonly hostIf: string;
  readonly hostMac: string;
  readonly ifname: string;
  readonly podMac: string;
  readonly netnsPath: string;
  readonly mtu: number;
  /** Bare addresses, one per family at most in practice. */
  readonly ips: readonly string[];
  /** Routes inside the container; `gw` defaults to the family's link-local gateway. */
  readonly routes: readonly CniRoute[];
}

const isV6 = (ip: string): boolean => ip.includes(':');

export function gatewayFor(ip: string): string {
  return isV6(ip) ? GATEWAY_V6 : GATEWAY_V4;
}

/** Default routes for the families present, when IPAM asked for none. */
export function defaultRoutes(ips: readonly string[]): CniRoute[] {
  const out: CniRoute[] = [];
  if (ips.some((ip) => !isV6(ip))) out.push({ dst: '0.0.0.0/0', gw: GATEWAY_V4 });
  if (ips.some(isV6)) out.push({ dst: '::/0', gw: GATEWAY_V6 });
  return out;
}

/** Host side, in the plugin's netns. Line 1 creates the pair: a failure there means nothing was made. */
export function hostLines(p: RoutedPlan): string[] {
  const lines = [
    `link add ${p.hostIf} address ${p.hostMac} mtu ${p.mtu} type veth ` +
      `peer name ${p.ifname} address ${p.podMac} mtu ${p.mtu} netns ${p.netnsPath}`,
    `link set ${p.hostIf} up`,
  ];
  for (const ip of p.ips) {
    lines.push(`route add ${ip}/${isV6(ip) ? 128 : 32} dev ${p.hostIf} scope link`);
    lines.push(`neigh add ${ip} lladdr ${p.podMac} dev ${p.hostIf} nud permanent`);
  }
  return lines;
}

/** Container side, run under nsenter. */
export function containerLines(p: RoutedPlan): string[] {
  const lines = ['link set lo up'];
  for (const ip of p.ips) {
    // DAD would hold an IPv6 address tentative for a second; the address is ours by IPAM.
    lines.push(isV6(ip) ? `addr add ${ip}/128 dev ${p.ifname} nodad` : `addr add ${ip}/32 dev ${p.ifname}`);
  }
  lines.push(`link set ${p.ifname} up`);
  const families = new Set(p.ips.map((ip) => (isV6(ip) ? 6 : 4)));
  if (families.has(4)) {
    lines.push(`route add ${GATEWAY_V4}/32 dev ${p.ifname} scope link`);
    lines.push(`neigh add ${GATEWAY_V4} lladdr ${p.hostMac} dev ${p.ifname} nud permanent`);
  }
  if (families.has(6))
    lines.push(`neigh add ${GATEWAY_V6} lladdr ${p.hostMac} dev ${p.ifname} nud permanent`);
  for (const r of p.routes) {
    const dst = r.dst === '0.0.0.0/0' || r.dst === '::/0' ? 'default' : r.dst;
    // ip takes the family of `default` from the gateway's address.
    lines.push(`route add ${dst} via ${r.gw ?? gatewayFor(r.dst)} dev ${p.ifname}`);
  }
  return lines;
}
