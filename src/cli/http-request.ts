/** `--http 'METHOD /path?query'` and `-H 'Name: value'` → the engine's HttpRequest. */
import type { HttpRequest } from '../engine/index.js';
import type { FlowPeer } from '../ir/index.js';
import { UsageError } from './exit-codes.js';

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The request line and headers as given; `Host` defaults to the destination's IP (its first pod IP), as a
 * client that dials the pod's address sends it.
 */
export function httpRequestOf(line: string, headers: readonly string[], dst: FlowPeer): HttpRequest {
  const parts = line.trim().split(/\s+/);
  const [method, path] = parts;
  if (parts.length !== 2 || method === undefined || path === undefined || !TOKEN.test(method))
    throw new UsageError(`--http ${JSON.stringify(line)}: expected 'METHOD /path?query'`);
  if (!path.startsWith('/'))
    throw new UsageError(`--http ${JSON.stringify(line)}: the path must start with '/'`);
  const fields: Record<string, string> = {};
  for (const h of headers) {
    const colon = h.indexOf(':');
    const name = colon < 0 ? '' : h.slice(0, colon).trim();
    if (!TOKEN.test(name)) throw new UsageError(`-H ${JSON.stringify(h)}: expected 'Name: value'`);
    const key = Object.keys(fields).find((k) => k.toLowerCase() === name.toLowerCase()) ?? name;
    const value = h.slice(colon + 1).trim();
    // Repeated fields combine with ", " (RFC 9110 §5.3).
    fields[key] = fields[key] === undefined ? value : `${fields[key]}, ${value}`;
  }
  if (!Object.keys(fields).some((k) => k.toLowerCase() === 'host')) {
    const ip = dst.kind === 'ip' ? dst.ip : dst.endpoint.ips[0];
    if (ip !== undefined) fields.Host = ip.includes(':') ? `[${ip}]` : ip;
  }
  return { method, path, headers: fields };
}
