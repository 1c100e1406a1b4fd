/**
 * DNS messages, through dns-packet: reading a query safely, building the answers Palisade writes itself
 * (refusals, SERVFAIL, truncation), and reading the addresses an answer gives for the name asked.
 *
 * Nothing here encodes or decodes wire format by hand: dns-packet does, and the only bits set here are
 * header flags dns-packet takes as a number (opcode, RD/CD copied from the query, RA, TC, AA, rcode).
 * Names are compared case-insensitively (RFC 4343) but written back as the client spelt them, so a
 * resolver that randomises case (0x20) recognises its answer.
 */
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, Question } from 'dns-packet';

/** The response codes Palisade writes or reads (RFC 1035 §4.1.1, RFC 6895). */
export const RCODES = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type Rcode = keyof typeof RCODES;

const OPCODE_MASK = 0x7800;
const RCODE_MASK = 0x000f;
/** Classic DNS over UDP without EDNS (RFC 1035 §4.2.1). */
export const CLASSIC_UDP_SIZE = 512;
/** The largest UDP answer we send, whatever a client advertises (DNS flag day 2020's default). */
export const MAX_UDP_SIZE = 1232;

/** What dns-packet's decoder returns beyond its published types. */
type Decoded = DecodedPacket & { readonly opcode?: string; readonly rcode?: string };

export interface ParsedQuery {
  /** The bytes as received: relayed unchanged, so EDNS options and DNSSEC bits reach the upstream. */
  readonly raw: Buffer;
  readonly packet: Decoded;
  readonly id: number;
  readonly question: Question;
  /** As asked, without the trailing dot (dns-packet's form), case preserved. */
  readonly qname: string;
  /** `A`, `AAAA`, … or `UNKNOWN_<n>` for a type dns-packet has no name for. */
  readonly qtype: string;
}

export type QueryParse =
  | { readonly ok: true; readonly query: ParsedQuery }
  /** Not DNS, or a response sent to a server: dropped, never answered (no reflection, no loops). */
  | { readonly ok: false; readonly drop: true; readonly reason: string }
  /** A DNS query Palisade will not serve, answered with `rcode` so the client need not wait. */
  | {
      readonly ok: false;
      readonly drop: false;
      readonly reason: string;
      readonly rcode: Rcode;
      readonly packet: Decoded;
    };

function decode(buf: Buffer): Decoded | undefined {
  try {
    return dnsPacket.decode(buf);
  } catch {
    return undefined;
  }
}

export function parseQuery(buf: Buffer): QueryParse {
  const packet = decode(buf);
  if (!packet) return { ok: false, drop: true, reason: 'undecodable' };
  if (packet.flag_qr) return { ok: false, drop: true, reason: 'a response, not a query' };
  if (packet.opcode !== 'QUERY') {
    return { ok: false, drop: false, reason: `opcode ${packet.opcode ?? '?'}`, rcode: 'NOTIMP', packet };
  }
  const questions = packet.questions ?? [];
  const question = questions[0];
  if (questions.length !== 1 || !question) {
    return { ok: false, drop: false, reason: `${questions.length} questions`, rcode: 'FORMERR', packet };
  }
  return {
    ok: true,
    query: { raw: buf, packet, id: packet.id ?? 0, question, qname: question.name, qtype: question.type },
  };
}

/** Reads an upstream's answer; undefined when it is not a response to `query` (wrong id or question). */
export function parseResponse(buf: Buffer, query: ParsedQuery): Decoded | undefined {
  const packet = decode(buf);
  if (!packet || !packet.flag_qr || packet.id !== query.id) return undefined;
  const q = packet.questions?.[0];
  // An answer with no question section is legal only for some errors; accept it then (RFC 1035 is silent).
  if (q && !(sameName(q.name, query.qname) && q.type === query.qtype)) return undefined;
  return packet;
}

export function rcodeOf(packet: Decoded): string {
  return packet.rcode ?? 'NOERROR';
}

export function sameName(a: string, b: string): boolean {
  return normalizeName(a) === normalizeName(b);
}

/** Lower case, no trailing dot: the form names are kept in tables. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

export interface ResponseParts {
  readonly rcode?: Rcode;
  readonly answers?: readonly Answer[];
  readonly authorities?: readonly Answer[];
  readonly authoritative?: boolean;
  readonly truncated?: boolean;
  readonly recursionAvailable?: boolean;
}

/** A response to `query`: same id, opcode, RD and CD, its question echoed as asked. */
export function respond(query: Decoded, parts: ResponseParts): Buffer {
  const copied =
    (query.flags ?? 0) & (OPCODE_MASK | dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED);
  const flags =
    copied |
    (parts.authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0) |
    (parts.truncated ? dnsPacket.TRUNCATED_RESPONSE : 0) |
    (parts.recursionAvailable ? dnsPacket.RECURSION_AVAILABLE : 0) |
    (RCODES[parts.rcode ?? 'NOERROR'] & RCODE_MASK);
  const packet: Packet = {
    type: 'response',
    id: query.id ?? 0,
    flags,
    questions: query.questions ?? [],
    answers: [...(parts.answers ?? [])],
    authorities: [...(parts.authorities ?? [])],
  };
  return dnsPacket.encode(packet);
}

/**
 * The largest answer a UDP client takes: its EDNS payload size (RFC 6891 §6.2.5), at least 512 and at most
 * MAX_UDP_SIZE (fragmented UDP is where DNS answers get lost or spoofed).
 */
export function udpLimit(query: Decoded): number {
  for (const extra of query.additionals ?? []) {
    if (extra.type === 'OPT') {
      return Math.min(MAX_UDP_SIZE, Math.max(CLASSIC_UDP_SIZE, extra.udpPayloadSize));
    }
  }
  return CLASSIC_UDP_SIZE;
}

/**
 * What a UDP client gets for `response`: itself when it fits, else a truncated answer (TC, question only)
 * that sends the client to TCP (RFC 7766 §5), with the rcode kept.
 */
export function fitUdp(query: Decoded, response: Buffer): Buffer {
  if (response.length <= udpLimit(query)) return response;
  const decoded = decode(response);
  const rcode = (decoded?.rcode ?? 'NOERROR') as Rcode;
  return respond(query, {
    rcode: rcode in RCODES ? rcode : 'SERVFAIL',
    truncated: true,
    authoritative: decoded?.flag_aa ?? false,
    recursionAvailable: decoded?.flag_ra ?? false,
  });
}

export interface AnsweredAddress {
  readonly ip: string;
  /** The least TTL on the way from the name asked to this address (the CNAMEs' and the A/AAAA's own). */
  readonly ttl: number;
}

/**
 * The A/AAAA addresses the answer section gives for `qname`, following CNAMEs (RFC 1034 §4.3.2, any order).
 * Records for other names are ignored: an upstream cannot make a policy for one name cover an address it
 * slipped in under another.
 */
export function answeredAddresses(response: Decoded, qname: string): AnsweredAddress[] {
  const answers = response.answers ?? [];
  const byName = new Map<string, Answer[]>();
  for (const a of answers) {
    const key = normalizeName(a.name);
    byName.set(key, [...(byName.get(key) ?? []), a]);
  }
  const out = new Map<string, number>();
  const seen = new Set<string>();
  let frontier: { name: string; ttl: number }[] = [
    { name: normalizeName(qname), ttl: Number.MAX_SAFE_INTEGER },
  ];
  while (frontier.length > 0) {
    const next: { name: string; ttl: number }[] = [];
    for (const { name, ttl } of frontier) {
      if (seen.has(name)) continue; // a CNAME loop ends here
      seen.add(name);
      for (const a of byName.get(name) ?? []) {
        if ((a.type === 'A' || a.type === 'AAAA') && typeof a.data === 'string') {
          const t = Math.min(ttl, a.ttl ?? 0);
          out.set(a.data, Math.min(out.get(a.data) ?? Number.MAX_SAFE_INTEGER, t));
        } else if (a.type === 'CNAME' && typeof a.data === 'string') {
          next.push({ name: normalizeName(a.data), ttl: Math.min(ttl, a.ttl ?? 0) });
        }
      }
    }
    frontier = next;
  }
  return [...out].map(([ip, ttl]) => ({ ip, ttl }));
}

/** A DNS query as a client sends it (tests, probes, benchmarks). */
export function encodeQuery(
  name: string,
  type: Question['type'],
  options: { readonly id?: number; readonly udpSize?: number } = {},
): Buffer {
  const packet: Packet = {
    type: 'query',
    id: options.id ?? Math.floor(Math.random() * 0x10000),
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
  };
  if (options.udpSize !== undefined) {
    packet.additionals = [
      {
        type: 'OPT',
        name: '.',
        udpPayloadSize: options.udpSize,
        extendedRcode: 0,
        ednsVersion: 0,
        flags: 0,
        flag_do: false,
        options: [],
      },
    ];
  }
  return dnsPacket.encode(packet);
}

export function decodeMessage(buf: Buffer): Decoded | undefined {
  return decode(buf);
}
