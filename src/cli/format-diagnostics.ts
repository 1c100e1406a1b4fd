import type { Diagnostic } from '../ir/index.js';

/** One line per diagnostic, in the order found: `error: FILE (doc N): PATH: MESSAGE [code]`. */
export function formatDiagnostics(ds: readonly Diagnostic[]): string {
  return ds
    .map((d) => {
      const where = d.path ? `${d.file} (doc ${d.doc}): ${d.path}` : `${d.file} (doc ${d.doc})`;
      return `${d.severity}: ${where}: ${d.message} [${d.code}]`;
    })
    .join('\n');
}
