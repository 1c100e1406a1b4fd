/**
 * One Cilium ingress/egress/ingressDeny/egressDeny rule → IR rules. The L3 members of a rule (endpoints,
 * CIDRs, entities, nodes, FQDNs, …) are mutually exclusive: Cilium's agent refuses a rule that combines two
 * ("combining FromEndpoints and FromCIDR is not supported yet", api.IngressRule.sanitize); `toPorts`/`icmps`
 * AND with the L3 member (docs "Layer 4 Policies": labels-/CIDR-dependent Layer 4 rule).
 */
import type { Direction, NamespaceScope, Peer, PortMatch, Rule } from '../ir/index.js';
import { cidrWithin, formatCidr, parseCidr, parseIp } from '../ir/index.js';
import {
  isAbsent,
  objectItems,
  readArray,
  readObject,
  readString,
  typeName,
  warnUnknownFields,
  type Obj,
} from './fields.js';
import { FQDN_WARNING, fqdnPattern, icmpsToIr, toPortsToIr } from './cilium-ports.js';
import {
  CILIUM_ENTITIES,
  ciliumSelectorToIr,
  namespaceScope,
  type CiliumSelection,
} from './cilium-selector.js';
import { at, index, type Reporter } from './report.js';

export interface RuleContext {
  readonly direction: Direction;
  readonly action: 'Allow' | 'Deny';
  /** The CiliumNetworkPolicy's namespace; undefined for a CiliumClusterwideNetworkPolicy. */
  readonly namespace: string | undefined;
}

type L3Kind = 'endpoints' | 'cidr' | 'cidrSet' | 'entities' | 'nodes' | 'groups' | 'services' | 'fqdns';

const L3: Readonly<Record<Direction, readonly (readonly [string, L3Kind])[]>> = {
  Ingress: [
    ['fromEndpoints', 'endpoints'],
    ['fromCIDR', 'cidr'],
    ['fromCIDRSet', 'cidrSet'],
    ['fromEntities', 'entities'],
    ['fromNodes', 'nodes'],
    ['fromGroups', 'groups'],
  ],
  Egress: [
    ['toEndpoints', 'endpoints'],
    ['toCIDR', 'cidr'],
    ['toCIDRSet', 'cidrSet'],
    ['toEntities', 'entities'],
    ['toNodes', 'nodes'],
    ['toGroups', 'groups'],
    ['toServices', 'services'],
    ['toFQDNs', 'fqdns'],
  ],
};

/**
 * Cilium's CIDR selectors never match what has an identity of its own: pods, and nodes (reserved:host /
 * reserved:remote-node) — docs "Layer 3 Policies", IP/CIDR based. `matchesPods: false` covers pods; this
 * covers nodes.
 */
const NOT_NODES: readonly Peer[] = [
  { kind: 'entity', entity: 'host' },
  { kind: 'entity', entity: 'remote-node' },
];

function fieldsOf(ctx: RuleContext): string[] {
  const l3 = L3[ctx.direction]
    .map(([k]) => k)
    // toFQDNs lives on EgressRule only, not on EgressDenyRule (docs "Deny Policies").
    .filter((k) => ctx.action === 'Allow' || k !== 'toFQDNs');
  const requires = ctx.direction === 'Ingress' ? 'fromRequires' : 'toRequires';
  return [...l3, requires, 'toPorts', 'icmps', ...(ctx.action === 'Allow' ? ['authentication'] : [])];
}

/** The IR rules of one Cilium rule (several when its `toPorts` entries carry different L7 rules). */
export function ciliumRuleToIr(
  o: Obj,
  path: string,
  i: number,
  ctx: RuleContext,
  r: Reporter,
): Rule[] | undefined {
  const before = r.errorCount;
  const fields = fieldsOf(ctx);
  warnUnknownFields(o, fields, path, r);
  unsupportedExtras(o, path, ctx, r);

  const members = L3[ctx.direction].filter(([k]) => fields.includes(k) && !isAbsent(o, k));
  const nonEmpty = members.filter(([k]) => !Array.isArray(o[k]) || (o[k] as unknown[]).length > 0);
  if (nonEmpty.length > 1) {
    const [a, b] = nonEmpty.map(([k]) => k);
    r.error('invalid-value', path, `combining ${a} and ${b} is not supported yet (Cilium refuses the rule)`);
  }
  let peers: Peer[] | undefined;
  let notPeers: readonly Peer[] | undefined;
  for (const [key, kind] of members) {
    const p = at(path, key);
    const list = readArray(o, key, path, r);
    if (list === undefined) continue;
    if (list.length === 0) {
      // An explicit empty list selects no identity (pkg/policy/utils mergeEndpointSelectors).
      r.warn('invalid-value', p, 'an empty list selects nothing, so this rule matches no traffic');
      peers = [];
      continue;
    }
    const got = l3ToIr(kind, list, p, ctx, r);
    if (peers === undefined) peers = got;
    if (kind === 'cidr' || kind === 'cidrSet') notPeers = NOT_NODES;
  }

  const toPorts = readArray(o, 'toPorts', path, r) ?? [];
  const icmps = readArray(o, 'icmps', path, r) ?? [];
  if (toPorts.length > 0 && icmps.length > 0) {
    r.error(
      'invalid-value',
      at(path, 'icmps'),
      'The ICMPs block may only be present without ToPorts. Define a separate rule to use ToPorts.',
    );
  }
  const portCtx = { ingress: ctx.direction === 'Ingress', deny: ctx.action === 'Deny' };
  const ports = toPortsToIr(toPorts, at(path, 'toPorts'), portCtx, r);
  const icmpMatches = icmpsToIr(icmps, at(path, 'icmps'), r);
  const l4 = toPorts.length > 0 || icmps.length > 0;
  if (r.errorCount !== before) return undefined;

  // No L3 member: with L4 the rule allows every peer on those ports; without, `{}` matches nothing
  // (docs "Layer 4 Policies" example, and "Ingress/Egress Default Deny" whose `egress: [{}]` allows nothing).
  const base = {
    action: ctx.action,
    peers: peers ?? (l4 ? ('any' as const) : []),
    ...(notPeers === undefined ? {} : { notPeers }),
    index: i,
  };
  if (!l4) return [{ ...base, ports: 'any' }];
  const plain: PortMatch[] = [...ports.plain, ...icmpMatches];
  const out: Rule[] = [];
  if (plain.length > 0 || ports.withL7.length === 0) out.push({ ...base, ports: plain });
  for (const { ports: p, l7 } of ports.withL7) out.push({ ...base, ports: p, l7 });
  return out;
}

function unsupportedExtras(o: Obj, path: string, ctx: RuleContext, r: Reporter): void {
  const requires = ctx.direction === 'Ingress' ? 'fromRequires' : 'toRequires';
  const list = o[requires];
  if (Array.isArray(list) && list.length > 0) {
    r.error(
      'unsupported-value',
      at(path, requires),
      `${requires} restricts every rule that selects the same endpoints, which the IR cannot express ` +
        '(deprecated in Cilium 1.17, removed in 1.19: docs "Layer 3 Policies", Additional Label Requirements)',
    );
  }
  if (ctx.action !== 'Allow') return;
  const auth = readObject(o, 'authentication', path, r);
  const mode = auth === undefined ? undefined : readString(auth, 'mode', at(path, 'authentication'), r);
  if (mode !== undefined && mode !== 'disabled') {
    r.error(
      'unsupported-value',
      at(at(path, 'authentication'), 'mode'),
      `"${mode}": mutual authentication is not modelled (dropping it would widen the rule)`,
    );
  }
}

function l3ToIr(kind: L3Kind, list: readonly unknown[], path: string, ctx: RuleContext, r: Reporter): Peer[] {
  switch (kind) {
    case 'endpoints':
      return list.flatMap((v, j) => endpointPeer(v, index(path, j), ctx, r) ?? []);
    case 'nodes':
      return list.flatMap((v, j) => nodePeer(v, index(path, j), r) ?? []);
    case 'entities':
      return list.flatMap((v, j) => entityPeer(v, index(path, j), ctx, r) ?? []);
    case 'cidr':
      return list.flatMap((v, j) => cidrPeer(v, [], index(path, j), r) ?? []);
    case 'cidrSet':
      return objectItems(list, path, r).flatMap(({ item, path: p }) => cidrSetPeer(item, p, r) ?? []);
    case 'fqdns':
      r.warn('unsupported-value', path, FQDN_WARNING);
      // "DNS based rules [...] behave similarly to CIDR based rules" (language.rst "DNS based"), and CIDR
      // rules never select pods, which have identities: hence matchesPods false.
      return objectItems(list, path, r).flatMap(({ item, path: p }) => {
        const pattern = fqdnPattern(item, p, r);
        return pattern === undefined
          ? []
          : [{ kind: 'fqdn' as const, pattern, semantics: 'cilium' as const, matchesPods: false }];
      });
    case 'groups':
      r.error('unsupported-value', path, 'cloud-provider groups are not modelled');
      return [];
    case 'services':
      r.error(
        'unsupported-value',
        path,
        'toServices is not modelled (Services are not part of the cluster model); use toEndpoints',
      );
      return [];
  }
}

function endpointPeer(value: unknown, path: string, ctx: RuleContext, r: Reporter): Peer | undefined {
  const sel = ciliumSelectorToIr(value, path, r);
  if (sel === undefined) return undefined;
  if (sel.kind === 'reserved') return entityByName(sel.name, path, ctx, r);
  return { kind: 'endpoints', namespaces: peerNamespaces(sel, path, ctx, r), pods: sel.pods };
}

/**
 * Namespace defaulting (pkg/k8s/apis/cilium.io/utils getEndpointSelector; docs "Using Kubernetes
 * Constructs in Policy", Namespaces): a selector that names no namespace means the policy's own namespace
 * in a CiliumNetworkPolicy and any namespace in a CiliumClusterwideNetworkPolicy.
 */
function peerNamespaces(
  sel: Extract<CiliumSelection, { kind: 'endpoints' }>,
  path: string,
  ctx: RuleContext,
  r: Reporter,
): NamespaceScope {
  if (ctx.namespace === undefined || sel.namesNamespace) return namespaceScope(sel.namespaceRequirements);
  if (sel.namespaceRequirements.length > 0) {
    r.warn(
      'invalid-value',
      path,
      "namespace labels select across namespaces, as Cilium's agent does; the docs say releases before " +
        'that change ignore io.cilium.k8s.namespace.labels in a CiliumNetworkPolicy',
    );
    return namespaceScope(sel.namespaceRequirements);
  }
  return { kind: 'names', names: [ctx.namespace] };
}

function nodePeer(value: unknown, path: string, r: Reporter): Peer | undefined {
  const sel = ciliumSelectorToIr(value, path, r);
  if (sel === undefined) return undefined;
  if (sel.kind === 'reserved' || sel.namespaceRequirements.length > 0) {
    r.error('invalid-value', path, 'a node selector selects node labels only');
    return undefined;
  }
  return { kind: 'nodes', selector: sel.pods };
}

function entityPeer(value: unknown, path: string, ctx: RuleContext, r: Reporter): Peer | undefined {
  if (typeof value !== 'string') {
    r.error('invalid-type', path, `must be a string, got ${typeName(value)}`);
    return undefined;
  }
  return entityByName(value, path, ctx, r);
}

/**
 * Entities the IR lacks (health, init, ingress, unmanaged, world-ipv4/6) name identities Palisade never
 * sees: leaving one out of an Allow only narrows it (a warning), out of a Deny would widen what passes.
 */
function entityByName(name: string, path: string, ctx: RuleContext, r: Reporter): Peer | undefined {
  if (!Object.hasOwn(CILIUM_ENTITIES, name)) {
    r.error('unsupported-value', path, `unsupported entity: ${name}`);
    return undefined;
  }
  const entity = CILIUM_ENTITIES[name];
  if (entity === 'none') return undefined;
  if (entity !== undefined) return { kind: 'entity', entity };
  if (ctx.action === 'Allow')
    r.warn('unsupported-value', path, `entity "${name}" is not modelled; left out of this allow rule`);
  else
    r.error('unsupported-value', path, `entity "${name}" is not modelled; a deny rule cannot leave it out`);
  return undefined;
}

/** Cilium's CIDR type also takes a bare address (api.CIDR.sanitize): a host prefix. */
function cidrPeer(value: unknown, except: readonly string[], path: string, r: Reporter): Peer | undefined {
  if (typeof value !== 'string') {
    r.error('invalid-type', path, `must be a string, got ${typeName(value)}`);
    return undefined;
  }
  const ip = value.includes('/') ? undefined : parseIp(value);
  const cidr = ip === undefined ? parseCidr(value) : parseCidr(`${value}/${ip.family === 4 ? 32 : 128}`);
  if (cidr === undefined) {
    r.error('invalid-value', path, `"${value}": unable to parse CIDR (e.g. 10.0.0.0/8 or 2001:db8::/64)`);
    return undefined;
  }
  return { kind: 'cidr', cidr: formatCidr(cidr), except, matchesPods: false };
}

function cidrSetPeer(o: Obj, path: string, r: Reporter): Peer | undefined {
  warnUnknownFields(o, ['cidr', 'except', 'cidrGroupRef', 'cidrGroupSelector'], path, r);
  for (const key of ['cidrGroupRef', 'cidrGroupSelector']) {
    if (!isAbsent(o, key)) r.error('unsupported-value', at(path, key), 'CiliumCIDRGroups are not modelled');
  }
  const text = readString(o, 'cidr', path, r);
  if (text === undefined) {
    if (isAbsent(o, 'cidr') && isAbsent(o, 'cidrGroupRef') && isAbsent(o, 'cidrGroupSelector')) {
      r.error('missing-field', at(path, 'cidr'), 'cidr is required');
    }
    return undefined;
  }
  const cidr = parseCidr(text);
  if (cidr === undefined) {
    r.error(
      'invalid-value',
      at(path, 'cidr'),
      `Unable to parse CIDRRule "${text}": must be <IP address>/<prefix>`,
    );
    return undefined;
  }
  const except: string[] = [];
  (readArray(o, 'except', path, r) ?? []).forEach((e, j) => {
    const p = index(at(path, 'except'), j);
    const hole = typeof e === 'string' ? parseCidr(e) : undefined;
    if (hole === undefined)
      r.error('invalid-value', p, `${JSON.stringify(e)}: must be <IP address>/<prefix>`);
    else if (!cidrWithin(hole, cidr)) {
      r.error(
        'invalid-value',
        p,
        `allow CIDR prefix ${text} does not contain exclude CIDR prefix ${String(e)}`,
      );
    } else except.push(formatCidr(hole));
  });
  return { kind: 'cidr', cidr: formatCidr(cidr), except, matchesPods: false };
}
