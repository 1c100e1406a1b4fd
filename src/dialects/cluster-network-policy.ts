/**
 * ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) and AdminNetworkPolicy /
 * BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1) → IR, validated as their CRDs
 * (kubernetes-sigs/network-policy-api: HEAD config/crd/experimental for v1alpha2, v0.1.8 for v1alpha1).
 *
 * Placement (api-overview.md "Tiers"): ANP and CNP `tier: Admin` go to the built-in `admin` tier, BANP and
 * CNP `tier: Baseline` to `baseline`; both are first-match tiers around the Kubernetes NetworkPolicy stage.
 * These policies never isolate ("there will not be any implicit isolation effects", api-overview.md
 * "General Notes"): traffic no rule matches falls through to the next tier.
 */
import type { Action, Dialect, Direction, Policy, Rule } from '../ir/index.js';
import { KUBERNETES_TIER } from '../ir/index.js';
import {
  isAbsent,
  objectItems,
  readInteger,
  readObject,
  readString,
  warnUnknownFields,
  type Obj,
} from './fields.js';
import { readBoundedList } from './cluster-network-policy-fields.js';
import {
  peerToIr,
  subjectToIr,
  type PeerField,
  type PeerRules,
  type WrittenPeer,
} from './cluster-network-policy-peers.js';
import { adminPortsToIr, protocolsToIr, type PortList } from './cluster-network-policy-ports.js';
import { readMetadata } from './k8s-meta.js';
import type { KindHandler } from './kinds.js';
import { at, type Origin, type Reporter } from './report.js';

/** Names of the engine's built-in tiers these policies live in (src/engine DEFAULT_TIERS, TIER_ORDER). */
export const ADMIN_TIER = 'admin';
export const BASELINE_TIER = 'baseline';

const GROUP = 'policy.networking.k8s.io';
const TOP_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];
const MAX_PRIORITY = 1000;
const MAX_RULE_NAME = 100;
/** domainNames: matched by the engine against resolutions, which only `analyze --dns` supplies today. */
const DOMAIN_NAMES_WARNING =
  'DNS: domainNames is modelled offline (analyze --dns NAME=IP models a resolution; DomainName meaning: ' +
  '`*.` spans one or more labels, never the apex); enforced offline only: the datapath learns no names ' +
  'yet, so on packets these peers match nothing';

/** Everything that differs between the three kinds; the reader itself is shared. */
interface Flavour {
  readonly kind: 'ClusterNetworkPolicy' | 'AdminNetworkPolicy' | 'BaselineAdminNetworkPolicy';
  readonly dialect: Dialect;
  readonly specFields: readonly string[];
  /** Written action → IR action; the keys are the CRD's enum. */
  readonly actions: Readonly<Record<string, Action>>;
  /** MaxItems of ingress/egress, of from/to, and of ports/protocols. */
  readonly maxRules: number;
  readonly maxPeers: number;
  readonly maxPorts: number;
  readonly portsKey: 'ports' | 'protocols';
  readonly readPorts: (items: readonly unknown[], path: string, r: Reporter) => PortList;
  readonly peers: PeerRules;
  /** Fixed tier; undefined when `spec.tier` chooses (ClusterNetworkPolicy). */
  readonly tier?: string;
  readonly hasPriority: boolean;
  /** BANP is a singleton: CEL `self.metadata.name == 'default'`. */
  readonly singletonName?: string;
}

const EGRESS_FIELDS: readonly PeerField[] = ['namespaces', 'pods', 'nodes', 'networks', 'domainNames'];

const CNP: Flavour = {
  kind: 'ClusterNetworkPolicy',
  dialect: 'cluster-network-policy',
  specFields: ['tier', 'priority', 'subject', 'ingress', 'egress'],
  actions: { Accept: 'Allow', Deny: 'Deny', Pass: 'Pass' },
  maxRules: 25,
  maxPeers: 25,
  maxPorts: 25,
  portsKey: 'protocols',
  readPorts: protocolsToIr,
  peers: { namespaceSelectorRequired: false, egressFields: EGRESS_FIELDS },
  hasPriority: true,
};

const ANP: Flavour = {
  kind: 'AdminNetworkPolicy',
  dialect: 'admin-network-policy',
  specFields: ['priority', 'subject', 'ingress', 'egress'],
  actions: { Allow: 'Allow', Deny: 'Deny', Pass: 'Pass' },
  maxRules: 100,
  maxPeers: 100,
  maxPorts: 100,
  portsKey: 'ports',
  readPorts: adminPortsToIr,
  peers: { namespaceSelectorRequired: true, egressFields: EGRESS_FIELDS },
  tier: ADMIN_TIER,
  hasPriority: true,
};

const BANP: Flavour = {
  ...ANP,
  kind: 'BaselineAdminNetworkPolicy',
  specFields: ['subject', 'ingress', 'egress'],
  actions: { Allow: 'Allow', Deny: 'Deny' },
  // BaselineAdminNetworkPolicyEgressPeer has no domainNames.
  peers: { namespaceSelectorRequired: true, egressFields: ['namespaces', 'pods', 'nodes', 'networks'] },
  tier: BASELINE_TIER,
  hasPriority: false,
  singletonName: 'default',
};

const DIRECTIONS = [
  { direction: 'Ingress', list: 'ingress', peers: 'from' },
  { direction: 'Egress', list: 'egress', peers: 'to' },
] as const;

/** policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy → IR; undefined when any error was reported. */
export function clusterNetworkPolicyToIr(obj: Obj, r: Reporter, origin: Origin): Policy | undefined {
  return toIr(CNP, obj, r, origin);
}

/** policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy → IR (tier `admin`). */
export function adminNetworkPolicyToIr(obj: Obj, r: Reporter, origin: Origin): Policy | undefined {
  return toIr(ANP, obj, r, origin);
}

/** policy.networking.k8s.io/v1alpha1 BaselineAdminNetworkPolicy → IR (tier `baseline`, priority 0). */
export function baselineAdminNetworkPolicyToIr(obj: Obj, r: Reporter, origin: Origin): Policy | undefined {
  return toIr(BANP, obj, r, origin);
}

function policyHandler(convert: (obj: Obj, r: Reporter, origin: Origin) => Policy | undefined): KindHandler {
  return (obj, r, origin) => {
    const policy = convert(obj, r, origin);
    return policy === undefined ? undefined : { kind: 'policy', policy };
  };
}

/** Registered in kinds.ts KIND_HANDLERS; keys in kindKey's `apiVersion/kind` form. */
export const CLUSTER_NETWORK_POLICY_KIND_HANDLERS: Readonly<Record<string, KindHandler>> = {
  [`${GROUP}/v1alpha2/ClusterNetworkPolicy`]: policyHandler(clusterNetworkPolicyToIr),
  [`${GROUP}/v1alpha1/AdminNetworkPolicy`]: policyHandler(adminNetworkPolicyToIr),
  [`${GROUP}/v1alpha1/BaselineAdminNetworkPolicy`]: policyHandler(baselineAdminNetworkPolicyToIr),
};

function toIr(flavour: Flavour, obj: Obj, r: Reporter, origin: Origin): Policy | undefined {
  const before = r.errorCount;
  warnUnknownFields(obj, TOP_FIELDS, '', r);
  const meta = readMetadata(obj, { namespaced: false, name: 'dns-subdomain' }, r);
  if (meta !== undefined && flavour.singletonName !== undefined && meta.name !== flavour.singletonName) {
    r.error(
      'invalid-value',
      'metadata.name',
      `"${meta.name}": Only one ${flavour.kind} with metadata.name="${flavour.singletonName}" can be created in the cluster`,
    );
  }
  const spec = readObject(obj, 'spec', '', r) ?? {};
  warnUnknownFields(spec, flavour.specFields, 'spec', r);
  const tier = flavour.tier ?? readTier(spec, r);
  const priority = flavour.hasPriority ? readPriority(spec, r) : 0;
  const subject = subjectToIr(spec, flavour.peers, r);

  const rules = { Ingress: [] as Rule[], Egress: [] as Rule[] };
  for (const d of DIRECTIONS) {
    const list = readBoundedList(spec, d.list, 'spec', { max: flavour.maxRules }, r) ?? [];
    for (const { item, path, i } of objectItems(list, at('spec', d.list), r)) {
      const rule = ruleToIr(item, path, i, d.direction, flavour, tier, r);
      if (rule !== undefined) rules[d.direction].push(rule);
    }
  }

  if (meta === undefined || tier === undefined || priority === undefined || subject === undefined)
    return undefined;
  if (r.errorCount !== before) return undefined;
  return {
    ref: {
      dialect: flavour.dialect,
      kind: flavour.kind,
      name: meta.name,
      file: origin.file,
      doc: origin.doc,
    },
    tier,
    priority,
    subject,
    isolates: [],
    ingress: rules.Ingress,
    egress: rules.Egress,
  };
}

/** ClusterNetworkPolicy spec.tier: required, enum Admin | Baseline. */
function readTier(spec: Obj, r: Reporter): string | undefined {
  if (isAbsent(spec, 'tier')) {
    r.error('missing-field', 'spec.tier', 'tier is required ("Admin" or "Baseline")');
    return undefined;
  }
  const tier = readString(spec, 'tier', 'spec', r);
  if (tier === 'Admin') return ADMIN_TIER;
  if (tier === 'Baseline') return BASELINE_TIER;
  if (tier !== undefined)
    r.error('unsupported-value', 'spec.tier', `"${tier}": supported values: "Admin", "Baseline"`);
  return undefined;
}

/** spec.priority: required, 0..1000; lower runs first (the engine breaks ties by name). */
function readPriority(spec: Obj, r: Reporter): number | undefined {
  if (isAbsent(spec, 'priority')) {
    r.error('missing-field', 'spec.priority', 'priority is required (0..1000, lower runs first)');
    return undefined;
  }
  const priority = readInteger(spec, 'priority', 'spec', r);
  if (priority === undefined) return undefined;
  if (priority < 0 || priority > MAX_PRIORITY) {
    r.error(
      'invalid-value',
      'spec.priority',
      `${priority}: must be between 0 and ${MAX_PRIORITY}, inclusive`,
    );
    return undefined;
  }
  return priority;
}

function readAction(o: Obj, path: string, flavour: Flavour, r: Reporter): Action | undefined {
  const supported = Object.keys(flavour.actions);
  if (isAbsent(o, 'action')) {
    r.error('missing-field', at(path, 'action'), `action is required (${supported.join(', ')})`);
    return undefined;
  }
  const written = readString(o, 'action', path, r);
  if (written === undefined) return undefined;
  const action = Object.hasOwn(flavour.actions, written) ? flavour.actions[written] : undefined;
  if (action === undefined) {
    const list = supported.map((a) => `"${a}"`).join(', ');
    r.error('unsupported-value', at(path, 'action'), `"${written}": supported values: ${list}`);
  }
  return action;
}

/** Peers that have no pod, hence no named ports (the egress rule's CEL rule). */
const PORTLESS: readonly PeerField[] = ['networks', 'nodes', 'domainNames'];

function ruleToIr(
  o: Obj,
  path: string,
  i: number,
  direction: Direction,
  flavour: Flavour,
  tier: string | undefined,
  r: Reporter,
): Rule | undefined {
  const before = r.errorCount;
  const peersKey = direction === 'Ingress' ? 'from' : 'to';
  warnUnknownFields(o, ['name', 'action', peersKey, flavour.portsKey], path, r);
  const name = readString(o, 'name', path, r);
  if (name !== undefined && name.length > MAX_RULE_NAME) {
    r.error('invalid-value', at(path, 'name'), `Too long: may not be more than ${MAX_RULE_NAME} bytes`);
  }
  const action = readAction(o, path, flavour, r);

  const bounds = { required: true, min: 1, max: flavour.maxPeers };
  const rawPeers = readBoundedList(o, peersKey, path, bounds, r) ?? [];
  const written: WrittenPeer[] = [];
  for (const { item, path: p } of objectItems(rawPeers, at(path, peersKey), r)) {
    const peer = peerToIr(item, p, direction, flavour.peers, r);
    if (peer !== undefined) written.push(peer);
  }
  const rawPorts = readBoundedList(o, flavour.portsKey, path, { min: 1, max: flavour.maxPorts }, r);
  const ports = rawPorts && flavour.readPorts(rawPorts, at(path, flavour.portsKey), r);

  if (ports?.named === true) {
    const portless = PORTLESS.filter((f) => flavour.peers.egressFields.includes(f));
    if (written.some((w) => portless.includes(w.field))) {
      const names = portless.join('/');
      r.error(
        'invalid-value',
        path,
        `${names} peer cannot be set with namedPorts since there are no namedPorts for ${names}`,
      );
    }
  }
  for (const w of written.filter((x) => x.field === 'domainNames')) {
    if (action === 'Allow') {
      // Parsed into fqdn peers the engine matches against resolutions (analyze --dns); on packets they
      // match nothing yet, which only narrows this Accept.
      r.warn('unsupported-value', w.path, DOMAIN_NAMES_WARNING);
    } else if (action !== undefined) {
      // "DomainNames is only supported for Accept rules" (ClusterNetworkPolicyEgressPeer doc); a Deny or
      // Pass that silently matched nothing would weaken the policy.
      r.error('unsupported-value', w.path, 'domainNames is only supported for Accept/Allow rules');
    }
  }

  if (action === undefined || r.errorCount !== before) return undefined;
  // Pass in the Admin tier "passes evaluation to the next tier": NetworkPolicy, skipping any remaining
  // admin-band tiers. In the Baseline tier the next tier is the default (allow), so no target is needed.
  const passTo = action === 'Pass' && tier === ADMIN_TIER ? { passTo: KUBERNETES_TIER } : {};
  return {
    action,
    peers: written.flatMap((w) => w.peers),
    ports: ports === undefined ? 'any' : ports.matches,
    ...passTo,
    index: i,
    ...(name ? { name } : {}),
  };
}
