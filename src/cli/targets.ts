import type { Protocol } from '../ir/index.js';
import { PROTOCOLS } from '../ir/index.js';
import { UsageError } from './exit-codes.js';

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
