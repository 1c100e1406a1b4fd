/** Kubernetes-style labels: plain string map, never mutated once in the IR. */
export type Labels = Readonly<Record<string, string>>;

/** The label every namespace carries automatically (Kubernetes >= 1.21), so selectors can name it. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/**
 * One requirement of a label selector. Kubernetes' four operators are the core; Calico's extra string
 * operators live here too so that every dialect's selector reduces to the same tree.
 */
export type Requirement =
  | { readonly key: string; readonly op: 'In' | 'NotIn'; readonly values: readonly string[] }
  | { readonly key: string; readonly op: 'Exists' | 'DoesNotExist' }
  | { readonly key: string; readonly op: 'Contains' | 'StartsWith' | 'EndsWith'; readonly value: string };

/**
 * A selector over labels. `match` is the AND of its requirements (an empty list selects everything, as an
 * empty Kubernetes selector does); `nothing` selects no object; and/or/not let expression languages
 * (Calico) map without loss.
 */
export type Selector =
  | { readonly kind: 'match'; readonly requirements: readonly Requirement[] }
  | { readonly kind: 'nothing' }
  | { readonly kind: 'and'; readonly of: readonly Selector[] }
  | { readonly kind: 'or'; readonly of: readonly Selector[] }
  | { readonly kind: 'not'; readonly of: Selector };

export const SELECT_ALL: Selector = { kind: 'match', requirements: [] };
export const SELECT_NOTHING: Selector = { kind: 'nothing' };
