import { loadPaths, type Loaded } from '../dialects/index.js';
import { hasErrors } from '../ir/index.js';
import { UsageError } from './exit-codes.js';
import { formatDiagnostics } from './format-diagnostics.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Loads every -f path. Warnings go to stderr; any error stops the verb (exit 1) after all of them are
 * printed — with `-o json` as a JSON document on stdout, so that machines get them as data.
 */
export async function loadInput(paths: readonly string[], output: string): Promise<Loaded> {
  if (paths.length === 0) throw new UsageError('no input: pass at least one -f FILE|DIR|-');
  const { value, diagnostics } = await loadPaths(paths, readStdin);
  if (hasErrors(diagnostics)) {
    if (output === 'json') process.stdout.write(`${JSON.stringify({ diagnostics }, null, 2)}\n`);
    else process.stderr.write(`${formatDiagnostics(diagnostics)}\n`);
    const n = diagnostics.filter((d) => d.severity === 'error').length;
    throw new UsageError(`${n} error${n === 1 ? '' : 's'} in the input; nothing was analyzed`);
  }
  if (diagnostics.length > 0) process.stderr.write(`${formatDiagnostics(diagnostics)}\n`);
  return value;
}
