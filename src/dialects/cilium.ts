/**
 * cilium.io/v2 CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy → IR. Both sit in the Kubernetes
 * stage beside NetworkPolicy (ARCHITECTURE.md "Evaluation order"): allows are a union, deny rules win
 * (docs "Deny Policies"), and a selected endpoint is default-deny in each direction the policy isolates.
 */
import type { Direction, NamespaceScope, Policy, PolicyPart, Rule, Subject } from '../ir/index.js';
import { KUBERNETES_POLICY_PRIORITY, KUBERNETES_TIER, NAMESPACE_NAME_LABEL } from '../ir/index.js';
import {
  isAbsent,
  objectItems,
  readArray,
  readBoolean,
  readObject,
  warnUnknownFields,
  type Obj,
} from './fields.js';
import { ciliumRuleToIr } from './cilium-rule.js';
import { ciliumSelectorToIr, namespaceScope } from './cilium-selector.js';
import { DEFAULT_NAMESPACE, readMetadata } from './k8s-meta.js';
import type { KindHandler } from './kinds.js';
import { at, type Origin, type Reporter } from './report.js';

export const CILIUM_API_VERSION = 'cilium.io/v2';
export type CiliumKind = 'CiliumNetworkPolicy' | 'CiliumClusterwideNetworkPolicy';

const TOP_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'specs', 'status'];
const SPEC_FIELDS = [
  'endpointSelector',
  'nodeSelector',
  'ingress',
  'ingressDeny',
  'egress',
  'egressDeny',
  'enableDefaultDeny',
  'description',
  'labels',
  'log',
];

/**
 * Allow and deny sections per direction, in the order their rules are listed in the IR. Deny rules come
 * first: the engine evaluates a policy's rules in order, and in Cilium a deny wins over any allow, also
 * within one policy.
 */
const SECTIONS = [
  { direction: 'Ingress', key: 'ingressDeny', action: 'Deny' },
  { direction: 'Ingress', key: 'ingress', action: 'Allow' },
  { direction: 'Egress', key: 'egressDeny', action: 'Deny' },
  { direction: 'Egress', key: 'egress', action: 'Allow' },
] as const;

/**
 * Every policy an object holds: `spec` keeps the object's name, each `specs` entry is named
 * `<name>[<i>]` (unique policy ids; its `part` says which entry it is). Cilium applies both when both are
 * set. Undefined when anything was reported as an error.
 */
export function ciliumPolicyToIr(
  obj: Obj,
  kind: CiliumKind,
  r: Reporter,
  origin: Origin,
): Policy[] | undefined {
  const before = r.errorCount;
  const clusterwide = kind === 'CiliumClusterwideNetworkPolicy';
  warnUnknownFields(obj, TOP_FIELDS, '', r);
  const meta = readMetadata(obj, { namespaced: !clusterwide, name: 'dns-subdomain' }, r);
  const namespace = clusterwide ? undefined : (meta?.namespace ?? DEFAULT_NAMESPACE);
  const name = meta?.name ?? '';

  const specs: { spec: Obj; path: string; name: string; part?: PolicyPart }[] = [];
  const single = readObject(obj, 'spec', '', r);
  if (single !== undefined) specs.push({ spec: single, path: 'spec', name });
  const many = readArray(obj, 'specs', '', r) ?? [];
  for (const { item, path, i } of objectItems(many, 'specs', r))
    specs.push({ spec: item, path, name: `${name}[${i}]`, part: { name, spec: path, index: i } });
  if (isAbsent(obj, 'spec') && many.length === 0) {
    r.error('missing-field', 'spec', `Invalid ${kind} spec(s): empty policy (set \`spec\` or \`specs\`)`);
  }

  const policies = specs.map((s) =>
    specToIr(
      s.spec,
      s.path,
      { kind, namespace, name: s.name, file: origin.file, doc: origin.doc, part: s.part },
      r,
    ),
  );
  if (meta === undefined || r.errorCount !== before) return undefined;
  return policies.filter((p) => p !== undefined);
}

interface SpecContext {
  readonly kind: CiliumKind;
  readonly namespace: string | undefined;
  readonly name: string;
  readonly file: string;
  readonly doc: number;
  readonly part: PolicyPart | undefined;
}

function specToIr(spec: Obj, path: string, ctx: SpecContext, r: Reporter): Policy | undefined {
  const before = r.errorCount;
  warnUnknownFields(spec, SPEC_FIELDS, path, r);
  const subject = subjectToIr(spec, path, ctx, r);

  const rules: Record<Direction, Rule[]> = { Ingress: [], Egress: [] };
  const written: Record<Direction, number> = { Ingress: 0, Egress: 0 };
  for (const s of SECTIONS) {
    const list = readArray(spec, s.key, path, r) ?? [];
    written[s.direction] += list.length;
    const ruleCtx = { direction: s.direction, action: s.action, namespace: ctx.namespace };
    for (const { item, path: p, i } of objectItems(list, at(path, s.key), r)) {
      rules[s.direction].push(...(ciliumRuleToIr(item, p, i, ruleCtx, r) ?? []));
    }
  }
  const isolates = isolation(spec, path, written, r);
  if (subject === undefined || r.errorCount !== before) return undefined;
  return {
    ref: {
      dialect: 'cilium',
      kind: ctx.kind,
      ...(ctx.namespace === undefined ? {} : { namespace: ctx.namespace }),
      name: ctx.name,
      file: ctx.file,
      doc: ctx.doc,
      ...(ctx.part === undefined ? {} : { part: ctx.part }),
    },
    tier: KUBERNETES_TIER,
    // NetworkPolicy's priority: one group with it, where a Cilium deny wins over any allow.
    priority: KUBERNETES_POLICY_PRIORITY,
    subject,
    isolates,
    // A non-isolating direction keeps its rules: its allows still count when another policy isolates
    // the endpoint, and its denies always apply (docs "Policy Enforcement Modes", EnableDefaultDeny).
    ingress: rules.Ingress,
    egress: rules.Egress,
  };
}

/**
 * Default deny per direction (api.Rule.Sanitize; docs "Policy Enforcement Modes"): on when the direction
 * has allow or deny rules, unless `enableDefaultDeny` says otherwise (Cilium 1.15+).
 */
function isolation(spec: Obj, path: string, written: Record<Direction, number>, r: Reporter): Direction[] {
  const edd = readObject(spec, 'enableDefaultDeny', path, r);
  const eddPath = at(path, 'enableDefaultDeny');
  if (edd !== undefined) warnUnknownFields(edd, ['ingress', 'egress'], eddPath, r);
  const explicit: Record<Direction, boolean | undefined> = {
    Ingress: edd === undefined ? undefined : readBoolean(edd, 'ingress', eddPath, r),
    Egress: edd === undefined ? undefined : readBoolean(edd, 'egress', eddPath, r),
  };
  for (const s of SECTIONS) {
    const raw = spec[s.key];
    if (s.action === 'Allow' && Array.isArray(raw) && raw.length === 0 && written[s.direction] === 0) {
      if (explicit[s.direction] === undefined) {
        r.warn(
          'invalid-value',
          at(path, s.key),
          `an empty \`${s.key}\` list neither allows nor isolates; \`${s.key}: [{}]\` puts the endpoints into ` +
            'default deny (docs "Layer 3 Policies", Ingress/Egress Default Deny)',
        );
      }
    }
  }
  if (
    written.Ingress === 0 &&
    written.Egress === 0 &&
    explicit.Ingress !== true &&
    explicit.Egress !== true
  ) {
    r.warn('invalid-value', path, 'the policy has no rules and isolates nothing, so it has no effect');
  }
  return (['Ingress', 'Egress'] as const).filter((d) => explicit[d] ?? written[d] > 0);
}

/**
 * `endpointSelector` (docs "Using Kubernetes Constructs in Policy"): a CiliumNetworkPolicy always applies in
 * its own namespace; a clusterwide policy in every namespace unless its selector names some.
 */
function subjectToIr(spec: Obj, path: string, ctx: SpecContext, r: Reporter): Subject | undefined {
  const clusterwide = ctx.namespace === undefined;
  if (!isAbsent(spec, 'nodeSelector')) {
    r.error(
      'unsupported-value',
      at(path, 'nodeSelector'),
      clusterwide
        ? 'host policies (nodeSelector) are not modelled: Palisade enforces policy on pods only'
        : 'nodeSelector can only be used in a CiliumClusterwideNetworkPolicy',
    );
    return undefined;
  }
  const p = at(path, 'endpointSelector');
  if (isAbsent(spec, 'endpointSelector')) {
    r.error('missing-field', p, 'rule must have one of EndpointSelector or NodeSelector');
    return undefined;
  }
  const sel = ciliumSelectorToIr(spec['endpointSelector'], p, r);
  if (sel === undefined) return undefined;
  if (sel.kind === 'reserved') {
    r.error('unsupported-value', p, `"reserved:${sel.name}": a policy can only select pods here`);
    return undefined;
  }
  if (ctx.namespace === undefined)
    return { namespaces: namespaceScope(sel.namespaceRequirements), pods: sel.pods };
  if (sel.namesNamespace) {
    r.warn(
      'invalid-value',
      p,
      `a CiliumNetworkPolicy always applies in its own namespace ("${ctx.namespace}"); a namespace match here ` +
        'can only narrow that',
    );
  }
  const own: NamespaceScope =
    sel.namespaceRequirements.length === 0
      ? { kind: 'names', names: [ctx.namespace] }
      : namespaceScope([
          { key: NAMESPACE_NAME_LABEL, op: 'In', values: [ctx.namespace] },
          ...sel.namespaceRequirements,
        ]);
  return { namespaces: own, pods: sel.pods };
}

/** Registers both kinds; an object with several `specs` contributes one IR policy per entry. */
function handler(kind: CiliumKind): KindHandler {
  return (obj, r, origin) =>
    ciliumPolicyToIr(obj, kind, r, origin)?.map((policy) => ({ kind: 'policy' as const, policy }));
}

/** Keys as kinds.ts `kindKey` builds them; spelled out because kinds.ts imports this module. */
export const CILIUM_KIND_HANDLERS: Readonly<Record<string, KindHandler>> = {
  [`${CILIUM_API_VERSION}/CiliumNetworkPolicy`]: handler('CiliumNetworkPolicy'),
  [`${CILIUM_API_VERSION}/CiliumClusterwideNetworkPolicy`]: handler('CiliumClusterwideNetworkPolicy'),
};
