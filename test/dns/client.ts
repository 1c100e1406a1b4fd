/**
 * A DNS client for the tests: dns-packet queries over UDP and TCP to loopback, and `dig` (bind9-dnsutils)
 * as an independent implementation of the wire format.
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import type { Question } from 'dns-packet';
import { decodeMessage, encodeQuery } from '../../src/dns/message.js';
import { exchangeTcp, exchangeUdp } from '../../src/dns/upstream.js';

export const LOOPBACK = '127.0.0.1';

export type Decoded = NonNullable<ReturnType<typeof decodeMessage>>;

export interface Reply {
  readonly packet: Decoded;
  readonly bytes: number;
  readonly ms: number;
}

export async function ask(
  port: number,
  name: string,
  type: Question['type'] = 'A',
  options: { readonly tcp?: boolean; readonly udpSize?: number; readonly timeoutMs?: number } = {},
): Promise<Reply> {
  const id = Math.floor(Math.random() * 0x10000);
  const query = encodeQuery(name, type, {
    id,
    ...(options.udpSize === undefined ? {} : { udpSize: options.udpSize }),
  });
  const accept = (buf: Buffer): boolean => decodeMessage(buf)?.id === id;
  const exchange = options.tcp ? exchangeTcp : exchangeUdp;
  const start = performance.now();
  const buf = await exchange(
    { host: LOOPBACK, port },
    query,
    accept,
    AbortSignal.timeout(options.timeoutMs ?? 3000),
  );
  const packet = decodeMessage(buf);
  if (!packet) throw new Error('undecodable reply');
  return { packet, bytes: buf.length, ms: performance.now() - start };
}

export function rcode(packet: Decoded): string {
  return packet.rcode ?? '?';
}

export function addresses(packet: Decoded): string[] {
  return (packet.answers ?? []).flatMap((a) => (a.type === 'A' || a.type === 'AAAA' ? [a.data] : [])).sort();
}

export const hasDig = await new Promise<boolean>((resolve) =>
  execFile('dig', ['-v'], (err) => resolve(err === null)),
);
export const noDig = hasDig ? false : 'dig is not installed (scripts/setup.sh installs bind9-dnsutils)';

/** `dig @127.0.0.1 -p PORT …`, one try, short timeout; resolves with stdout whatever dig's exit code. */
export function dig(port: number, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'dig',
      [`@${LOOPBACK}`, '-p', String(port), '+tries=1', '+time=3', ...args],
      { timeout: 10_000 },
      (err, stdout) => {
        if (err && stdout === '') reject(new Error(`dig failed: ${err.message}`, { cause: err }));
        else resolve(stdout);
      },
    );
  });
}

/** The `status:` dig printed. */
export function digStatus(out: string): string | undefined {
  return /status: ([A-Z]+)/.exec(out)?.[1];
}

/** Sends raw bytes over UDP and closes; for malformed-packet tests. */
export async function sendRawUdp(port: number, bytes: Buffer): Promise<void> {
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) =>
      socket.send(bytes, port, LOOPBACK, (err) => (err ? reject(err) : resolve())),
    );
  } finally {
    socket.close();
  }
}

/** The TTL of the first A/AAAA answer. */
export function firstTtl(packet: Decoded): number | undefined {
  const first = (packet.answers ?? []).find((a) => a.type === 'A' || a.type === 'AAAA');
  return first && (first.type === 'A' || first.type === 'AAAA') ? first.ttl : undefined;
}
