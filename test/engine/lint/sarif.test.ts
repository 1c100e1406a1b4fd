import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toSarif } from '../../../src/engine/lint/index.js';
import type { LintFinding } from '../../../src/engine/lint/index.js';
import { sarifViolations } from './sarif-shape.js';

const finding = (over: Partial<LintFinding>): LintFinding => ({
  code: 'end-port',
  severity: 'error',
  target: 'weave',
  file: 'dir with space/np.yaml',
  doc: 0,
  path: 'spec.ingress[0].ports[0].endPort',
  policy: 'NetworkPolicy shop/range',
  rule: 0,
  message: 'endPort 9 is not enforced',
  consequence: 'only port 1 is allowed',
  source: 'test',
  ...over,
});

describe('toSarif', () => {
  it('produces a log with every required SARIF 2.1.0 property', () => {
    const findings = [
      finding({}),
      finding({ code: 'no-equivalent-order', severity: 'info', file: '-', path: 'spec' }),
      finding({ code: 'kind-conditional', severity: 'warning' }),
    ];
    const log = toSarif(findings, { version: '0.1.0', lineOf: (f) => (f.file === '-' ? undefined : 7) });
    assert.deepEqual(sarifViolations(log), []);
    const run = (
      log as { runs: { tool: { driver: { rules: { id: string }[] } }; results: Record<string, unknown>[] }[] }
    ).runs[0];
    assert.ok(run);
    assert.deepEqual(
      run.tool.driver.rules.map((r) => r.id),
      ['end-port', 'kind-conditional', 'no-equivalent-order'],
    );
    assert.deepEqual(
      run.results.map((r) => r['level']),
      ['error', 'note', 'warning'],
    );
    assert.deepEqual(run.results[0]?.['locations'], [
      {
        physicalLocation: {
          artifactLocation: { uri: 'dir%20with%20space/np.yaml' },
          region: { startLine: 7 },
        },
        logicalLocations: [{ fullyQualifiedName: 'spec.ingress[0].ports[0].endPort', kind: 'member' }],
      },
    ]);
  });

  it('is valid with no findings, and the checker catches a broken log', () => {
    assert.deepEqual(sarifViolations(toSarif([], { version: '0.1.0' })), []);
    assert.ok(sarifViolations({ version: '2.0.0', runs: [{ tool: {} }] }).length >= 2);
  });
});
