import type { Command } from 'commander';
import { DEFAULT_TIERS } from '../engine/index.js';
import { TARGETS, capabilitiesOf, isTarget, lintLocated, toSarif } from '../engine/lint/index.js';
import type { LintFinding, LintSeverity, Target } from '../engine/lint/index.js';
import { collect } from './collect.js';
import { UsageError } from './exit-codes.js';
import { loadInput } from './load-input.js';
import { parseOutputFormat } from './output-format.js';

type LintFormat = 'table' | 'json' | 'sarif';

interface LintOptions {
  filename: string[];
  target: Target;
  output: LintFormat;
}

/**
 * Error-severity findings fail the run like a linter's (exit 1); main prints the message on stderr after
 * the report has been written to stdout.
 */
class LintFailed extends UsageError {}

function parseTarget(value: string): Target {
  if (!isTarget(value))
    throw new UsageError(`--target ${value}: unknown target (one of: ${TARGETS.join(', ')})`);
  return value;
}

export function registerLint(program: Command): void {
  program
    .command('lint')
    .description('list every construct the target CNI cannot enforce or enforces differently')
    .requiredOption(
      '-f, --filename <path...>',
      'manifest files or directories (recursive), - for stdin',
      collect,
      [],
    )
    .requiredOption(
      '--target <cni>',
      `the CNI the policies are meant for: ${TARGETS.join(', ')}`,
      parseTarget,
    )
    .option(
      '-o, --output <format>',
      'table, json or sarif',
      (v) => parseOutputFormat(v, ['table', 'json', 'sarif']) as LintFormat,
      'table' as LintFormat,
    )
    .exitOverride()
    .action(async (opts: LintOptions) => {
      // SARIF consumers want only the log on stdout: input diagnostics go to stderr as for table output.
      const loaded = await loadInput(opts.filename, opts.output === 'json' ? 'json' : 'table');
      const located = lintLocated(
        { policies: loaded.policies, tiers: [...DEFAULT_TIERS, ...loaded.tiers], cluster: loaded.cluster },
        opts.target,
      );
      const findings = located.map((x) => x.finding);
      // Findings read from stdin are shown without lines, as they always were.
      const lines = new Map(located.map((x) => [x.finding, x.finding.file === '-' ? undefined : x.line]));
      const lineOf = (f: LintFinding) => lines.get(f);
      if (opts.output === 'json') process.stdout.write(`${JSON.stringify(findings, null, 2)}\n`);
      else if (opts.output === 'sarif')
        process.stdout.write(
          `${JSON.stringify(toSarif(findings, { version: program.version() ?? '0.0.0', lineOf }), null, 2)}\n`,
        );
      else process.stdout.write(formatLintTable(findings, opts.target, lineOf));
      const errors = findings.filter((f) => f.severity === 'error').length;
      if (errors > 0) {
        throw new LintFailed(
          `lint: ${errors} error${errors === 1 ? '' : 's'}: ${capabilitiesOf(opts.target).title} would not enforce these policies as written`,
        );
      }
    });
}

// ---------------------------------------------------------------------------------------------------------
// Table: grouped by file, one block per finding.

const LABEL: Readonly<Record<LintSeverity, string>> = { error: 'error', warning: 'warning', info: 'note' };

export function formatLintTable(
  findings: readonly LintFinding[],
  target: Target,
  lineOf: (f: LintFinding) => number | undefined = () => undefined,
): string {
  const title = capabilitiesOf(target).title;
  if (findings.length === 0) return `No findings: ${title} enforces every policy as written.\n`;
  const out: string[] = [];
  const files = [...new Set(findings.map((f) => f.file))];
  for (const file of files) {
    out.push(file === '-' ? '(stdin)' : file);
    // Within a file, in the order the lines are written (findings without a line keep their place last).
    const inFile = findings
      .filter((x) => x.file === file)
      .map((f, i) => ({ f, i, line: lineOf(f) ?? Number.MAX_SAFE_INTEGER }))
      .sort((a, b) => a.f.doc - b.f.doc || a.line - b.line || a.i - b.i)
      .map((x) => x.f);
    for (const f of inFile) {
      const line = lineOf(f);
      const where = `${line === undefined ? `doc ${f.doc}` : `line ${line}`}  ${f.path}`;
      out.push(`  ${LABEL[f.severity].padEnd(7)}  ${f.code}  ${f.policy}  ${where}`);
      out.push(`           ${f.message}`);
      out.push(`           → ${f.consequence}`);
      out.push(`           source: ${f.source}`);
    }
    out.push('');
  }
  const count = (s: LintSeverity) => findings.filter((f) => f.severity === s).length;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  out.push(
    `${plural(count('error'), 'error')}, ${plural(count('warning'), 'warning')}, ${plural(count('info'), 'note')} for ${title}`,
  );
  return `${out.join('\n')}\n`;
}
