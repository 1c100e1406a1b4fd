/**
 * What every `palisade lab` verb shares: the --id option, talking to the lab's daemon, reading manifests
 * on the client side (paths and stdin are the caller's, not the daemon's), and printing what changed.
 */
import type { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { readSources } from '../dialects/index.js';
import type { Source } from '../dialects/index.js';
import { hasErrors } from '../ir/index.js';
import type { Diagnostic } from '../ir/index.js';
import { DEFAULT_LAB_ID, isLabId } from '../lab/lab-id.js';
import { LabNotRunningError, LabTimeoutError, callLab } from '../lab/daemon/client.js';
import type {
  ChangeReport,
  EnforceSummary,
  LabFailure,
  LabRequest,
  ResponseOf,
} from '../lab/daemon/protocol.js';
import type { Routing } from '../lab/topology.js';
import { UsageError } from './exit-codes.js';
import { formatDiagnostics } from './format-diagnostics.js';

export function parseLabId(value: string): string {
  if (!isLabId(value))
    throw new UsageError(
      `--id ${value}: a lab id is 1-32 of [a-z0-9-], starting and ending with a letter or digit`,
    );
  return value;
}

export function addIdOption(cmd: Command): Command {
  return cmd.option('--id <id>', 'which lab (several may run side by side)', parseLabId, DEFAULT_LAB_ID);
}

export function parseRouting(value: string): Routing {
  if (value !== 'native' && value !== 'vxlan') throw new UsageError(`--routing ${value}: native or vxlan`);
  return value;
}

export function parseTimeoutMs(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < 1 || n > 60_000)
    throw new UsageError(`--timeout-ms ${value}: between 1 and 60000`);
  return n;
}

/** dist/src/cli/lab-common.js → dist/src/cli/main.js: what `lab up` runs as the daemon. */
export function mainScript(): string {
  return fileURLToPath(new URL('./main.js', import.meta.url));
}

/** Reads -f paths (files, directories, `-`) here, so that the daemon gets text, never paths. */
export async function readManifests(paths: readonly string[], output: string): Promise<Source[]> {
  if (paths.length === 0) throw new UsageError('no input: pass at least one -f FILE|DIR|-');
  const { value, diagnostics } = await readSources(paths);
  if (hasErrors(diagnostics)) failWithDiagnostics('cannot read the input', diagnostics, output);
  return value;
}

/** Prints diagnostics (JSON on stdout with `-o json`, else on stderr) and stops the verb with exit 1. */
export function failWithDiagnostics(
  message: string,
  diagnostics: readonly Diagnostic[],
  output: string,
): never {
  if (diagnostics.length > 0) {
    if (output === 'json') process.stdout.write(`${JSON.stringify({ diagnostics }, null, 2)}\n`);
    else process.stderr.write(`${formatDiagnostics(diagnostics)}\n`);
  }
  throw new UsageError(message);
}

export function printWarnings(diagnostics: readonly Diagnostic[]): void {
  if (diagnostics.length > 0) process.stderr.write(`${formatDiagnostics(diagnostics)}\n`);
}

export function failed(id: string, f: LabFailure, output: string): never {
  failWithDiagnostics(`lab ${id}: ${f.error}`, f.diagnostics ?? [], output);
}

/** Bounds per request kind: answers come fast except probes, whose bound follows from the daemon's limits. */
export const TIMEOUTS = {
  status: 10_000,
  change: 120_000,
  down: 30_000,
} as const;

/** Sends `request` to lab `id`'s daemon; a lab that is not up or not answering is a usage error. */
export async function request<R extends LabRequest>(
  id: string,
  req: R,
  timeoutMs: number,
  output = 'table',
): Promise<ResponseOf[R['op']]> {
  let r;
  try {
    r = await callLab(id, req, timeoutMs);
  } catch (err) {
    if (err instanceof LabNotRunningError)
      throw new UsageError(`${err.message}; start it with: palisade lab up --id ${id} -f CLUSTER.yaml`);
    if ((err as NodeJS.ErrnoException).code === 'EACCES')
      throw new UsageError(`lab ${id}: permission denied on its socket (the lab verbs need root)`);
    if (err instanceof LabTimeoutError)
      throw new UsageError(`${err.message}; palisade lab down --id ${id} removes it whatever state it is in`);
    throw err;
  }
  if (!r.ok) failed(id, r, output);
  return r.value;
}

function changeText(changes: Readonly<Record<string, number>>): string {
  const parts = Object.entries(changes)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${v}`);
  return parts.length > 0 ? parts.join(', ') : 'no change';
}

/** `enforced revision 3 (nftables) in 41ms: worker1 +…; worker2 unchanged` as lines. */
export function formatEnforce(e: EnforceSummary): string[] {
  const by = e.enforcer === 'agents' ? ' by the node agents' : '';
  const lines = [`enforced revision ${e.revision} with ${e.datapath}${by} in ${e.ms}ms:`];
  for (const n of e.nodes) {
    lines.push(`  ${n.node}: ${n.changed ? changeText(n.changes) : 'unchanged'} (${n.ms}ms)`);
    for (const u of n.unsupported) lines.push(`    not enforced: ${u}`);
  }
  return lines;
}

export function printChange(r: ChangeReport, output: string): void {
  printWarnings(r.warnings);
  if (output === 'json') {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return;
  }
  process.stdout.write([...r.edits, ...formatEnforce(r.enforce)].join('\n') + '\n');
}
