import type { Labels, Requirement, Selector } from './labels.js';
import type { NamespaceScope } from './peer.js';

/**
 * Whether one requirement holds for a label's value (`undefined`: the key is absent). The one definition
 * of what the operators mean, for the engine and for dialects that fold constant labels while parsing.
 */
export function requirementHolds(req: Requirement, value: string | undefined): boolean {
  switch (req.op) {
    case 'In':
      return value !== undefined && req.values.includes(value);
    case 'NotIn':
      // Kubernetes: a missing key satisfies NotIn.
      return value === undefined || !req.values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Contains':
      return value !== undefined && value.includes(req.value);
    case 'StartsWith':
      return value !== undefined && value.startsWith(req.value);
    case 'EndsWith':
      return value !== undefined && value.endsWith(req.value);
  }
}

/** Whether `sel` selects an object carrying `labels` (inherited object keys are not labels). */
export function selectorMatches(sel: Selector, labels: Labels): boolean {
  switch (sel.kind) {
    case 'match':
      return sel.requirements.every((r) =>
        requirementHolds(r, Object.hasOwn(labels, r.key) ? labels[r.key] : undefined),
      );
    case 'nothing':
      return false;
    case 'and':
      return sel.of.every((s) => selectorMatches(s, labels));
    case 'or':
      return sel.of.some((s) => selectorMatches(s, labels));
    case 'not':
      return !selectorMatches(sel.of, labels);
  }
}

/** Whether a namespace (its name and labels) is inside `scope`. */
export function scopeMatches(scope: NamespaceScope, namespace: string, namespaceLabels: Labels): boolean {
  return scope.kind === 'names'
    ? scope.names.includes(namespace)
    : selectorMatches(scope.selector, namespaceLabels);
}
