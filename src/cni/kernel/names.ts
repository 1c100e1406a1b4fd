/**
 * Names and MACs derived from the attachment, so DEL and GC find what ADD made without any state, and
 * both ends of a veth can be given permanent neighbour entries for each other before either exists.
 */
import { createHash } from 'node:crypto';

/** `pal` + 12 hex: 15 characters, the kernel's limit; 48 bits make a clash on one node negligible. */
export const HOST_IF_PREFIX = 'pal';

function digest(network: string, containerId: string, ifname: string): string {
  return createHash('sha256').update(`${network}\0${containerId}\0${ifname}`).digest('hex');
}

export function hostIfname(network: string, containerId: string, ifname: string): string {
  return HOST_IF_PREFIX + digest(network, containerId, ifname).slice(0, 12);
}

/** Locally administered unicast MACs for the host and container ends. */
export function vethMacs(
  network: string,
  containerId: string,
  ifname: string,
): { host: string; pod: string } {
  const h = digest(network, containerId, ifname);
  const mac = (hex: string): string => ['02', ...(hex.match(/../g) ?? [])].join(':');
  return { host: mac(h.slice(12, 22)), pod: mac(h.slice(22, 32)) };
}
