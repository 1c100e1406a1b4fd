/**
 * Findings as a SARIF 2.1.0 log (OASIS SARIF v2.1.0; the subset GitHub code scanning reads). Pure: the
 * caller supplies line numbers (`lintLocated` gives them).
 */
import { LINT_CODES } from './codes.js';
import type { LintCode, LintFinding, LintSeverity } from './types.js';

export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';

type Level = 'error' | 'warning' | 'note';

const LEVEL: Readonly<Record<LintSeverity, Level>> = { error: 'error', warning: 'warning', info: 'note' };

export interface SarifOptions {
  readonly version: string;
  /** 1-based line of the finding's path in its file, when it can be found. */
  readonly lineOf?: (f: LintFinding) => number | undefined;
}

/** `-` (stdin) is not a URI; SARIF readers show the artifact by this name. */
function uriOf(file: string): string {
  if (file === '-' || file === '') return 'stdin';
  return file.split(/[\\/]/).map(encodeURIComponent).join('/');
}

export function toSarif(findings: readonly LintFinding[], options: SarifOptions): object {
  const codes: LintCode[] = [...new Set(findings.map((f) => f.code))].sort();
  const index = new Map(codes.map((c, i) => [c, i]));
  return {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'palisade',
            version: options.version,
            rules: codes.map((id) => ({
              id,
              name: id,
              shortDescription: { text: LINT_CODES[id].summary },
              defaultConfiguration: { level: LEVEL[LINT_CODES[id].level] },
            })),
          },
        },
        results: findings.map((f) => {
          const line = options.lineOf?.(f);
          return {
            ruleId: f.code,
            ruleIndex: index.get(f.code) ?? 0,
            level: LEVEL[f.severity],
            message: { text: `${f.policy}: ${f.message}. Consequence: ${f.consequence}.` },
            locations: [
              {
                physicalLocation: {
                  artifactLocation: { uri: uriOf(f.file) },
                  ...(line === undefined ? {} : { region: { startLine: line } }),
                },
                logicalLocations: [{ fullyQualifiedName: f.path, kind: 'member' }],
              },
            ],
            properties: {
              target: f.target,
              doc: f.doc,
              policy: f.policy,
              ...(f.rule === undefined ? {} : { rule: f.rule }),
              consequence: f.consequence,
              source: f.source,
            },
          };
        }),
      },
    ],
  };
}
