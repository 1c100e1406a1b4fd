/**
 * Calico projectcalico.org/v3 NetworkPolicy, GlobalNetworkPolicy and Tier → IR, validated as Calico's API
 * (CRD CEL rules and libcalico-go's validator) validates them. References are to the Calico docs
 * (docs.tigera.io/calico/latest/reference/resources/…) and to libcalico-go where the docs are silent.
 *
 * Placement: Calico's `default` tier is Palisade's Kubernetes stage (Kubernetes policies sit there at order
 * 1000); `kube-admin` / `kube-baseline` are the built-in admin / baseline tiers; every other tier is
 * `calico:<name>`, ordered inside the TIER_ORDER bands.
 */
import type {
  Direction,
  L7Match,
  NamespaceScope,
  Peer,
  Policy,
  PortMatch,
  Protocol,
  Rule,
  Selector,
  Tier,
} from '../ir/index.js';
import {
  KUBERNETES_TIER,
  NAMESPACE_NAME_LABEL,
  SELECT_ALL,
  TIER_ORDER,
  formatCidr,
  parseCidr,
  parseIp,
} from '../ir/index.js';
import {
  andOf,
  calicoExprToSelector,
  CALICO_LABEL,
  parseCalicoSelector,
  splitEndpointSelector,
  type CalicoExpr,
  type ScopedSelector,
} from './calico-selector.js';
import {
  isAbsent,
  objectItems,
  readArray,
  readBoolean,
  readInteger,
  readObject,
  readString,
  stringItems,
  typeName,
  warnUnknownFields,
  type Obj,
} from './fields.js';
import { DEFAULT_NAMESPACE, readMetadata } from './k8s-meta.js';
import { dns1123LabelErrors } from './k8s-validation.js';
import type { Contribution, KindHandler } from './kinds.js';
import { at, index, type Origin, type Reporter } from './report.js';

export const CALICO_API_VERSION = 'projectcalico.org/v3';

/** Calico's fixed tiers (Tier reference: CEL rules on the Tier type) and where Palisade runs them. */
const FIXED_TIERS: Readonly<Record<string, { order: number; defaultAction: Action; irTier: string }>> = {
  'kube-admin': { order: 1_000, defaultAction: 'Pass', irTier: 'admin' },
  default: { order: 1_000_000, defaultAction: 'Deny', irTier: KUBERNETES_TIER },
  'kube-baseline': { order: 10_000_000, defaultAction: 'Pass', irTier: 'baseline' },
};
const DEFAULT_TIER_ORDER = 1_000_000;

/**
 * Priority of a policy without `order`: Calico treats it as infinite, after every ordered policy of its
 * tier. The largest finite number keeps the IR JSON-safe; ties then break on name, as in Calico.
 */
export const UNORDERED_PRIORITY = Number.MAX_VALUE;

type Action = 'Allow' | 'Deny' | 'Log' | 'Pass';
const ACTIONS: readonly Action[] = ['Allow', 'Deny', 'Log', 'Pass'];
const DIRECTIONS: readonly Direction[] = ['Ingress', 'Egress'];

const TOP_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];
const COMMON_SPEC = ['tier', 'order', 'selector', 'types', 'ingress', 'egress', 'serviceAccountSelector'];
const NP_SPEC = [...COMMON_SPEC, 'performanceHints'];
const GNP_SPEC = [...NP_SPEC, 'namespaceSelector', 'doNotTrack', 'preDNAT', 'applyOnForward'];
const RULE_FIELDS = [
  'action',
  'protocol',
  'notProtocol',
  'icmp',
  'notICMP',
  'ipVersion',
  'source',
  'destination',
  'http',
  'metadata',
];
const ENTITY_FIELDS = [
  'nets',
  'notNets',
  'selector',
  'notSelector',
  'namespaceSelector',
  'ports',
  'notPorts',
  'serviceAccounts',
  'services',
];
/** Fields of an EntityRule that pick the other endpoint rather than a port. */
const ENTITY_MATCH_FIELDS = ENTITY_FIELDS.filter((f) => f !== 'ports' && f !== 'notPorts');

/** NetworkPolicy names: a DNS label, optionally `<tier>.`-prefixed (validator networkPolicyNameRegex). */
const LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const NP_NAME = new RegExp(`^(${LABEL}(\\.${LABEL})?|(knp|ossg)\\.default\\.${LABEL}(\\.${LABEL})*)$`);
const GNP_NAME = new RegExp(`^(${LABEL}\\.)?${LABEL}$`);

/** Where a policy's tier puts it. */
interface Placement {
  readonly tier: string;
  readonly isolating: boolean;
  readonly priority: number;
}

/** What rule conversion needs to know about the policy. */
interface Context {
  /** The policy's namespace; undefined for a GlobalNetworkPolicy. */
  readonly namespace: string | undefined;
  readonly r: Reporter;
}

// ---------------------------------------------------------------------------------------------------------
// Tiers

/**
 * Tier.order inside TIER_ORDER: orders below the default tier's 1,000,000 map to calicoBefore + order/1000
 * (negative orders squeezed just below it), larger ones to a bounded, order-preserving position in the
 * calicoAfter band, and no order (Calico: infinite) to the end of that band. An order equal to the default
 * tier's ties on name, as Calico's tier sort does.
 */
export function calicoTierOrder(name: string, order: number | undefined): number {
  if (order === undefined) return TIER_ORDER.calicoAfter + 1000;
  if (order < 0) return TIER_ORDER.calicoBefore - (1000 * -order) / (-order + 1000);
  if (order < DEFAULT_TIER_ORDER) return TIER_ORDER.calicoBefore + order / 1000;
  if (order === DEFAULT_TIER_ORDER)
    return name < 'default' ? TIER_ORDER.calicoBefore + 1000 : TIER_ORDER.calicoAfter;
  return TIER_ORDER.calicoAfter + 1000 * (1 - DEFAULT_TIER_ORDER / order);
}

/** The IR tier a policy's `spec.tier` names. */
export function calicoTierName(tier: string): string {
  return FIXED_TIERS[tier]?.irTier ?? `calico:${tier}`;
}

/**
 * A Tier (Tier reference). The built-in tiers are only checked (their order and default action are
 * fixed); the engine already has them. Undefined when there was an error or nothing to add.
 */
export function calicoTierToIr(obj: Obj, r: Reporter): Tier | undefined {
  const before = r.errorCount;
  warnUnknownFields(obj, TOP_FIELDS, '', r);
  const meta = readMetadata(obj, { namespaced: false, name: 'dns-label' }, r);
  const spec = readObject(obj, 'spec', '', r) ?? {};
  warnUnknownFields(spec, ['order', 'defaultAction'], 'spec', r);
  const order = readOrder(spec, r);
  const action = readString(spec, 'defaultAction', 'spec', r);
  if (action !== undefined && action !== 'Deny' && action !== 'Pass') {
    r.error('unsupported-value', 'spec.defaultAction', `"${action}": supported values: "Deny", "Pass"`);
  }
  if (meta === undefined || r.errorCount !== before) return undefined;
  const builtin = FIXED_TIERS[meta.name];
  if (builtin !== undefined) {
    if (order !== undefined && order !== builtin.order)
      r.error('invalid-value', 'spec.order', `${meta.name} tier order must be ${builtin.order}`);
    if (action !== undefined && action !== builtin.defaultAction)
      r.error(
        'invalid-value',
        'spec.defaultAction',
        `The '${meta.name}' tier must have default action '${builtin.defaultAction}'`,
      );
    return undefined;
  }
  return {
    name: calicoTierName(meta.name),
    order: calicoTierOrder(meta.name, order),
    semantics: 'first-match',
    dialect: 'calico',
    // Calico: "If no policy in the tier applies an action, the tier's default action applies" (Deny).
    defaultAction: action === 'Pass' ? 'Pass' : 'Deny',
  };
}

function readOrder(spec: Obj, r: Reporter): number | undefined {
  const v = spec['order'];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    r.error('invalid-type', 'spec.order', `must be a finite number, got ${typeName(v)}`);
    return undefined;
  }
  return v;
}

function readPlacement(
  spec: Obj,
  name: string | undefined,
  kind: string,
  r: Reporter,
): Placement | undefined {
  const before = r.errorCount;
  const written = readString(spec, 'tier', 'spec', r);
  const tier = written === undefined || written === '' ? 'default' : written;
  for (const m of dns1123LabelErrors(tier)) r.error('invalid-value', 'spec.tier', `"${tier}": ${m}`);
  const order = readOrder(spec, r);
  if (name !== undefined) checkTieredName(name, tier, kind, r);
  if (r.errorCount !== before) return undefined;
  return {
    tier: calicoTierName(tier),
    // Tier reference: a tier whose default action is Pass does not drop at its end.
    isolating: FIXED_TIERS[tier]?.defaultAction !== 'Pass',
    priority: order ?? UNORDERED_PRIORITY,
  };
}

/**
 * Before Calico v3.32 a policy outside the default tier had to be named `<tier>.<name>`; since v3.32 the
 * bare name is accepted too. A prefix naming another tier is refused (it would land elsewhere in older
 * Calico), and a tier-like prefix on a default-tier policy usually means a forgotten `spec.tier`.
 */
function checkTieredName(name: string, tier: string, kind: string, r: Reporter): void {
  const pattern = kind === 'NetworkPolicy' ? NP_NAME : GNP_NAME;
  if (!pattern.test(name)) {
    r.error(
      'invalid-value',
      'metadata.name',
      `"${name}": a Calico ${kind} name is a lowercase RFC 1123 label, optionally prefixed with "<tier>."`,
    );
    return;
  }
  const dot = name.indexOf('.');
  const prefix = dot < 0 ? undefined : name.slice(0, dot);
  if (tier !== 'default') {
    if (prefix === undefined) {
      r.warn(
        'invalid-value',
        'metadata.name',
        `"${name}": Calico before v3.32 requires policies of tier "${tier}" to be named "${tier}.<name>"`,
      );
    } else if (prefix !== tier) {
      r.error('invalid-value', 'metadata.name', `"${name}": the name prefix must be the tier, "${tier}."`);
    }
  } else if (prefix !== undefined && prefix !== 'default' && prefix !== 'knp' && prefix !== 'ossg') {
    r.warn(
      'invalid-value',
      'metadata.name',
      `"${name}": the prefix "${prefix}." looks like a tier, but spec.tier is not set, so the policy is in the default tier`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// Selectors

function parseSelectorAt(text: string, path: string, r: Reporter): CalicoExpr | undefined {
  const parsed = parseCalicoSelector(text);
  if (parsed.ok) return parsed.expr;
  r.error('invalid-value', path, `"${text}": column ${parsed.error.column}: ${parsed.error.message}`);
  return undefined;
}

/** An endpoint selector as namespace × pod alternatives, or undefined (reported). */
function endpointAlternatives(
  text: string,
  path: string,
  r: Reporter,
): readonly ScopedSelector[] | undefined {
  const expr = parseSelectorAt(text, path, r);
  if (expr === undefined) return undefined;
  const split = splitEndpointSelector(expr);
  if (split.ok) return split.alternatives;
  r.error(
    split.message.startsWith('global()') ? 'invalid-value' : 'unsupported-value',
    path,
    `"${text}": ${split.message}`,
  );
  return undefined;
}

/**
 * A namespaceSelector, over namespace labels with the name as `projectcalico.org/name` (EntityRule
 * reference). `all()` is every namespace; `global()` selects only non-namespaced resources, so no pod.
 */
function namespaceSelector(expr: CalicoExpr): Selector {
  return calicoExprToSelector(expr, { kind: 'nothing' }, (k) =>
    k === CALICO_LABEL.name ? NAMESPACE_NAME_LABEL : k,
  );
}

function containsGlobal(e: CalicoExpr): boolean {
  if (e.kind === 'global') return true;
  if (e.kind === 'not') return containsGlobal(e.of);
  if (e.kind === 'and' || e.kind === 'or') return e.of.some(containsGlobal);
  return false;
}

/** `base` narrowed by an extra namespace selector, keeping the plain `names` form when there is none. */
function narrowScope(base: NamespaceScope, extra: Selector): NamespaceScope {
  if (extra.kind === 'match' && extra.requirements.length === 0) return base;
  const baseSelector: Selector =
    base.kind === 'names'
      ? { kind: 'match', requirements: [{ key: NAMESPACE_NAME_LABEL, op: 'In', values: base.names }] }
      : base.selector;
  return { kind: 'selector', selector: andOf([baseSelector, extra]) };
}

/**
 * A `serviceAccountSelector` can only be kept when it selects every service account: the IR's selectors
 * see pod labels, not service-account labels or names.
 */
function checkServiceAccountSelector(spec: Obj, r: Reporter): void {
  const text = readString(spec, 'serviceAccountSelector', 'spec', r);
  if (text === undefined || text === '') return;
  const expr = parseSelectorAt(text, 'spec.serviceAccountSelector', r);
  if (expr !== undefined && expr.kind !== 'all') {
    r.error(
      'unsupported-value',
      'spec.serviceAccountSelector',
      `"${text}": selecting by service account is not supported (the IR matches pod labels only)`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// Policies

export function calicoNetworkPolicyToIr(obj: Obj, r: Reporter, origin: Origin): Policy | undefined {
  return policyToIr(obj, r, origin, 'NetworkPolicy');
}

export function calicoGlobalNetworkPolicyToIr(obj: Obj, r: Reporter, origin: Origin): Policy | undefined {
  return policyToIr(obj, r, origin, 'GlobalNetworkPolicy');
}

function policyToIr(
  obj: Obj,
  r: Reporter,
  origin: Origin,
  kind: 'NetworkPolicy' | 'GlobalNetworkPolicy',
): Policy | undefined {
  const before = r.errorCount;
  const namespaced = kind === 'NetworkPolicy';
  warnUnknownFields(obj, TOP_FIELDS, '', r);
  const meta = readMetadata(obj, { namespaced, name: 'dns-subdomain' }, r);
  const spec = readObject(obj, 'spec', '', r) ?? {};
  warnUnknownFields(spec, namespaced ? NP_SPEC : GNP_SPEC, 'spec', r);
  const namespace = namespaced ? (meta?.namespace ?? DEFAULT_NAMESPACE) : undefined;

  const placement = readPlacement(spec, meta?.name, kind, r);
  const subject = readSubject(spec, namespace, r);
  checkServiceAccountSelector(spec, r);
  const written = { Ingress: [] as Obj[], Egress: [] as Obj[] };
  const ctx: Context = { namespace, r };
  const rules = { Ingress: [] as Rule[], Egress: [] as Rule[] };
  for (const d of DIRECTIONS) {
    const key = d === 'Ingress' ? 'ingress' : 'egress';
    const list = readArray(spec, key, 'spec', r) ?? [];
    for (const { item, path, i } of objectItems(list, at('spec', key), r)) {
      written[d].push(item);
      const rule = ruleToIr(item, path, i, d, ctx);
      if (rule !== undefined) rules[d].push(rule);
    }
  }
  const types = readTypes(spec, r) ?? defaultTypes(written.Ingress.length, written.Egress.length);
  for (const d of DIRECTIONS) {
    if (written[d].length > 0 && !types.includes(d)) {
      r.warn(
        'invalid-value',
        at('spec', d === 'Ingress' ? 'ingress' : 'egress'),
        `types does not include "${d}", so these rules have no effect`,
      );
    }
  }
  const hostOnly = namespaced
    ? []
    : (['doNotTrack', 'preDNAT'] as const).filter((f) => readBoolean(spec, f, 'spec', r));
  if (!namespaced) readBoolean(spec, 'applyOnForward', 'spec', r);

  if (meta === undefined || placement === undefined || subject === undefined || r.errorCount !== before)
    return undefined;
  if (hostOnly.length > 0) {
    // Felix renders untracked and pre-DNAT policy for host endpoints only; pods never see it.
    r.warn(
      'unsupported-value',
      at('spec', hostOnly[0] ?? ''),
      'doNotTrack / preDNAT policies apply to host endpoints only, which Palisade does not model; skipped',
    );
    return undefined;
  }
  return {
    ref: {
      dialect: 'calico',
      kind,
      ...(namespace === undefined ? {} : { namespace }),
      name: meta.name,
      file: origin.file,
      doc: origin.doc,
    },
    tier: placement.tier,
    priority: placement.priority,
    subject,
    isolates: placement.isolating ? types : [],
    ingress: types.includes('Ingress') ? rules.Ingress : [],
    egress: types.includes('Egress') ? rules.Egress : [],
  };
}

/**
 * NetworkPolicy: its namespace × `selector`; GlobalNetworkPolicy: `namespaceSelector` (default all) ×
 * `selector` (Selectors reference, "Understanding scopes"). Namespace labels inside `selector` narrow
 * the namespaces.
 */
function readSubject(spec: Obj, namespace: string | undefined, r: Reporter): Policy['subject'] | undefined {
  const before = r.errorCount;
  let scope: NamespaceScope =
    namespace === undefined
      ? { kind: 'selector', selector: SELECT_ALL }
      : { kind: 'names', names: [namespace] };
  if (namespace === undefined) {
    const text = readString(spec, 'namespaceSelector', 'spec', r);
    if (text !== undefined && text !== '') {
      const expr = parseSelectorAt(text, 'spec.namespaceSelector', r);
      if (expr !== undefined && containsGlobal(expr)) {
        r.error(
          'invalid-value',
          'spec.namespaceSelector',
          'global() can only be used in an EntityRule namespaceSelector',
        );
      } else if (expr !== undefined) scope = { kind: 'selector', selector: namespaceSelector(expr) };
    }
  }
  const text = readString(spec, 'selector', 'spec', r) ?? '';
  const alternatives = endpointAlternatives(text, 'spec.selector', r);
  if (alternatives === undefined || r.errorCount !== before) return undefined;
  const [only, ...more] = alternatives;
  if (only === undefined) return { namespaces: scope, pods: { kind: 'nothing' } };
  if (more.length > 0) {
    r.error(
      'unsupported-value',
      'spec.selector',
      `"${text}": a policy subject is namespaces × pods; this selector needs ${alternatives.length} such pairs ` +
        '(namespace and pod labels combined with "||" or "!")',
    );
    return undefined;
  }
  return { namespaces: narrowScope(scope, only.namespaces), pods: only.pods };
}

/** `types`, deduplicated (a repeat is an error in Calico); undefined when absent or empty. */
function readTypes(spec: Obj, r: Reporter): Direction[] | undefined {
  const raw = readArray(spec, 'types', 'spec', r);
  if (raw === undefined || raw.length === 0) return undefined;
  const out: Direction[] = [];
  stringItems(raw, 'spec.types', r).forEach((t, i) => {
    const path = index('spec.types', i);
    const d = DIRECTIONS.find((x) => x === t);
    if (d === undefined) r.error('unsupported-value', path, `"${t}": supported values: "Ingress", "Egress"`);
    else if (out.includes(d)) r.error('duplicate', path, `'${t}' type specified more than once`);
    else out.push(d);
  });
  return out;
}

/**
 * NetworkPolicy reference, `types` default: Ingress unless there are egress rules and no ingress rules
 * (then Egress); both when there are both.
 */
function defaultTypes(ingress: number, egress: number): Direction[] {
  if (egress === 0) return ['Ingress'];
  return ingress === 0 ? ['Egress'] : ['Ingress', 'Egress'];
}

// ---------------------------------------------------------------------------------------------------------
// Rules

/** A protocol as the IR can carry it. */
type ProtocolValue =
  | { readonly kind: 'l4'; readonly protocol: Protocol }
  | { readonly kind: 'icmp'; readonly family: 4 | 6 }
  | { readonly kind: 'other'; readonly text: string };

const PROTOCOL_NAMES: Readonly<Record<string, ProtocolValue>> = {
  tcp: { kind: 'l4', protocol: 'TCP' },
  udp: { kind: 'l4', protocol: 'UDP' },
  sctp: { kind: 'l4', protocol: 'SCTP' },
  icmp: { kind: 'icmp', family: 4 },
  icmpv6: { kind: 'icmp', family: 6 },
  udplite: { kind: 'other', text: 'UDPLite' },
};
const PROTOCOL_NUMBERS: Readonly<Record<number, ProtocolValue>> = {
  1: { kind: 'icmp', family: 4 },
  6: { kind: 'l4', protocol: 'TCP' },
  17: { kind: 'l4', protocol: 'UDP' },
  58: { kind: 'icmp', family: 6 },
  132: { kind: 'l4', protocol: 'SCTP' },
};

/** Rule reference: `TCP`, `UDP`, `ICMP`, `ICMPv6`, `SCTP`, `UDPLite` (any case, as Calico decodes) or 1-255. */
function readProtocolValue(o: Obj, key: string, path: string, r: Reporter): ProtocolValue | undefined {
  const v = o[key];
  const p = at(path, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isInteger(v)) {
    if (v < 1 || v > 255) {
      r.error('invalid-value', p, `${v}: protocol number invalid (1-255)`);
      return undefined;
    }
    return PROTOCOL_NUMBERS[v] ?? { kind: 'other', text: String(v) };
  }
  if (typeof v === 'string') {
    const named = PROTOCOL_NAMES[v.toLowerCase()];
    if (named === undefined)
      r.error(
        'unsupported-value',
        p,
        `"${v}": supported values: "TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite", 1-255`,
      );
    return named;
  }
  r.error('invalid-type', p, `must be a string or an integer, got ${typeName(v)}`);
  return undefined;
}

interface Icmp {
  readonly type?: number;
  readonly code?: number;
}

/** ICMP reference: type 0-254, code 0-255, and a code only with a type. */
function readIcmp(o: Obj, key: string, path: string, r: Reporter): Icmp | undefined {
  const v = readObject(o, key, path, r);
  if (v === undefined) return undefined;
  const p = at(path, key);
  warnUnknownFields(v, ['type', 'code'], p, r);
  const type = readInteger(v, 'type', p, r);
  const code = readInteger(v, 'code', p, r);
  if (type !== undefined && (type < 0 || type > 254))
    r.error('invalid-value', at(p, 'type'), `${type}: must be 0-254`);
  if (code !== undefined && (code < 0 || code > 255))
    r.error('invalid-value', at(p, 'code'), `${code}: must be 0-255`);
  if (code !== undefined && type === undefined)
    r.error('invalid-value', at(p, 'code'), 'ICMP code specified without an ICMP type');
  return { ...(type === undefined ? {} : { type }), ...(code === undefined ? {} : { code }) };
}

type CalicoPort =
  | { readonly kind: 'range'; readonly from: number; readonly to: number }
  | { readonly kind: 'named'; readonly name: string };

const PORT_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;

/** Ports reference: an integer, "start:end", or a named port. */
function readPorts(o: Obj, key: string, path: string, r: Reporter): { port: CalicoPort; path: string }[] {
  const list = readArray(o, key, path, r) ?? [];
  const out: { port: CalicoPort; path: string }[] = [];
  list.forEach((v, i) => {
    const p = index(at(path, key), i);
    const bad = (msg: string) => r.error('invalid-value', p, msg);
    const inRange = (n: number) => n >= 1 && n <= 65535;
    if (typeof v === 'number' && Number.isInteger(v)) {
      if (inRange(v)) out.push({ port: { kind: 'range', from: v, to: v }, path: p });
      else bad(`${v}: port number must be between 1 and 65535`);
    } else if (typeof v === 'string') {
      const range = /^(\d+)(?::(\d+))?$/.exec(v);
      if (range !== null) {
        const from = Number(range[1]);
        const to = range[2] === undefined ? from : Number(range[2]);
        if (!inRange(from) || !inRange(to)) bad(`"${v}": port numbers must be between 1 and 65535`);
        else if (from > to) bad(`"${v}": minimum port number is greater than maximum port number`);
        else out.push({ port: { kind: 'range', from, to }, path: p });
      } else if (PORT_NAME.test(v)) out.push({ port: { kind: 'named', name: v }, path: p });
      else bad(`"${v}": invalid name for named port`);
    } else {
      r.error('invalid-type', p, `must be an integer or a string, got ${typeName(v)}`);
    }
  });
  return out;
}

/**
 * Port matches for one port list under the rule's protocol. Without a protocol only named ports are valid
 * (validator: numeric ports need TCP, UDP or SCTP) and they match on any of the three (Felix resolves a
 * protocol-less named port for every protocol).
 */
function portMatches(
  ports: readonly { port: CalicoPort; path: string }[],
  protocol: ProtocolValue | undefined,
  r: Reporter,
): PortMatch[] {
  const out: PortMatch[] = [];
  for (const { port, path } of ports) {
    if (protocol !== undefined && protocol.kind !== 'l4') {
      r.error('invalid-value', path, 'rules that specify ports must set protocol to TCP or UDP or SCTP');
    } else if (port.kind === 'range') {
      if (protocol === undefined)
        r.error(
          'invalid-value',
          path,
          'rules with numeric port or port range must set protocol to TCP or UDP or SCTP',
        );
      else out.push({ kind: 'range', protocol: protocol.protocol, from: port.from, to: port.to });
    } else {
      const protocols: readonly Protocol[] =
        protocol === undefined ? ['TCP', 'UDP', 'SCTP'] : [protocol.protocol];
      for (const p of protocols) out.push({ kind: 'named', protocol: p, name: port.name });
    }
  }
  return out;
}

function ruleToIr(o: Obj, path: string, i: number, direction: Direction, ctx: Context): Rule | undefined {
  const { r } = ctx;
  const before = r.errorCount;
  warnUnknownFields(o, RULE_FIELDS, path, r);
  const action = readAction(o, path, r);
  const protocol = readProtocolValue(o, 'protocol', path, r);
  const notProtocol = readProtocolValue(o, 'notProtocol', path, r);
  const icmp = readIcmp(o, 'icmp', path, r);
  const notIcmp = readIcmp(o, 'notICMP', path, r);
  const ipVersion = readInteger(o, 'ipVersion', path, r);
  if (ipVersion !== undefined && ipVersion !== 4 && ipVersion !== 6)
    r.error('unsupported-value', at(path, 'ipVersion'), `${ipVersion}: supported values: 4, 6`);
  const source = readObject(o, 'source', path, r) ?? {};
  const destination = readObject(o, 'destination', path, r) ?? {};
  const srcPath = at(path, 'source');
  const dstPath = at(path, 'destination');
  warnUnknownFields(source, ENTITY_FIELDS, srcPath, r);
  warnUnknownFields(destination, ENTITY_FIELDS, dstPath, r);

  // Source ports are not in the IR's flows; the local side of a rule restricts the subject, not the peer.
  for (const key of ['ports', 'notPorts']) {
    if (!isAbsent(source, key))
      r.error(
        'unsupported-value',
        at(srcPath, key),
        'source ports are not supported (flows carry the destination port only)',
      );
  }
  const local = direction === 'Ingress' ? { o: destination, path: dstPath } : { o: source, path: srcPath };
  for (const key of ENTITY_MATCH_FIELDS) {
    if (!isAbsent(local.o, key)) {
      r.error(
        'unsupported-value',
        at(local.path, key),
        `in an ${direction.toLowerCase()} rule the ${direction === 'Ingress' ? 'destination' : 'source'} is the ` +
          "policy's own endpoint; narrowing it per rule cannot be expressed",
      );
    }
  }

  // ICMP and IP-version consistency (CEL rules on Rule).
  const icmpFamily = protocol?.kind === 'icmp' ? protocol.family : undefined;
  if (icmp !== undefined && icmpFamily === undefined)
    r.error('invalid-value', at(path, 'icmp'), 'ICMP fields require protocol to be ICMP or ICMPv6');
  if (notIcmp !== undefined && icmpFamily === undefined)
    r.error(
      'unsupported-value',
      at(path, 'notICMP'),
      'notICMP is supported with protocol ICMP or ICMPv6 only',
    );
  for (const [key, p] of [
    ['protocol', protocol],
    ['notProtocol', notProtocol],
  ] as const) {
    if (p?.kind === 'icmp' && ipVersion !== undefined && ipVersion !== p.family)
      r.error(
        'invalid-value',
        at(path, 'ipVersion'),
        `${key} ${p.family === 4 ? 'ICMP requires ipVersion 4' : 'ICMPv6 requires ipVersion 6'}`,
      );
  }

  const peer = direction === 'Ingress' ? { o: source, path: srcPath } : { o: destination, path: dstPath };
  const matched = peersToIr(peer.o, peer.path, action, ctx);

  let ports: Rule['ports'] = 'any';
  const positive = readPorts(destination, 'ports', dstPath, r);
  if (protocol?.kind === 'other') {
    if (action === 'Allow' || action === 'Log') {
      // Only narrows: the rule keeps its place but matches none of the TCP/UDP/SCTP flows Palisade models.
      r.warn(
        'unsupported-value',
        at(path, 'protocol'),
        `"${protocol.text}" is not modelled; this rule matches nothing`,
      );
      ports = [];
    } else if (action !== undefined) {
      r.error(
        'unsupported-value',
        at(path, 'protocol'),
        `"${protocol.text}": only TCP, UDP, SCTP, ICMP and ICMPv6 can be enforced`,
      );
    }
  } else if (protocol?.kind === 'icmp') {
    portMatches(positive, protocol, r);
    ports = [{ kind: 'icmp', family: protocol.family, ...icmp }];
  } else if (protocol?.kind === 'l4') {
    ports =
      positive.length > 0
        ? portMatches(positive, protocol, r)
        : [{ kind: 'protocol', protocol: protocol.protocol }];
  } else if (positive.length > 0) {
    ports = portMatches(positive, undefined, r);
  }

  const notPorts: PortMatch[] = [];
  if (notProtocol?.kind === 'l4') notPorts.push({ kind: 'protocol', protocol: notProtocol.protocol });
  else if (notProtocol?.kind === 'icmp') notPorts.push({ kind: 'icmp', family: notProtocol.family });
  else if (notProtocol?.kind === 'other')
    r.error(
      'unsupported-value',
      at(path, 'notProtocol'),
      `"${notProtocol.text}": only TCP, UDP, SCTP, ICMP and ICMPv6 can be enforced`,
    );
  if (notIcmp !== undefined && icmpFamily !== undefined)
    notPorts.push({ kind: 'icmp', family: icmpFamily, ...notIcmp });
  notPorts.push(...portMatches(readPorts(destination, 'notPorts', dstPath, r), protocol, r));

  if (ipVersion !== undefined) {
    const { netsFamilies } = matched;
    if (netsFamilies.some((f) => f !== ipVersion)) {
      r.error('invalid-value', at(path, 'ipVersion'), "rule IP version doesn't match CIDR version");
    } else if (icmpFamily !== ipVersion && netsFamilies.length === 0) {
      // Flows carry no IP family, so only a restriction already implied elsewhere can be kept.
      r.error(
        'unsupported-value',
        at(path, 'ipVersion'),
        'an IP-version restriction is supported only when the protocol (ICMP/ICMPv6) or the nets already imply it',
      );
    }
  }

  const l7 = readHttp(o, path, direction, action, protocol, r);
  if (r.errorCount !== before || action === undefined || matched.peers === undefined) return undefined;
  return {
    action,
    peers: matched.peers,
    ports,
    ...(l7 === undefined ? {} : { l7 }),
    ...(matched.notPeers.length > 0 ? { notPeers: matched.notPeers } : {}),
    ...(notPorts.length > 0 ? { notPorts } : {}),
    index: i,
  };
}

function readAction(o: Obj, path: string, r: Reporter): Action | undefined {
  const a = readString(o, 'action', path, r);
  if (a === undefined) {
    if (isAbsent(o, 'action')) r.error('missing-field', at(path, 'action'), 'action is required');
    return undefined;
  }
  const action = ACTIONS.find((x) => x === a);
  if (action === undefined)
    r.error(
      'unsupported-value',
      at(path, 'action'),
      `"${a}": supported values: "Allow", "Deny", "Log", "Pass"`,
    );
  return action;
}

interface Matched {
  /** Undefined when an error was reported. */
  readonly peers: Rule['peers'] | undefined;
  readonly notPeers: readonly Peer[];
  /** IP families of the positive nets, for ipVersion checks. */
  readonly netsFamilies: readonly (4 | 6)[];
}

/** CIDRs of a `nets` / `notNets` list; a bare address is its host route. */
function readNets(o: Obj, key: string, path: string, r: Reporter): { cidr: string; family: 4 | 6 }[] {
  const raw = readArray(o, key, path, r) ?? [];
  const out: { cidr: string; family: 4 | 6 }[] = [];
  stringItems(raw, at(path, key), r).forEach((text, i) => {
    const c =
      parseCidr(text) ??
      (() => {
        const ip = parseIp(text);
        return ip === undefined
          ? undefined
          : { family: ip.family, base: ip.value, prefix: ip.family === 4 ? 32 : 128 };
      })();
    if (c === undefined) r.error('invalid-value', index(at(path, key), i), `"${text}": invalid CIDR`);
    else out.push({ cidr: formatCidr(c), family: c.family });
  });
  return out;
}

/**
 * The peer side of a rule (EntityRule reference). All criteria AND together: `nets` (any address, pods
 * included), `selector` within `namespaceSelector` (or, for a NetworkPolicy, the policy's namespace — as
 * soon as any selector field is used, libcalico-go GetEntityRuleSelector), and the negations, which go to
 * `notPeers`; `notSelector` is not scoped.
 */
function peersToIr(o: Obj, path: string, action: Action | undefined, ctx: Context): Matched {
  const { r, namespace } = ctx;
  const before = r.errorCount;
  const nets = readNets(o, 'nets', path, r);
  const notNets = readNets(o, 'notNets', path, r);
  for (const n of notNets) {
    if (n.cidr === '0.0.0.0/0' || n.cidr === '::/0')
      r.error(
        'invalid-value',
        at(path, 'notNets'),
        `"${n.cidr}": catch-all CIDR in negation creates logical contradiction (matches no traffic)`,
      );
  }
  const families = new Set([...nets, ...notNets].map((n) => n.family));
  if (families.size > 1) r.error('invalid-value', path, 'rule contains both IPv4 and IPv6 CIDRs');
  for (const key of ['serviceAccounts', 'services']) {
    if (!isAbsent(o, key)) {
      r.error(
        'unsupported-value',
        at(path, key),
        key === 'services'
          ? 'matching Kubernetes Services is not supported (the cluster model has no Services)'
          : 'matching service accounts is not supported (the IR matches pod labels only)',
      );
    }
  }
  const selector = readString(o, 'selector', path, r) ?? '';
  const notSelector = readString(o, 'notSelector', path, r) ?? '';
  const nsText = readString(o, 'namespaceSelector', path, r) ?? '';

  let scope: NamespaceScope | undefined =
    namespace === undefined
      ? { kind: 'selector', selector: SELECT_ALL }
      : { kind: 'names', names: [namespace] };
  if (nsText !== '') {
    const expr = parseSelectorAt(nsText, at(path, 'namespaceSelector'), r);
    if (expr !== undefined && containsGlobal(expr) && expr.kind !== 'global') {
      r.error(
        'invalid-value',
        at(path, 'namespaceSelector'),
        'if the namespaceSelector contains global(), it should be the only selector',
      );
    } else if (expr?.kind === 'global') {
      // global() reaches GlobalNetworkSets and host endpoints only, which Palisade does not read.
      if (action === 'Allow' || action === 'Log')
        r.warn(
          'unsupported-value',
          at(path, 'namespaceSelector'),
          'global() selects only non-namespaced resources, which are not modelled; matches nothing here',
        );
      else if (action !== undefined)
        r.error(
          'unsupported-value',
          at(path, 'namespaceSelector'),
          'global() selects only non-namespaced resources, which are not modelled',
        );
      scope = undefined;
    } else if (expr !== undefined) scope = { kind: 'selector', selector: namespaceSelector(expr) };
  }
  const positiveSelector =
    selector !== '' || nsText !== '' || (namespace !== undefined && notSelector !== '');
  const alternatives =
    selector === ''
      ? [{ namespaces: SELECT_ALL, pods: SELECT_ALL }]
      : endpointAlternatives(selector, at(path, 'selector'), r);
  const negatives = notSelector === '' ? [] : endpointAlternatives(notSelector, at(path, 'notSelector'), r);
  if (nets.length > 0 && positiveSelector) {
    r.error(
      'unsupported-value',
      at(path, 'nets'),
      'nets together with a selector (or, in a NetworkPolicy, notSelector) must both match one endpoint; the IR cannot intersect them',
    );
  }
  const notPeers: Peer[] = [
    ...notNets.map((n): Peer => ({ kind: 'cidr', cidr: n.cidr, except: [], matchesPods: true })),
    ...(negatives ?? []).map((alt): Peer => ({
      kind: 'endpoints',
      namespaces: { kind: 'selector', selector: alt.namespaces },
      pods: alt.pods,
    })),
  ];
  const netsFamilies = nets.map((n) => n.family);
  if (r.errorCount !== before || alternatives === undefined)
    return { peers: undefined, notPeers, netsFamilies };
  if (nets.length > 0) {
    return {
      peers: nets.map((n) => ({ kind: 'cidr', cidr: n.cidr, except: [], matchesPods: true })),
      notPeers,
      netsFamilies,
    };
  }
  if (!positiveSelector) return { peers: 'any', notPeers, netsFamilies };
  const peers: Peer[] = [];
  if (scope !== undefined) {
    for (const alt of alternatives) {
      const namespaces = narrowScope(scope, alt.namespaces);
      if (namespaces.kind === 'selector' && namespaces.selector.kind === 'nothing') continue;
      peers.push({ kind: 'endpoints', namespaces, pods: alt.pods });
    }
  }
  return { peers, notPeers, netsFamilies };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * HTTPMatch (application layer policy): methods × paths. IR paths are regular expressions (Cilium's
 * convention), so `exact` is anchored at both ends and `prefix` at the start. Enforced by the node's L7 proxy.
 */
function readHttp(
  o: Obj,
  path: string,
  direction: Direction,
  action: Action | undefined,
  protocol: ProtocolValue | undefined,
  r: Reporter,
): L7Match | undefined {
  const http = readObject(o, 'http', path, r);
  if (http === undefined) return undefined;
  const p = at(path, 'http');
  warnUnknownFields(http, ['methods', 'paths'], p, r);
  if (direction === 'Egress') r.error('invalid-value', p, 'not allowed in egress rules');
  if (action !== undefined && action !== 'Allow')
    r.error('invalid-value', p, 'HTTP match is only valid on Allow rules');
  if (protocol !== undefined && !(protocol.kind === 'l4' && protocol.protocol === 'TCP'))
    r.error('invalid-value', p, 'rules with HTTP match must have protocol TCP or unset');
  const methods = stringItems(readArray(http, 'methods', p, r) ?? [], at(p, 'methods'), r);
  const paths: string[] = [];
  for (const { item, path: pp } of objectItems(readArray(http, 'paths', p, r) ?? [], at(p, 'paths'), r)) {
    warnUnknownFields(item, ['exact', 'prefix'], pp, r);
    const exact = readString(item, 'exact', pp, r);
    const prefix = readString(item, 'prefix', pp, r);
    if ((exact === undefined) === (prefix === undefined))
      r.error('invalid-value', pp, 'exactly one of `exact` and `prefix` must be set');
    else if (exact !== undefined) paths.push(`^${escapeRegExp(exact)}$`);
    else if (prefix !== undefined) paths.push(`^${escapeRegExp(prefix)}`);
  }
  const byMethod = methods.length === 0 ? [undefined] : methods;
  const byPath = paths.length === 0 ? [undefined] : paths;
  return {
    kind: 'http',
    semantics: 'calico-alp',
    rules: byMethod.flatMap((method) =>
      byPath.map((pathRe) => ({
        ...(method === undefined ? {} : { method }),
        ...(pathRe === undefined ? {} : { path: pathRe }),
      })),
    ),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Registration

function handler<T>(
  convert: (obj: Obj, r: Reporter, origin: Origin) => T | undefined,
  make: (v: T) => Contribution,
): KindHandler {
  return (obj, r, origin) => {
    const v = convert(obj, r, origin);
    return v === undefined ? undefined : make(v);
  };
}

/**
 * The kinds this dialect reads, keyed as kinds.ts's `kindKey` builds keys (`<apiVersion>/<kind>`; not
 * imported, since kinds.ts imports this module).
 */
export const CALICO_KIND_HANDLERS: Readonly<Record<string, KindHandler>> = {
  [`${CALICO_API_VERSION}/NetworkPolicy`]: handler(calicoNetworkPolicyToIr, (policy) => ({
    kind: 'policy',
    policy,
  })),
  [`${CALICO_API_VERSION}/GlobalNetworkPolicy`]: handler(calicoGlobalNetworkPolicyToIr, (policy) => ({
    kind: 'policy',
    policy,
  })),
  [`${CALICO_API_VERSION}/Tier`]: handler(calicoTierToIr, (tier) => ({ kind: 'tier', tier })),
};
