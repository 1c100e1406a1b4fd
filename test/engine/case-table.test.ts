import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSources } from '../../src/dialects/index.js';
import { buildModel, computeMatrix, explain, formatExplanation } from '../../src/engine/index.js';
import { hasErrors } from '../../src/ir/index.js';
import { loadCases } from '../support/case-table.js';

describe('NetworkPolicy semantics case table (test/fixtures/cases)', () => {
  for (const c of loadCases()) {
    it(`${c.name}: ${c.description}`, () => {
      const { value, diagnostics } = parseSources(c.sources);
      assert.equal(hasErrors(diagnostics), false, JSON.stringify(diagnostics, null, 2));
      const model = buildModel(value.cluster, value.policies);
      const matrix = computeMatrix(model, c.targets);
      assert.deepEqual(matrix.pods, c.pods, 'pod list and order');
      const got = new Map(
        matrix.results.map((r) => [`${r.protocol}/${r.port} ${r.from} -> ${r.to}`, r.allowed]),
      );
      const wrong: string[] = [];
      for (const cell of c.expected) {
        const key = `${cell.protocol}/${cell.port} ${cell.from} -> ${cell.to}`;
        if (got.get(key) !== cell.allowed) {
          const ep = (k: string) => value.cluster.endpoints.find((e) => `${e.namespace}/${e.name}` === k);
          const src = ep(cell.from);
          const dst = ep(cell.to);
          const why =
            src && dst
              ? formatExplanation(
                  explain(model, {
                    src: { kind: 'endpoint', endpoint: src },
                    dst: { kind: 'endpoint', endpoint: dst },
                    protocol: cell.protocol,
                    port: cell.port,
                  }),
                )
              : '';
          wrong.push(
            `${key}: expected ${cell.allowed ? 'allowed' : 'denied'}, got ${String(got.get(key))}\n${why}`,
          );
        }
      }
      assert.equal(matrix.results.length, c.expected.length, 'one result per pod pair and target');
      assert.deepEqual(wrong, []);
    });
  }

  it('warns that egress rules are ignored when policyTypes is [Ingress]', () => {
    const c = loadCases().find((x) => x.name === 'policy-types-ingress-ignores-egress-rules');
    assert.ok(c);
    const { diagnostics } = parseSources(c.sources);
    assert.ok(
      diagnostics.some((d) => d.severity === 'warning' && d.path.startsWith('spec.egress')),
      JSON.stringify(diagnostics),
    );
  });
});
