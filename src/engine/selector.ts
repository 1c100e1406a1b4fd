import type { Labels, Requirement, Selector } from '../ir/labels.js';
import type { NamespaceScope } from '../ir/peer.js';
import type { Subject } from '../ir/policy.js';
import type { Endpoint } from '../ir/endpoint.js';

function requirementMatches(req: Requirement, labels: Labels): boolean {
  const value = Object.hasOwn(labels, req.key) ? labels[req.key] : undefined;
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

export function selectorMatches(sel: Selector, labels: Labels): boolean {
  switch (sel.kind) {
    case 'match':
      return sel.requirements.every((r) => requirementMatches(r, labels));
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

export function scopeMatches(scope: NamespaceScope, namespace: string, namespaceLabels: Labels): boolean {
  return scope.kind === 'names'
    ? scope.names.includes(namespace)
    : selectorMatches(scope.selector, namespaceLabels);
}

/** Whether a policy subject covers the endpoint. Host-network endpoints are never subjects; callers check. */
export function subjectSelects(subject: Subject, e: Endpoint): boolean {
  return (
    scopeMatches(subject.namespaces, e.namespace, e.namespaceLabels) &&
    selectorMatches(subject.pods, e.labels)
  );
}
