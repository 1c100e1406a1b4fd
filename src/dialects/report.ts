import type { Diagnostic, DiagnosticCode } from '../ir/index.js';

/**
 * Collects the diagnostics of one object. Paths are relative to the object; the reporter adds the
 * prefix of a List item (`items[2]`) so converters never need to know where their object sits.
 */
export interface Reporter {
  error(code: DiagnosticCode, path: string, message: string): void;
  warn(code: DiagnosticCode, path: string, message: string): void;
  /** Errors reported so far: a converter compares before and after to know whether its part was clean. */
  readonly errorCount: number;
}

export interface Origin {
  readonly file: string;
  readonly doc: number;
}

export interface CollectingReporter extends Reporter {
  readonly diagnostics: readonly Diagnostic[];
}

export function collectingReporter(origin: Origin, base = ''): CollectingReporter {
  const diagnostics: Diagnostic[] = [];
  let errorCount = 0;
  const push = (severity: Diagnostic['severity'], code: DiagnosticCode, path: string, message: string) => {
    const full = base === '' ? path : path === '' ? base : `${base}.${path}`;
    diagnostics.push({ code, severity, file: origin.file, doc: origin.doc, path: full, message });
  };
  return {
    diagnostics,
    get errorCount() {
      return errorCount;
    },
    error(code, path, message) {
      errorCount++;
      push('error', code, path, message);
    },
    warn(code, path, message) {
      push('warning', code, path, message);
    },
  };
}

/** `at('spec', 'podSelector')` → `spec.podSelector`; `at('', 'spec')` → `spec`. */
export function at(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** `index('spec.ingress', 0)` → `spec.ingress[0]`. */
export function index(path: string, i: number): string {
  return `${path}[${i}]`;
}
