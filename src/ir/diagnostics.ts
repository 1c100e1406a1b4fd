/**
 * Problems found while reading input. Data, not exceptions: loaders collect all of them and one formatter
 * renders them (src/cli), `-o json` prints them as they are.
 */
export type Severity = 'error' | 'warning';

export type DiagnosticCode =
  | 'yaml-syntax'
  | 'file-unreadable'
  | 'not-an-object'
  | 'missing-field'
  | 'invalid-type'
  | 'invalid-value'
  | 'unsupported-value'
  | 'duplicate'
  | 'unknown-kind'
  | 'unknown-field';

export interface Diagnostic {
  readonly code: DiagnosticCode;
  readonly severity: Severity;
  /** File path, or '-' for stdin. */
  readonly file: string;
  /** Zero-based index of the YAML document in the file (items of a List keep their document's index). */
  readonly doc: number;
  /** Field path as the API server prints it, e.g. spec.ingress[0].from[1].ipBlock.cidr */
  readonly path: string;
  readonly message: string;
}

/** Result of a fallible boundary: the value plus everything noticed on the way. */
export interface Result<T> {
  readonly value: T;
  readonly diagnostics: readonly Diagnostic[];
}

export function hasErrors(ds: readonly Diagnostic[]): boolean {
  return ds.some((d) => d.severity === 'error');
}
