import type { Protocol } from '../ir/index.js';
import { PROTOCOLS } from '../ir/index.js';
import { UsageError } from './exit-codes.js';

export interface Target {
  readonly port: number;
  readonly protocol: Protocol;
}

export function parsePorts(text: string): number[] {
  return text.split(',').map((s) => {
    const t = s.trim();
    const n = Number(t);
    if (!/^[0-9]+$/.test(t) || n < 1 || n > 65535) {
      throw new UsageError(`--ports: "${t}" is not a port number between 1 and 65535`);
    }
    return n;
  });
}

export function parseProtocols(text: string): Protocol[] {
  return text.split(',').map((s) => {
    const p = s.trim().toUpperCase();
    if (!(PROTOCOLS as readonly string[]).includes(p)) {
      throw new UsageError(`--protocols: "${s.trim()}" is not one of tcp, udp, sctp`);
    }
    return p as Protocol;
  });
}

/**
 * What to check. Neither flag: the declared containerPorts. --ports alone: those ports over TCP (or over
 * --protocols). --protocols alone: the declared ports of those protocols.
 */
export function chooseTargets(
  declared: readonly Target[],
  ports: readonly number[] | undefined,
  protocols: readonly Protocol[] | undefined,
): Target[] {
  if (ports) {
    const ps = protocols ?? ['TCP'];
    return ps.flatMap((protocol) => ports.map((port) => ({ port, protocol })));
  }
  if (protocols) return declared.filter((t) => protocols.includes(t.protocol));
  return [...declared];
}
