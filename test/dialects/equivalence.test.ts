/**
 * "A policy set written as Kubernetes NetworkPolicy and its equivalents in Calico, Cilium and Antrea give
 * the same matrix." Two routes to one answer: the Kubernetes YAML through the real loader and engine, and
 * a translation (test/support/translate, each file says why its output is equivalent) through the same
 * loader and engine. Random sets come from the shared arbitraries over the e2e xyz layout; hand-written
 * sets in test/fixtures/equivalence/<name>/ show what equivalent policies look like to a reader.
 *
 * No dialect needs the arbitrary narrowed: the one construct without a direct Cilium equivalent (an
 * ipBlock covering pod IPs, which Cilium CIDR rules never match) is translated exactly for the xyz layout,
 * see translate/cilium.ts.
 *
 * Reproduce a failure with FC_SEED=<seed printed in the failure>.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseAllDocuments } from 'yaml';
import { parseSources } from '../../src/dialects/index.js';
import { buildModel, computeMatrix, type Matrix, type Target } from '../../src/engine/index.js';
import { policySet, toYaml } from '../support/arbitrary-netpol.js';
import { CASES_DIR } from '../support/case-table.js';
import { toAntrea, toCalico, toCilium, type Obj } from '../support/translate/index.js';

const CLUSTER = readFileSync(join(CASES_DIR, 'cluster-xyz.yaml'), 'utf8');
const FIXTURES = join(import.meta.dirname, '../../../test/fixtures/equivalence');
const TARGETS: readonly Target[] = [
  { port: 80, protocol: 'TCP' },
  { port: 81, protocol: 'UDP' },
  { port: 80, protocol: 'SCTP' },
];
const RUNS = process.env['FC_RUNS'] !== undefined ? Number(process.env['FC_RUNS']) : 150;
const SEED =
  process.env['FC_SEED'] !== undefined ? Number(process.env['FC_SEED']) : (Date.now() ^ 0x5a5a) >>> 1;

/** The pods and nodes the Cilium translation resolves ipBlocks against. */
const ADDRESSES = parseSources([{ file: 'cluster-xyz.yaml', text: CLUSTER }]).value.cluster;

interface Dialect {
  readonly name: string;
  readonly translate: (set: readonly Obj[]) => readonly Obj[];
}

const DIALECTS: readonly Dialect[] = [
  { name: 'calico', translate: (set) => set.map(toCalico) },
  { name: 'cilium', translate: (set) => set.map((p) => toCilium(p, ADDRESSES)) },
  { name: 'antrea (per-policy)', translate: (set) => toAntrea(set, 'per-policy') },
  { name: 'antrea (per-namespace)', translate: (set) => toAntrea(set, 'per-namespace') },
];

/**
 * policySet writes selectors as matchLabels and pod In/NotIn only. This variant swaps some of them for the
 * other operators and for expressions over namespace labels, which each dialect spells its own way
 * (Calico has()/!has()/not in, Cilium's namespace-label keys); `team`, which no object carries, checks
 * how absent labels are read.
 */
const WIDER_NAMESPACE_SELECTORS: readonly Obj[] = [
  { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['x'] }] },
  { matchExpressions: [{ key: 'ns', operator: 'Exists' }] },
  { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['x', 'z'] }] },
  { matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] },
  {
    matchLabels: { ns: 'y' },
    matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['y'] }],
  },
];
const WIDER_POD_SELECTORS: readonly Obj[] = [
  { matchExpressions: [{ key: 'pod', operator: 'Exists' }] },
  { matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] },
  { matchExpressions: [{ key: 'pod', operator: 'DoesNotExist' }] },
  { matchLabels: { pod: 'a' }, matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['b'] }] },
];

function widenSelectors(value: unknown, pick: () => number): unknown {
  if (Array.isArray(value)) return value.map((v) => widenSelectors(v, pick));
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => {
      const p = k === 'namespaceSelector' || k === 'podSelector' ? pick() : 0;
      if (k === 'namespaceSelector' && p % 2 === 1)
        return [k, WIDER_NAMESPACE_SELECTORS[(p >> 1) % WIDER_NAMESPACE_SELECTORS.length]];
      if (k === 'podSelector' && p % 3 === 1)
        return [k, WIDER_POD_SELECTORS[Math.floor(p / 3) % WIDER_POD_SELECTORS.length]];
      return [k, widenSelectors(v, pick)];
    }),
  );
}

const widerPolicySet: fc.Arbitrary<Obj[]> = fc
  .tuple(policySet, fc.array(fc.nat(), { minLength: 8, maxLength: 8 }))
  .map(([set, picks]) => {
    let i = 0;
    return set.map((p) => widenSelectors(p, () => picks[i++ % picks.length] ?? 0) as Obj);
  });

/** The wider variant runs fewer times: it adds selector spellings, not structure, and keeps the suite quick. */
const ARBITRARIES: readonly {
  readonly name: string;
  readonly sets: fc.Arbitrary<Obj[]>;
  readonly runs: number;
}[] = [
  { name: 'random policy sets over the xyz layout', sets: policySet, runs: RUNS },
  { name: 'the same with wider selectors', sets: widerPolicySet, runs: Math.ceil(RUNS / 3) },
];

/** Loads policies with the xyz cluster through every registered dialect; no error may be reported. */
function matrixOf(file: string, text: string): Matrix {
  const { value, diagnostics } = parseSources([
    { file: 'cluster-xyz.yaml', text: CLUSTER },
    { file, text },
  ]);
  const problems = diagnostics.filter((d) => d.severity === 'error' || d.code === 'unknown-kind');
  assert.deepEqual(problems, [], `${file}: errors while loading\n${text}`);
  return computeMatrix(buildModel(value.cluster, value.policies, value.tiers), TARGETS);
}

function differences(expected: Matrix, actual: Matrix): string[] {
  assert.deepEqual(actual.pods, expected.pods);
  const key = (c: Matrix['results'][number]) => `${c.protocol}/${c.port} ${c.from} -> ${c.to}`;
  const got = new Map(actual.results.map((c) => [key(c), c.allowed]));
  return expected.results
    .filter((c) => got.get(key(c)) !== c.allowed)
    .map((c) => `${key(c)}: kubernetes ${c.allowed ? 'allows' : 'denies'}, translation does not`);
}

function assertSameMatrix(k8sText: string, dialect: string, text: string): void {
  const diff = differences(matrixOf('kubernetes.yaml', k8sText), matrixOf(`${dialect}.yaml`, text));
  if (diff.length === 0) return;
  assert.fail(
    [
      `${dialect}: ${diff.length} cells differ`,
      ...diff.slice(0, 12),
      '--- kubernetes',
      k8sText,
      `--- ${dialect}`,
      text,
    ].join('\n'),
  );
}

function withSeed(run: () => void): void {
  try {
    run();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    // fast-check keeps the failing assertion (the differing cells and both YAMLs) in `cause`.
    const cause = e instanceof Error && e.cause instanceof Error ? `\n${e.cause.message}` : '';
    throw new Error(`fast-check seed ${SEED} (rerun with FC_SEED=${SEED})\n${message}${cause}`, { cause: e });
  }
}

describe('Kubernetes NetworkPolicy and its translations give the same matrix', () => {
  for (const d of DIALECTS) {
    for (const a of ARBITRARIES) {
      it(`${d.name}: ${a.name}`, () => {
        withSeed(() =>
          fc.assert(
            fc.property(a.sets, (set) => {
              assertSameMatrix(toYaml(set), d.name, toYaml(d.translate(set)));
            }),
            { numRuns: a.runs, seed: SEED },
          ),
        );
      });
    }
  }
});

function readObjects(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as unknown)
    .filter((o): o is Obj => typeof o === 'object' && o !== null);
}

describe('hand-written equivalents (test/fixtures/equivalence)', () => {
  const cases = readdirSync(FIXTURES, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();

  it('there are hand-written cases', () => assert.ok(cases.length >= 4, cases.join(', ')));

  for (const name of cases) {
    const dir = join(FIXTURES, name);
    const k8sText = readFileSync(join(dir, 'k8s.yaml'), 'utf8');

    it(`${name}: the Kubernetes policies both allow and deny something`, () => {
      const m = matrixOf('k8s.yaml', k8sText);
      assert.ok(m.results.some((c) => c.allowed) && m.results.some((c) => !c.allowed));
    });

    for (const dialect of ['calico', 'cilium', 'antrea']) {
      const file = join(dir, `${dialect}.yaml`);
      it(`${name}: ${dialect}.yaml`, () => {
        assert.ok(existsSync(file), `${file} is missing`);
        assertSameMatrix(k8sText, dialect, readFileSync(file, 'utf8'));
      });
    }

    it(`${name}: the translators agree with the hand-written case`, () => {
      const set = readObjects(k8sText);
      for (const d of DIALECTS) assertSameMatrix(k8sText, d.name, toYaml(d.translate(set)));
    });
  }
});
