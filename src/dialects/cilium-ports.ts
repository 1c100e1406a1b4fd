/**
 * Cilium `toPorts` (ports plus optional L7 rules) and `icmps` → IR port matches (docs.cilium.io
 * "Layer 4 Policies", "Layer 7 Policies"; validation as api.PortRule.sanitize).
 */
import type { HttpHeaderMatch, L7Match, PortMatch, Protocol } from '../ir/index.js';
import { PROTOCOLS } from '../ir/index.js';
import {
  isAbsent,
  objectItems,
  readArray,
  readInteger,
  readObject,
  readString,
  stringItems,
  typeName,
  warnUnknownFields,
  type Obj,
} from './fields.js';
import { portNameErrors } from './k8s-validation.js';
import { at, type Reporter } from './report.js';

/** What the dialect says of an L7 part no datapath enforces (HTTP is enforced: the node's L7 proxy, src/l7). */
export const L7_WARNING = 'L7: not enforced yet';
/** toFQDNs: matched by the engine against resolutions, which only `analyze --dns` supplies today. */
export const FQDN_WARNING =
  'DNS: toFQDNs is modelled offline (analyze --dns NAME=IP models a resolution; Cilium 1.19 matchName/' +
  'matchPattern meaning); enforced offline only: the datapath learns no names yet, so on packets FQDN peers ' +
  'match nothing';
/** rules.dns: decided per query by the engine (analyze explain --dns-query); no DNS proxy on packets yet. */
export const DNS_RULES_WARNING =
  'DNS: rules.dns is decided offline (analyze explain --dns-query; a refused query gets REFUSED); enforced ' +
  'offline only: the datapath does not filter DNS yet, so on packets the rule allows its ports at L3/L4';
/**
 * Kafka policy stays parsed and reported: Cilium deprecated it (1.17 release notes and
 * Documentation/security/policy/language.rst "Kafka (deprecated)"), so Palisade will not enforce it.
 */
export const KAFKA_WARNING =
  'L7: Kafka rules are not enforced (Cilium deprecated Kafka policy); the rule allows its ports at L3/L4 only';

/** An allow rule's ports split by L7: plain ports share one IR rule, each L7 entry needs its own. */
export interface CiliumPorts {
  readonly plain: readonly PortMatch[];
  readonly withL7: readonly { readonly ports: readonly PortMatch[]; readonly l7: L7Match }[];
}

export interface PortContext {
  readonly ingress: boolean;
  /** Deny rules take PortDenyRule entries: ports only, no L7. */
  readonly deny: boolean;
}

const PORT_RULE_FIELDS = ['ports', 'rules', 'serverNames', 'listener', 'terminatingTLS', 'originatingTLS'];
const PORT_FIELDS = ['port', 'endPort', 'protocol'];
const L7_FIELDS = ['http', 'kafka', 'dns', 'l7proto', 'l7'];
/** Cilium's ANY: every L4 protocol it polices by port. */
const ANY: readonly Protocol[] = PROTOCOLS;

export function toPortsToIr(
  list: readonly unknown[],
  path: string,
  ctx: PortContext,
  r: Reporter,
): CiliumPorts {
  const plain: PortMatch[] = [];
  const withL7: { ports: PortMatch[]; l7: L7Match }[] = [];
  for (const { item, path: p } of objectItems(list, path, r)) {
    warnUnknownFields(item, ctx.deny ? ['ports'] : PORT_RULE_FIELDS, p, r);
    const raw = readArray(item, 'ports', p, r) ?? [];
    const ports = objectItems(raw, at(p, 'ports'), r).map(({ item: pp, path: q }) => portToIr(pp, q, r));
    const matches = ports.flatMap((x) => x?.matches ?? []);
    if (!ctx.deny) unmodelledTls(item, p, r);
    const rules = ctx.deny ? undefined : readObject(item, 'rules', p, r);
    const l7 = rules === undefined ? undefined : l7ToIr(rules, at(p, 'rules'), ports, ctx, r);
    if (l7 === undefined) plain.push(...matches);
    // Cilium applies L7 rules without ports to port 0, protocol ANY: every port.
    else
      withL7.push({
        ports: raw.length === 0 ? ANY.map((protocol) => ({ kind: 'protocol', protocol })) : matches,
        l7,
      });
  }
  return { plain, withL7 };
}

function unmodelledTls(item: Obj, path: string, r: Reporter): void {
  if (!isAbsent(item, 'listener')) {
    r.error('unsupported-value', at(path, 'listener'), 'redirecting to an Envoy listener is not modelled');
  }
  if (!isAbsent(item, 'serverNames')) {
    r.warn(
      'unsupported-value',
      at(path, 'serverNames'),
      `${L7_WARNING}; TLS SNI is not represented in the IR`,
    );
  }
  for (const key of ['terminatingTLS', 'originatingTLS']) {
    if (!isAbsent(item, key))
      r.warn('unsupported-value', at(path, key), `${L7_WARNING}; TLS interception is not modelled`);
  }
}

interface ParsedPort {
  readonly protocol: string;
  /** 0: every port (Cilium's wildcard port). */
  readonly number?: number;
  readonly matches: readonly PortMatch[];
}

function portToIr(o: Obj, path: string, r: Reporter): ParsedPort | undefined {
  const before = r.errorCount;
  warnUnknownFields(o, PORT_FIELDS, path, r);
  const protocolText = readString(o, 'protocol', path, r) ?? 'ANY';
  const protocols: readonly Protocol[] | undefined =
    protocolText === 'ANY' ? ANY : PROTOCOLS.filter((p) => p === protocolText);
  if (protocols.length === 0) {
    r.error(
      'unsupported-value',
      at(path, 'protocol'),
      `"${protocolText}": supported values: "TCP", "UDP", "SCTP", "ANY" (ICMP goes in \`icmps\`)`,
    );
  }
  const endPort = readInteger(o, 'endPort', path, r);
  const port = o['port'];
  const portPath = at(path, 'port');
  const text = typeof port === 'number' && Number.isInteger(port) ? String(port) : port;
  let matches: PortMatch[] = [];
  let number: number | undefined;
  if (typeof text !== 'string' || text === '') {
    if (isAbsent(o, 'port') || text === '') r.error('missing-field', portPath, 'Port must be specified');
    else r.error('invalid-type', portPath, `must be a string or an integer, got ${typeName(port)}`);
  } else if (/^[0-9]+$/.test(text)) {
    number = Number(text);
    const to = endPort ?? number;
    if (number > 65535)
      r.error('invalid-value', portPath, `"${text}": must be between 0 and 65535, inclusive`);
    else if (endPort !== undefined && (endPort > 65535 || endPort < number)) {
      r.error('invalid-value', at(path, 'endPort'), `${endPort}: must be between \`port\` and 65535`);
    }
    matches =
      number === 0
        ? protocols.map((protocol) => ({ kind: 'protocol', protocol }))
        : protocols.map((protocol) => ({ kind: 'range', protocol, from: number ?? 0, to }));
  } else {
    // Port names are IANA service names, compared case-insensitively (api.PortProtocol.sanitize).
    const name = text.toLowerCase();
    for (const m of portNameErrors(name)) r.error('invalid-value', portPath, `"${text}": ${m}`);
    if (endPort !== undefined) {
      r.warn(
        'invalid-value',
        at(path, 'endPort'),
        'ignored: `port` is a named port (docs "Layer 4 Policies")',
      );
    }
    matches = protocols.map((protocol) => ({ kind: 'named', protocol, name }));
  }
  if (r.errorCount !== before) return undefined;
  return number === undefined
    ? { protocol: protocolText, matches }
    : { protocol: protocolText, number, matches };
}

/** Undefined when the entry has no L7 rules (or they were wrong, which is reported). */
function l7ToIr(
  o: Obj,
  path: string,
  ports: readonly (ParsedPort | undefined)[],
  ctx: PortContext,
  r: Reporter,
): L7Match | undefined {
  warnUnknownFields(o, L7_FIELDS, path, r);
  const kinds = ['http', 'kafka', 'dns', 'l7proto'].filter((k) => !isAbsent(o, k));
  if (!isAbsent(o, 'l7') && isAbsent(o, 'l7proto')) {
    r.error('invalid-value', at(path, 'l7'), "'l7' may only be specified when a 'l7proto' is also specified");
    return undefined;
  }
  if (kinds.length === 0) return undefined;
  if (kinds.length > 1) {
    r.error(
      'invalid-value',
      path,
      `multiple L7 protocol rule types specified in single rule: ${kinds.join(', ')}`,
    );
    return undefined;
  }
  const kind = kinds[0];
  if (kind === 'dns') {
    if (ctx.ingress) {
      r.error('invalid-value', at(path, 'dns'), 'DNS rules are not allowed on ingress');
      return undefined;
    }
    if (ports.length === 0) r.error('missing-field', path, 'Port 53 must be specified for DNS rules');
  } else {
    for (const p of ports) {
      if (p?.number === 0) r.error('invalid-value', path, 'L7 rules can not be used when a port is 0');
      else if (p !== undefined && p.protocol !== 'TCP') {
        r.error(
          'invalid-value',
          path,
          `L7 rules can only apply to TCP (not ${p.protocol}) except for DNS rules`,
        );
      }
    }
  }
  // HTTP is enforced by the node's L7 proxy (nftables datapath); the rest is reported where it is read.
  switch (kind) {
    case 'http':
      return httpToIr(o, path, r);
    case 'kafka':
      r.warn('unsupported-value', path, KAFKA_WARNING);
      return kafkaToIr(o, path, r);
    case 'dns':
      r.warn('unsupported-value', path, DNS_RULES_WARNING);
      return dnsToIr(o, path, r);
    default: {
      r.warn('unsupported-value', path, L7_WARNING);
      const protocol = readString(o, 'l7proto', path, r) ?? '';
      if (!isAbsent(o, 'l7')) {
        r.warn('unsupported-value', at(path, 'l7'), 'key-value L7 rules are not represented in the IR');
      }
      return { kind: 'other', protocol };
    }
  }
}

/** Fields the IR's L7 match leaves out: the whole L7 layer is unenforced, so a warning says so. */
function warnUnrepresented(item: Obj, keys: readonly string[], path: string, r: Reporter): void {
  for (const key of keys) {
    if (!isAbsent(item, key))
      r.warn('unsupported-value', at(path, key), 'not represented in the IR L7 match');
  }
}

function httpToIr(o: Obj, path: string, r: Reporter): L7Match {
  const list = readArray(o, 'http', path, r) ?? [];
  const rules = objectItems(list, at(path, 'http'), r).map(({ item, path: p }) => {
    warnUnknownFields(item, ['method', 'path', 'host', 'headers', 'headerMatches'], p, r);
    const method = readString(item, 'method', p, r);
    const urlPath = readString(item, 'path', p, r);
    const host = readString(item, 'host', p, r);
    for (const [key, value] of [
      ['method', method],
      ['path', urlPath],
      ['host', host],
    ] as const) {
      if (value !== undefined && !compiles(value))
        r.error('invalid-value', at(p, key), `"${value}" is not a valid regular expression`);
    }
    const headers = [...headersToIr(item, p, r), ...headerMatchesToIr(item, p, r)];
    return {
      ...(method === undefined ? {} : { method }),
      ...(urlPath === undefined ? {} : { path: urlPath }),
      ...(host === undefined ? {} : { host }),
      ...(headers.length === 0 ? {} : { headers }),
    };
  });
  // An empty list still sends the port through the proxy, which then allows every request.
  return { kind: 'http', rules: rules.length === 0 ? [{}] : rules };
}

function compiles(re: string): boolean {
  try {
    new RegExp(re);
    return true;
  } catch {
    return false;
  }
}

/**
 * `headers: ["Name: value" | "Name"]`: pkg/envoy/xds_server.go splits at the first space, trims the
 * trailing ':' of the name, and asks for that exact value, or only presence when there is no space.
 */
function headersToIr(item: Obj, path: string, r: Reporter): HttpHeaderMatch[] {
  const list = readArray(item, 'headers', path, r) ?? [];
  return stringItems(list, at(path, 'headers'), r).map((h) => {
    const space = h.indexOf(' ');
    if (space < 0) return { name: h };
    return { name: h.slice(0, space).replace(/:+$/, ''), value: h.slice(space + 1) };
  });
}

const MISMATCH = ['LOG', 'ADD', 'DELETE', 'REPLACE'] as const;

/** `headerMatches` (pkg/policy/api/http.go HeaderMatch); `secret` values are not known offline. */
function headerMatchesToIr(item: Obj, path: string, r: Reporter): HttpHeaderMatch[] {
  const list = readArray(item, 'headerMatches', path, r) ?? [];
  return objectItems(list, at(path, 'headerMatches'), r).flatMap(({ item: m, path: p }) => {
    warnUnknownFields(m, ['name', 'value', 'mismatch', 'secret'], p, r);
    const name = readString(m, 'name', p, r);
    if (name === undefined || name === '') {
      r.error('missing-field', p, 'Header name missing');
      return [];
    }
    if (!isAbsent(m, 'secret'))
      r.warn('unsupported-value', at(p, 'secret'), 'secret values are not known offline; `value` is used');
    const value = readString(m, 'value', p, r);
    const mismatch = readString(m, 'mismatch', p, r);
    if (mismatch !== undefined && mismatch !== '' && !(MISMATCH as readonly string[]).includes(mismatch)) {
      r.error('invalid-value', at(p, 'mismatch'), `Invalid header action: ${mismatch}`);
      return [];
    }
    const action = MISMATCH.find((a) => a === mismatch);
    if (action !== undefined && action !== 'LOG')
      r.warn(
        'unsupported-value',
        at(p, 'mismatch'),
        `L7: the ${action} header action is decided (the rule still matches) but the proxy does not rewrite the header yet`,
      );
    return [
      {
        name,
        ...(value === undefined || value === '' ? {} : { value }),
        ...(action === undefined ? {} : { mismatch: action }),
      },
    ];
  });
}

function kafkaToIr(o: Obj, path: string, r: Reporter): L7Match {
  const list = readArray(o, 'kafka', path, r) ?? [];
  const rules = objectItems(list, at(path, 'kafka'), r).map(({ item, path: p }) => {
    warnUnknownFields(item, ['role', 'topic', 'apiKey', 'apiVersion', 'clientID'], p, r);
    warnUnrepresented(item, ['apiKey', 'apiVersion', 'clientID'], p, r);
    const role = readString(item, 'role', p, r);
    const topic = readString(item, 'topic', p, r);
    return { ...(role === undefined ? {} : { role }), ...(topic === undefined ? {} : { topic }) };
  });
  return { kind: 'kafka', rules: rules.length === 0 ? [{}] : rules };
}

/** Cilium's DNS rules: the L7Match's default semantics (`cilium`) is Cilium's matchpattern. */
function dnsToIr(o: Obj, path: string, r: Reporter): L7Match {
  const list = readArray(o, 'dns', path, r) ?? [];
  const patterns = objectItems(list, at(path, 'dns'), r).flatMap(
    ({ item, path: p }) => fqdnPattern(item, p, r) ?? [],
  );
  return { kind: 'dns', patterns: list.length === 0 ? ['*'] : patterns };
}

/** One `matchName`/`matchPattern` entry (toFQDNs and DNS rules share the shape). */
export function fqdnPattern(item: Obj, path: string, r: Reporter): string | undefined {
  warnUnknownFields(item, ['matchName', 'matchPattern'], path, r);
  const name = readString(item, 'matchName', path, r);
  const pattern = readString(item, 'matchPattern', path, r);
  if (name !== undefined && pattern !== undefined) {
    r.error('invalid-value', path, 'only one of matchName or matchPattern may be set');
    return undefined;
  }
  const value = name ?? pattern;
  if (value === undefined || value === '') {
    r.error('missing-field', path, 'one of matchName or matchPattern is required');
    return undefined;
  }
  if (name !== undefined && !/^[-a-zA-Z0-9_.]+$/.test(name)) {
    r.error(
      'invalid-value',
      at(path, 'matchName'),
      `"${name}": must be a DNS name (letters, digits, '-', '_', '.')`,
    );
  }
  if (pattern !== undefined && !/^[-a-zA-Z0-9_.*]+$/.test(pattern)) {
    r.error(
      'invalid-value',
      at(path, 'matchPattern'),
      `"${pattern}": may contain only DNS characters and '*'`,
    );
  }
  // DNS names compare case-insensitively; Cilium lower-cases both forms. A matchName holds no `*`, so it is
  // the literal case of a pattern (src/engine/fqdn.ts reads both as pkg/fqdn/matchpattern does).
  return value.toLowerCase();
}

/** IANA ICMP type names Cilium accepts in `icmps[].fields[].type` (docs "Limit ICMP/ICMPv6 types"). */
const ICMP_TYPES: Readonly<Record<4 | 6, Readonly<Record<string, number>>>> = {
  4: {
    EchoReply: 0,
    DestinationUnreachable: 3,
    Redirect: 5,
    Echo: 8,
    EchoRequest: 8,
    RouterAdvertisement: 9,
    RouterSelection: 10,
    TimeExceeded: 11,
    ParameterProblem: 12,
    Timestamp: 13,
    TimestampReply: 14,
    Photuris: 40,
    ExtendedEchoRequest: 42,
    ExtendedEchoReply: 43,
  },
  6: {
    DestinationUnreachable: 1,
    PacketTooBig: 2,
    TimeExceeded: 3,
    ParameterProblem: 4,
    EchoRequest: 128,
    EchoReply: 129,
    MulticastListenerQuery: 130,
    MulticastListenerReport: 131,
    MulticastListenerDone: 132,
    RouterSolicitation: 133,
    RouterAdvertisement: 134,
    NeighborSolicitation: 135,
    NeighborAdvertisement: 136,
    RedirectMessage: 137,
    RouterRenumbering: 138,
    ICMPNodeInformationQuery: 139,
    ICMPNodeInformationResponse: 140,
    InverseNeighborDiscoverySolicitation: 141,
    InverseNeighborDiscoveryAdvertisement: 142,
    HomeAgentAddressDiscoveryRequest: 144,
    HomeAgentAddressDiscoveryReply: 145,
    MobilePrefixSolicitation: 146,
    MobilePrefixAdvertisement: 147,
    DuplicateAddressRequestCodeSuffix: 157,
    DuplicateAddressConfirmationCodeSuffix: 158,
    ExtendedEchoRequest: 160,
    ExtendedEchoReply: 161,
  },
};

export function icmpsToIr(list: readonly unknown[], path: string, r: Reporter): PortMatch[] {
  const out: PortMatch[] = [];
  for (const { item, path: p } of objectItems(list, path, r)) {
    warnUnknownFields(item, ['fields'], p, r);
    const fields = readArray(item, 'fields', p, r) ?? [];
    for (const { item: f, path: q } of objectItems(fields, at(p, 'fields'), r)) {
      warnUnknownFields(f, ['family', 'type'], q, r);
      const familyText = readString(f, 'family', q, r) ?? 'IPv4';
      const family = familyText === 'IPv4' ? 4 : familyText === 'IPv6' ? 6 : undefined;
      if (family === undefined) {
        r.error('unsupported-value', at(q, 'family'), `"${familyText}": supported values: "IPv4", "IPv6"`);
        continue;
      }
      const type = f['type'];
      const typePath = at(q, 'type');
      const numeric = typeof type === 'string' && /^[0-9]+$/.test(type) ? Number(type) : type;
      if (typeof numeric === 'number' && Number.isInteger(numeric) && numeric >= 0 && numeric <= 255) {
        out.push({ kind: 'icmp', family, type: numeric });
      } else if (typeof numeric === 'string' && Object.hasOwn(ICMP_TYPES[family], numeric)) {
        out.push({ kind: 'icmp', family, type: ICMP_TYPES[family][numeric] ?? 0 });
      } else if (isAbsent(f, 'type')) {
        r.error('missing-field', typePath, 'type is required');
      } else {
        r.error(
          'invalid-value',
          typePath,
          `${JSON.stringify(type)}: must be 0-255 or an ${familyText} ICMP type name`,
        );
      }
    }
  }
  return out;
}
