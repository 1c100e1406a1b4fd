/**
 * Policy-only mode behind a bridge: two pods on the same Linux bridge talk through L2 switching, which
 * never reaches the `inet` forward hook where the `palisade` table enforces policy. br_netfilter's
 * `net.bridge.bridge-nf-call-iptables` (and `-ip6tables`) passes bridged IPv4/IPv6 frames through the
 * inet hooks, conntrack included, so the table's dispatch maps, sets and `ct state established` apply to
 * them unchanged. The alternative, a `bridge` family table, would need a second compiled copy of every
 * endpoint chain with bridge-family matching and its own conntrack, for this one case. The sysctl is also
 * what kube-proxy and Calico/Cilium chaining require on a bridge, so clusters usually have it already.
 * It is per network namespace (the plugin's own, i.e. the node's) and written only when off; it is never
 * turned back off, since other pods on the node rely on it.
 */
import { readFile, writeFile } from 'node:fs/promises';

/** The sysctl that sends bridged frames of an address family through the inet hooks. */
export function bridgeSysctl(family: 4 | 6): string {
  return `/proc/sys/net/bridge/bridge-nf-call-${family === 4 ? 'iptables' : 'ip6tables'}`;
}

export type BridgeNetfilterState =
  | { readonly kind: 'on' }
  | { readonly kind: 'turned-on'; readonly keys: readonly string[] }
  /** No /proc/sys/net/bridge: br_netfilter is neither built in nor loaded. */
  | { readonly kind: 'unavailable'; readonly path: string };

const familiesOf = (ips: readonly string[]): (4 | 6)[] => [
  ...new Set(ips.map((ip): 4 | 6 => (ip.includes(':') ? 6 : 4))),
];

/** Turns bridged-traffic filtering on for the families of `ips`, where it is off. Idempotent. */
export async function ensureBridgeNetfilter(ips: readonly string[]): Promise<BridgeNetfilterState> {
  const turned: string[] = [];
  for (const family of familiesOf(ips)) {
    const path = bridgeSysctl(family);
    const value = await readFile(path, 'utf8').catch(() => undefined);
    if (value === undefined) return { kind: 'unavailable', path };
    if (value.trim() !== '1') {
      await writeFile(path, '1');
      turned.push(path);
    }
  }
  return turned.length === 0 ? { kind: 'on' } : { kind: 'turned-on', keys: turned };
}

/** The sysctls of `ips`' families that are not on (missing counts as off). */
export async function bridgeNetfilterOff(ips: readonly string[]): Promise<string[]> {
  const off: string[] = [];
  for (const family of familiesOf(ips)) {
    const path = bridgeSysctl(family);
    if ((await readFile(path, 'utf8').catch(() => '0')).trim() !== '1') off.push(path);
  }
  return off;
}
