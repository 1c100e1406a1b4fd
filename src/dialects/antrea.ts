import type { Action, Direction, L7Match, Policy, PortMatch, Rule, Subject } from '../ir/index.js';
import { KUBERNETES_TIER } from '../ir/index.js';
import {
  appliedToSubjects,
  l7ToIr,
  mergeSubjects,
  peerToDraft,
  portToIr,
  protocolToIr,
  resolvePeers,
  SELF_UNSUPPORTED,
  type AntreaScope,
  type DraftPeer,
} from './antrea-peers.js';
import { ANTREA_DEFAULT_TIER, antreaTierName, antreaTierToIr, isAntreaBaseline } from './antrea-tiers.js';
import {
  isAbsent,
  objectItems,
  readArray,
  readBoolean,
  readObject,
  readString,
  typeName,
  warnUnknownFields,
  type Obj,
} from './fields.js';
import { DEFAULT_NAMESPACE, readMetadata } from './k8s-meta.js';
import type { Contribution, KindHandler } from './kinds.js';
import { at, type Origin, type Reporter } from './report.js';

export { ANTREA_STATIC_TIERS, antreaTierName, antreaTierToIr } from './antrea-tiers.js';

/**
 * Antrea-native policies (crd.antrea.io ClusterNetworkPolicy "ACNP" and NetworkPolicy "ANNP"), as
 * docs/antrea-network-policy.md describes them: placed in a tier, ordered by a float priority, rules
 * first-match in written order, no isolation (unmatched traffic falls through to the next tier).
 */
type AntreaKind = 'ClusterNetworkPolicy' | 'NetworkPolicy';

/**
 * PolicyRef.kind as Antrea's own logs and antctl name these objects, so that an Antrea NetworkPolicy and
 * a Kubernetes NetworkPolicy of the same namespace/name keep distinct policy ids and explanations.
 */
const REF_KIND: Readonly<Record<AntreaKind, string>> = {
  ClusterNetworkPolicy: 'AntreaClusterNetworkPolicy',
  NetworkPolicy: 'AntreaNetworkPolicy',
};

const TOP_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];
const SPEC_FIELDS = ['tier', 'priority', 'appliedTo', 'ingress', 'egress'];
const RULE_COMMON = [
  'action',
  'ports',
  'protocols',
  'l7Protocols',
  'name',
  'enableLogging',
  'logLabel',
  'appliedTo',
];
const DIRECTIONS = [
  { direction: 'Ingress', list: 'ingress', peers: 'from', fields: [...RULE_COMMON, 'from'] },
  { direction: 'Egress', list: 'egress', peers: 'to', fields: [...RULE_COMMON, 'to', 'toServices'] },
] as const;

/** The CRD schema bounds of spec.priority ("priority": 1.0 to 10000.0). */
const MIN_PRIORITY = 1;
const MAX_PRIORITY = 10_000;

const ACTIONS: Readonly<Record<string, Action>> = {
  Allow: 'Allow',
  Drop: 'Deny',
  Reject: 'Reject',
  Pass: 'Pass',
};

/** A rule read from YAML, before its peers are resolved against the subject it applies to. */
interface RuleDraft {
  readonly direction: Direction;
  readonly index: number;
  readonly name?: string;
  readonly action: Action;
  readonly peers: 'any' | readonly DraftPeer[];
  readonly ports: 'any' | readonly PortMatch[];
  readonly l7?: L7Match;
  /** Rule-level appliedTo, merged; absent when the policy-level appliedTo applies. */
  readonly subjects?: readonly Subject[];
  readonly appliedToPath: string;
}

/** One IR policy's worth: a subject and the rules that apply to it. */
interface Piece {
  readonly subject: Subject;
  readonly rules: readonly RuleDraft[];
  /** The appliedTo that made this piece, for diagnostics. */
  readonly path: string;
}

export function antreaClusterNetworkPolicyToIr(obj: Obj, r: Reporter, origin: Origin): Policy[] | undefined {
  return antreaPolicyToIr(obj, r, origin, 'ClusterNetworkPolicy');
}

export function antreaNetworkPolicyToIr(obj: Obj, r: Reporter, origin: Origin): Policy[] | undefined {
  return antreaPolicyToIr(obj, r, origin, 'NetworkPolicy');
}

/**
 * An ACNP/ANNP → IR policies, validated as the CRD schema and antrea-controller's admission webhook do.
 * Usually one policy; more when the appliedTo union is not one IR subject (see `pieces`). Undefined when
 * any error was reported.
 */
function antreaPolicyToIr(obj: Obj, r: Reporter, origin: Origin, kind: AntreaKind): Policy[] | undefined {
  const before = r.errorCount;
  warnUnknownFields(obj, TOP_FIELDS, '', r);
  const namespaced = kind === 'NetworkPolicy';
  const meta = readMetadata(obj, { namespaced, name: 'dns-subdomain' }, r);
  const namespace = meta?.namespace ?? DEFAULT_NAMESPACE;
  const scope: AntreaScope = namespaced ? { kind: 'namespace', name: namespace } : { kind: 'cluster' };
  const spec = readObject(obj, 'spec', '', r) ?? {};
  warnUnknownFields(spec, SPEC_FIELDS, 'spec', r);

  const tier = readTier(spec, r);
  const priority = readPriority(spec, r);
  const rawAppliedTo = readArray(spec, 'appliedTo', 'spec', r) ?? [];
  const policySubjects =
    rawAppliedTo.length > 0 ? appliedToSubjects(rawAppliedTo, 'spec.appliedTo', scope, r) : undefined;

  const rules: RuleDraft[] = [];
  let written = 0;
  for (const d of DIRECTIONS) {
    const list = readArray(spec, d.list, 'spec', r) ?? [];
    written += list.length;
    for (const { item, path, i } of objectItems(list, at('spec', d.list), r)) {
      const rule = ruleToDraft(item, path, i, d, scope, tier ?? ANTREA_DEFAULT_TIER, r);
      if (rule !== undefined) rules.push(rule);
    }
  }
  checkAppliedToLevel(spec, rawAppliedTo.length > 0, written, r);
  checkRuleNames(spec, r);

  if (meta === undefined || tier === undefined || priority === undefined || r.errorCount !== before) {
    return undefined;
  }
  const split = pieces(policySubjects === undefined ? undefined : mergeSubjects(policySubjects), rules);
  const policies = resolve(split, r);
  if (policies === undefined) return undefined;
  const width = String(policies.length - 1).length;
  return policies.map((p, i) => ({
    ref: {
      dialect: 'antrea',
      kind: REF_KIND[kind],
      ...(namespaced ? { namespace } : {}),
      // Split pieces share the priority; the zero-padded suffix keeps the engine's name tie-break in
      // written order (see `pieces`).
      name: policies.length === 1 ? meta.name : `${meta.name}#${String(i).padStart(width, '0')}`,
      file: origin.file,
      doc: origin.doc,
      ...(policies.length === 1 ? {} : { part: { name: meta.name, spec: 'spec', index: i } }),
    },
    tier: antreaTierName(tier),
    priority,
    subject: p.subject,
    // ACNP/ANNP "do not isolate": a selected pod that no rule matches falls through to the next tier.
    isolates: [],
    ingress: p.ingress,
    egress: p.egress,
  }));
}

function readTier(spec: Obj, r: Reporter): string | undefined {
  const tier = readString(spec, 'tier', 'spec', r);
  if (tier === undefined) return isAbsent(spec, 'tier') ? ANTREA_DEFAULT_TIER : undefined;
  if (tier === '') return ANTREA_DEFAULT_TIER;
  if (tier !== tier.toLowerCase()) {
    r.warn(
      'invalid-value',
      'spec.tier',
      `"${tier}": tier names are lowercase Kubernetes names; Palisade reads it as "${tier.toLowerCase()}", ` +
        'current Antrea releases reject a tier that does not exist by its exact name',
    );
  }
  return tier;
}

function readPriority(spec: Obj, r: Reporter): number | undefined {
  const v = spec['priority'];
  if (v === undefined || v === null) {
    r.error('missing-field', 'spec.priority', 'priority is required');
    return undefined;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    r.error('invalid-type', 'spec.priority', `must be a number, got ${typeName(v)}`);
    return undefined;
  }
  if (v < MIN_PRIORITY || v > MAX_PRIORITY) {
    r.error('invalid-value', 'spec.priority', `${v}: must be between 1.0 and 10000.0`);
    return undefined;
  }
  return v;
}

function ruleToDraft(
  o: Obj,
  path: string,
  i: number,
  d: (typeof DIRECTIONS)[number],
  scope: AntreaScope,
  tier: string,
  r: Reporter,
): RuleDraft | undefined {
  const before = r.errorCount;
  warnUnknownFields(o, d.fields, path, r);
  const action = readAction(o, path, tier, r);
  const name = readString(o, 'name', path, r);
  readBoolean(o, 'enableLogging', path, r);
  readString(o, 'logLabel', path, r);

  const rawPeers = readArray(o, d.peers, path, r) ?? [];
  const peers = objectItems(rawPeers, at(path, d.peers), r).map(({ item, path: p }) =>
    peerToDraft(item, p, scope, d.direction, r),
  );
  if (!isAbsent(o, 'toServices')) {
    r.error(
      'unsupported-value',
      at(path, 'toServices'),
      'Service ClusterIP matches are not modelled (the IR sees pod IPs after load balancing); ' +
        'select the backend pods instead',
    );
  }

  const rawPorts = readArray(o, 'ports', path, r) ?? [];
  const ports = objectItems(rawPorts, at(path, 'ports'), r).map(({ item, path: p }) => portToIr(item, p, r));
  const rawProtocols = readArray(o, 'protocols', path, r) ?? [];
  const protocols = objectItems(rawProtocols, at(path, 'protocols'), r).flatMap(
    ({ item, path: p }) => protocolToIr(item, p, r) ?? [],
  );
  const l7 = readL7(o, path, action, ports, protocols, r);

  const rawAppliedTo = readArray(o, 'appliedTo', path, r) ?? [];
  const appliedToPath = at(path, 'appliedTo');
  const subjects =
    rawAppliedTo.length > 0 ? appliedToSubjects(rawAppliedTo, appliedToPath, scope, r) : undefined;

  if (action === undefined || r.errorCount !== before) return undefined;
  const allPorts = [...ports.filter((p) => p !== undefined), ...protocols];
  return {
    direction: d.direction,
    index: i,
    ...(name === undefined || name === '' ? {} : { name }),
    action,
    // Empty `from`/`to` (and `ports` + `protocols`) match everything ("an empty From … matches all").
    peers: peers.length === 0 ? 'any' : peers.filter((p) => p !== undefined),
    ports: allPorts.length === 0 ? 'any' : allPorts,
    ...(l7 === undefined ? {} : { l7 }),
    ...(subjects === undefined ? {} : { subjects: mergeSubjects(subjects) }),
    appliedToPath,
  };
}

function readAction(o: Obj, path: string, tier: string, r: Reporter): Action | undefined {
  const p = at(path, 'action');
  const raw = readString(o, 'action', path, r);
  if (raw === undefined) {
    if (isAbsent(o, 'action')) r.error('missing-field', p, 'action is required');
    return undefined;
  }
  const action = ACTIONS[raw];
  if (action === undefined) {
    r.error('unsupported-value', p, `"${raw}": supported values: "Allow", "Drop", "Reject", "Pass"`);
    return undefined;
  }
  // "Pass … does not make sense when configured in Baseline Tier ACNP rules, and such configurations
  // will be rejected by the admission controller" (docs/antrea-network-policy.md, **action**).
  if (action === 'Pass' && isAntreaBaseline(tier)) {
    r.error('invalid-value', p, '`Pass` action should not be set for Baseline Tier policy rules');
    return undefined;
  }
  return action;
}

function readL7(
  o: Obj,
  path: string,
  action: Action | undefined,
  ports: readonly (PortMatch | undefined)[],
  protocols: readonly PortMatch[],
  r: Reporter,
): L7Match | undefined {
  const list = readArray(o, 'l7Protocols', path, r);
  if (list === undefined || list.length === 0) return undefined;
  const p = at(path, 'l7Protocols');
  if (action !== undefined && action !== 'Allow') {
    r.error('invalid-value', p, 'layer 7 protocols only support the Allow action');
  }
  if (ports.some((port) => port !== undefined && port.kind !== 'icmp' && port.protocol !== 'TCP')) {
    r.error('invalid-value', p, 'HTTP can only be used when the layer 4 protocol is TCP or unset');
  }
  if (protocols.length > 0) r.error('invalid-value', p, 'HTTP cannot be used with protocols ICMP or IGMP');
  return l7ToIr(list, p, r);
}

/** appliedTo is set either at the policy level or in every rule, never both (validateAppliedTo). */
function checkAppliedToLevel(spec: Obj, atPolicy: boolean, written: number, r: Reporter): void {
  const withAppliedTo: string[] = [];
  const without: string[] = [];
  for (const d of DIRECTIONS) {
    const list = Array.isArray(spec[d.list]) ? (spec[d.list] as readonly unknown[]) : [];
    list.forEach((rule, i) => {
      const p = `spec.${d.list}[${i}].appliedTo`;
      const raw = typeof rule === 'object' && rule !== null ? (rule as Obj)['appliedTo'] : undefined;
      (Array.isArray(raw) && raw.length > 0 ? withAppliedTo : without).push(p);
    });
  }
  if (atPolicy) {
    for (const p of withAppliedTo)
      r.error('invalid-value', p, 'appliedTo should not be set in both spec and rules');
    return;
  }
  if (withAppliedTo.length === 0) {
    r.error('missing-field', 'spec.appliedTo', 'appliedTo needs to be set in either spec or rules');
    return;
  }
  if (withAppliedTo.length !== written) {
    for (const p of without) {
      r.error('missing-field', p, 'appliedTo field should either be set in all rules or in none of them');
    }
  }
}

/** Rule names are unique across ingress and egress (validateRuleName); empty names are generated. */
function checkRuleNames(spec: Obj, r: Reporter): void {
  const seen = new Map<string, string>();
  for (const d of DIRECTIONS) {
    const list = Array.isArray(spec[d.list]) ? (spec[d.list] as readonly unknown[]) : [];
    list.forEach((rule, i) => {
      const name = typeof rule === 'object' && rule !== null ? (rule as Obj)['name'] : undefined;
      if (typeof name !== 'string' || name === '') return;
      const p = `spec.${d.list}[${i}].name`;
      const earlier = seen.get(name);
      if (earlier !== undefined)
        r.error(
          'duplicate',
          p,
          `"${name}": rule names must be unique within the policy (also used by ${earlier})`,
        );
      else seen.set(name, p);
    });
  }
}

/**
 * Splits a policy into pieces that each have one IR subject.
 *
 * Policy-level appliedTo: one piece per merged subject, each with every rule. A pod selected by two
 * pieces sees the same rules twice; a rule that did not match the first time does not match the second,
 * so the first match is unchanged.
 *
 * Rule-level appliedTo ("appliedTo per rule"): consecutive rules with the same appliedTo form a run, and
 * each run yields one piece per subject. Antrea orders a policy's rules by written order for every pod
 * they apply to; the pieces keep that order because they share the policy's priority and the engine
 * breaks priority ties by name, where the zero-padded piece suffix sorts runs in written order (a rule's
 * duplicates across subjects sit in the same run, so they are harmless as above). Ingress and egress are
 * evaluated separately, so interleaving their pieces does not matter.
 */
function pieces(policySubjects: readonly Subject[] | undefined, rules: readonly RuleDraft[]): Piece[] {
  if (policySubjects !== undefined) {
    return policySubjects.map((subject) => ({ subject, rules, path: 'spec.appliedTo' }));
  }
  const out: Piece[] = [];
  for (const direction of ['Ingress', 'Egress'] as const) {
    let run: RuleDraft[] = [];
    const flush = () => {
      const head = run[0];
      if (head === undefined) return;
      for (const subject of head.subjects ?? []) out.push({ subject, rules: run, path: head.appliedToPath });
      run = [];
    };
    for (const rule of rules.filter((x) => x.direction === direction)) {
      const head = run[0];
      if (head !== undefined && JSON.stringify(head.subjects) !== JSON.stringify(rule.subjects)) flush();
      run.push(rule);
    }
    flush();
  }
  return out;
}

interface Resolved {
  readonly subject: Subject;
  readonly ingress: Rule[];
  readonly egress: Rule[];
}

/** Drafts → IR rules per piece; every unresolvable Self peer is reported once. */
function resolve(split: readonly Piece[], r: Reporter): Resolved[] | undefined {
  const unresolved = new Set<string>();
  const out = split.map((piece) => {
    const resolved: Resolved = { subject: piece.subject, ingress: [], egress: [] };
    for (const draft of piece.rules) {
      const { peers, unresolved: missing } = resolvePeers(draft.peers, piece.subject);
      for (const p of missing) unresolved.add(p);
      const rule: Rule = {
        action: draft.action,
        peers,
        ports: draft.ports,
        ...(draft.l7 === undefined ? {} : { l7: draft.l7 }),
        // Antrea's Pass skips every remaining Antrea tier except baseline and lands on Kubernetes
        // NetworkPolicy (docs/antrea-network-policy.md, **action**); Pass in baseline is rejected above.
        ...(draft.action === 'Pass' ? { passTo: KUBERNETES_TIER } : {}),
        index: draft.index,
        ...(draft.name === undefined ? {} : { name: draft.name }),
      };
      (draft.direction === 'Ingress' ? resolved.ingress : resolved.egress).push(rule);
    }
    return resolved;
  });
  for (const p of unresolved) r.error('unsupported-value', p, SELF_UNSUPPORTED);
  return unresolved.size === 0 ? out : undefined;
}

/** Handler for the loader: every piece of a split policy (see `pieces`) is one IR policy. */
function policyHandler(
  convert: (obj: Obj, r: Reporter, origin: Origin) => Policy[] | undefined,
): KindHandler {
  return (obj, r, origin): Contribution[] | undefined =>
    convert(obj, r, origin)?.map((policy) => ({ kind: 'policy', policy }));
}

function tierHandler(obj: Obj, r: Reporter): Contribution | undefined {
  const tier = antreaTierToIr(obj, r);
  return tier === undefined ? undefined : { kind: 'tier', tier };
}

const API_VERSIONS = ['crd.antrea.io/v1beta1', 'crd.antrea.io/v1alpha1'];

/** kinds.ts's kindKey format; importing it would be a cycle, as kinds.ts imports this module. */
const kindKey = (apiVersion: string, kind: string): string => `${apiVersion}/${kind}`;

/** Every Antrea kind Palisade reads, for KIND_HANDLERS. v1alpha1 shares v1beta1's schema for these fields. */
export const ANTREA_KIND_HANDLERS: Readonly<Record<string, KindHandler>> = Object.fromEntries(
  API_VERSIONS.flatMap((v) => [
    [kindKey(v, 'ClusterNetworkPolicy'), policyHandler(antreaClusterNetworkPolicyToIr)],
    [kindKey(v, 'NetworkPolicy'), policyHandler(antreaNetworkPolicyToIr)],
    [kindKey(v, 'Tier'), tierHandler],
  ]),
);
