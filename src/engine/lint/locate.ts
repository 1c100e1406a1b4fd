/**
 * Where in the written object an IR policy, rule, port or peer came from. The IR keeps each rule's index
 * in its written list; with the dialect's field names that gives back the YAML path, so the IR needs no
 * extra field. Paths are relative to the object (a `kind: List` item's `items[i].` prefix is unknown).
 */
import type { Direction, Policy, Rule } from '../../ir/index.js';

/** The written object: its name without the suffixes dialects add to the pieces of one object. */
interface WrittenObject {
  readonly name: string;
  /** Path of the spec the policy came from: `spec`, or `specs[i]` for one of a Cilium object's specs. */
  readonly spec: string;
}

function writtenObject(policy: Policy): WrittenObject {
  const { dialect, name } = policy.ref;
  if (dialect === 'cilium') {
    // ciliumPolicyToIr names the policy of `specs[i]` `<name>[<i>]`.
    const m = /^(.*)\[(\d+)\]$/.exec(name);
    if (m !== null) return { name: m[1] ?? name, spec: `specs[${m[2] ?? ''}]` };
  }
  // antreaPolicyToIr splits one object into `<name>#<i>` pieces, one per appliedTo subject.
  if (dialect === 'antrea') return { name: name.replace(/#\d+$/, ''), spec: 'spec' };
  return { name, spec: 'spec' };
}

/** `Kind namespace/name` of the written object, as the user knows it. */
export function policyLabel(policy: Policy): string {
  const { kind, namespace } = policy.ref;
  const { name } = writtenObject(policy);
  return `${kind} ${namespace === undefined ? '' : `${namespace}/`}${name}`;
}

/** Path of the policy's spec (`spec` or `specs[i]`). */
export function specPath(policy: Policy): string {
  return writtenObject(policy).spec;
}

/** `spec.ingress[2]`; Cilium deny rules live in `ingressDeny` / `egressDeny`. */
export function rulePath(policy: Policy, direction: Direction, rule: Rule): string {
  const list = direction === 'Ingress' ? 'ingress' : 'egress';
  const deny = policy.ref.dialect === 'cilium' && rule.action === 'Deny' ? 'Deny' : '';
  return `${specPath(policy)}.${list}${deny}[${rule.index}]`;
}

/**
 * The field holding a rule's ports. Only Kubernetes NetworkPolicy keeps one IR port per written port, in
 * order, so only there is `index` meaningful.
 */
export function portsPath(policy: Policy, direction: Direction, rule: Rule, index?: number): string {
  const base = rulePath(policy, direction, rule);
  switch (policy.ref.dialect) {
    case 'kubernetes':
      return index === undefined ? `${base}.ports` : `${base}.ports[${index}]`;
    case 'calico':
      return `${base}.destination.ports`;
    case 'cilium':
      return `${base}.toPorts`;
    case 'cluster-network-policy':
      return `${base}.protocols`;
    default:
      return `${base}.ports`;
  }
}

/** The field holding a rule's peers; `index` as for `portsPath`. */
export function peersPath(policy: Policy, direction: Direction, rule: Rule, index?: number): string {
  const base = rulePath(policy, direction, rule);
  const key = direction === 'Ingress' ? 'from' : 'to';
  switch (policy.ref.dialect) {
    case 'kubernetes':
      return index === undefined ? `${base}.${key}` : `${base}.${key}[${index}]`;
    case 'calico':
      return `${base}.${direction === 'Ingress' ? 'source' : 'destination'}`;
    case 'cilium':
      return base;
    default:
      return `${base}.${key}`;
  }
}

/** `spec.egress` when egress rules were written, else `spec.policyTypes` (isolation without rules). */
export function directionPath(policy: Policy, direction: Direction): string {
  const rules = direction === 'Ingress' ? policy.ingress : policy.egress;
  const list = direction === 'Ingress' ? 'ingress' : 'egress';
  if (rules.length > 0) return `${specPath(policy)}.${list}`;
  return policy.ref.dialect === 'kubernetes' ? `${specPath(policy)}.policyTypes` : specPath(policy);
}
