import { scopeMatches, selectorMatches } from '../ir/label-match.js';
import type { Subject } from '../ir/policy.js';
import type { Endpoint } from '../ir/endpoint.js';

/** Whether a policy subject covers the endpoint. Host-network endpoints are never subjects; callers check. */
export function subjectSelects(subject: Subject, e: Endpoint): boolean {
  return (
    scopeMatches(subject.namespaces, e.namespace, e.namespaceLabels) &&
    selectorMatches(subject.pods, e.labels)
  );
}
