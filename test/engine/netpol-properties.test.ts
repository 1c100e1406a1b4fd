/**
 * Properties of NetworkPolicy semantics over random policy sets (fast-check). Each compares two routes to
 * the same answer, so none can pass by construction.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseSources, type Loaded } from '../../src/dialects/index.js';
import { buildModel, computeMatrix, type Matrix } from '../../src/engine/index.js';
import { hasErrors, type Selector } from '../../src/ir/index.js';
import { networkPolicy, policySet, toYaml } from '../support/arbitrary-netpol.js';
import { CASES_DIR } from '../support/case-table.js';

const CLUSTER = readFileSync(join(CASES_DIR, 'cluster-xyz.yaml'), 'utf8');
const TARGETS = [
  { port: 80, protocol: 'TCP' as const },
  { port: 81, protocol: 'UDP' as const },
  { port: 80, protocol: 'SCTP' as const },
];
const RUNS = { numRuns: 150 };

function load(policies: readonly Record<string, unknown>[]): Loaded {
  const { value, diagnostics } = parseSources([
    { file: 'cluster-xyz.yaml', text: CLUSTER },
    { file: 'policies.yaml', text: toYaml(policies) },
  ]);
  assert.equal(hasErrors(diagnostics), false, JSON.stringify(diagnostics));
  return value;
}

function matrixOf(policies: readonly Record<string, unknown>[]): Matrix {
  const { cluster, policies: ps } = load(policies);
  return computeMatrix(buildModel(cluster, ps), TARGETS);
}

const allowedSet = (m: Matrix): Set<string> =>
  new Set(m.results.filter((r) => r.allowed).map((r) => `${r.protocol}/${r.port} ${r.from}>${r.to}`));

describe('NetworkPolicy properties', () => {
  it('adding an allow rule to a policy never removes connectivity', () => {
    fc.assert(
      fc.property(
        policySet.filter((s) => s.length > 0),
        fc.nat(),
        fc.constantFrom('ingress', 'egress'),
        networkPolicy,
        (set, which, direction, donor) => {
          const before = matrixOf(set);
          const i = which % set.length;
          const target = set[i] as { spec: Record<string, unknown> };
          const donorSpec = donor['spec'] as Record<string, unknown[] | undefined>;
          const extra = donorSpec[direction]?.[0] ?? {};
          // Only add a rule in a direction the policy already isolates, so that adding it cannot change
          // policyTypes defaulting (which would add isolation, not a rule).
          // The API server adds Egress only for a non-empty egress list (SetDefaults_NetworkPolicy).
          const egressRules = (target.spec['egress'] as unknown[] | undefined) ?? [];
          const types = (target.spec['policyTypes'] as string[] | undefined) ?? [
            'Ingress',
            ...(egressRules.length > 0 ? ['Egress'] : []),
          ];
          fc.pre(types.includes(direction === 'ingress' ? 'Ingress' : 'Egress'));
          const rules = (target.spec[direction] as unknown[] | undefined) ?? [];
          const grown = set.map((p, k) =>
            k === i ? { ...p, spec: { ...target.spec, [direction]: [...rules, extra] } } : p,
          );
          const after = matrixOf(grown);
          for (const cell of allowedSet(before)) assert.ok(allowedSet(after).has(cell), `lost ${cell}`);
        },
      ),
      RUNS,
    );
  });

  it('a pod selected by no policy accepts everything its peers egress allows', () => {
    fc.assert(
      fc.property(policySet, (set) => {
        const { cluster, policies } = load(set);
        const model = buildModel(cluster, policies);
        const m = computeMatrix(model, TARGETS);
        // The same policies with every ingress side removed: only egress decides.
        const egressOnly = computeMatrix(
          buildModel(
            cluster,
            policies.map((p) => ({ ...p, isolates: p.isolates.filter((d) => d === 'Egress'), ingress: [] })),
          ),
          TARGETS,
        );
        const byKey = new Map(
          egressOnly.results.map((r) => [`${r.protocol}/${r.port} ${r.from}>${r.to}`, r.allowed]),
        );
        const ingressSelected = new Set(
          cluster.endpoints
            .filter((e) =>
              policies.some(
                (p) =>
                  p.isolates.includes('Ingress') &&
                  p.subject.namespaces.kind === 'names' &&
                  p.subject.namespaces.names.includes(e.namespace) &&
                  matrixSelects(p.subject.pods, e.labels),
              ),
            )
            .map((e) => `${e.namespace}/${e.name}`),
        );
        for (const r of m.results) {
          if (ingressSelected.has(r.to)) continue;
          assert.equal(
            r.allowed,
            byKey.get(`${r.protocol}/${r.port} ${r.from}>${r.to}`),
            `${r.from} -> ${r.to}`,
          );
        }
      }),
      RUNS,
    );
  });

  it('default-deny ingress blocks every non-loopback ingress into its namespace', () => {
    fc.assert(
      fc.property(policySet, fc.constantFrom('x', 'y', 'z'), (set, ns) => {
        const denyAll = {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'NetworkPolicy',
          metadata: { namespace: ns, name: 'default-deny' },
          spec: { podSelector: {}, policyTypes: ['Ingress'] },
        };
        // Only egress policies ride along, so nothing else can allow ingress into ns.
        const egressOnly = set.map((p) => ({
          ...p,
          spec: { ...(p['spec'] as object), policyTypes: ['Egress'], ingress: undefined },
        }));
        const m = matrixOf([...egressOnly.map(stripUndefined), denyAll]);
        for (const r of m.results) {
          if (r.to.startsWith(`${ns}/`)) assert.equal(r.allowed, r.from === r.to, `${r.from} -> ${r.to}`);
        }
      }),
      RUNS,
    );
  });

  it('the matrix does not depend on document order', () => {
    fc.assert(
      fc.property(
        policySet.chain((s) =>
          fc.tuple(fc.constant(s), fc.shuffledSubarray(s, { minLength: s.length, maxLength: s.length })),
        ),
        ([set, shuffled]) => {
          assert.deepEqual(matrixOf(shuffled), matrixOf(set));
        },
      ),
      RUNS,
    );
  });
});

function stripUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(o)) as Record<string, unknown>;
}

// Kubernetes label selector semantics restated independently of src/engine (matchLabels→In, In, NotIn).
function matrixSelects(sel: Selector, labels: Readonly<Record<string, string>>): boolean {
  if (sel.kind !== 'match') throw new Error(`unexpected selector ${sel.kind} from the NetworkPolicy dialect`);
  return sel.requirements.every((r) => {
    const v = labels[r.key];
    switch (r.op) {
      case 'In':
        return v !== undefined && r.values.includes(v);
      case 'NotIn':
        return v === undefined || !r.values.includes(v);
      case 'Exists':
        return v !== undefined;
      case 'DoesNotExist':
        return v === undefined;
      default:
        throw new Error(`unexpected operator ${r.op}`);
    }
  });
}
