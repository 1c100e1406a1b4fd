import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseAllDocuments, stringify } from 'yaml';
import {
  changesetSummary,
  compileNftables,
  nftablesBackend,
  createNodeResolver,
  diffTables,
  endpointId,
  fingerprint,
  resolveNodeRules,
  ruleText,
} from '../../src/datapath/index.js';
import type { NftTable, NodeRules } from '../../src/datapath/index.js';
import { parseSources } from '../../src/dialects/index.js';
import { DEFAULT_TIERS, buildModel, createModelBuilder } from '../../src/engine/index.js';
import type { Diagnostic } from '../../src/ir/index.js';
import { reconcile, validateObjects } from '../../src/agent/index.js';
import type { ObjectStates } from '../../src/agent/index.js';
import { networkPolicy } from '../support/arbitrary-netpol.js';
import { CASES_DIR } from '../support/case-table.js';
import { DENY_ALL, MALFORMED, NAMESPACE, NODE, allowBToA, json, pod } from './support.js';

const base = (port: number): Map<string, string> =>
  new Map([
    ['ns', json(NAMESPACE)],
    ['a', json(pod('a', '10.77.0.10'))],
    ['b', json(pod('b', '10.77.0.11'))],
    ['deny', json(DENY_ALL)],
    ['allow', json(allowBToA(port))],
  ]);

describe('reconcile', () => {
  it('compiles the node table and counts what it programs', () => {
    const r = reconcile(base(80), new Map(), { node: NODE });
    assert.equal(r.events.length, 0);
    assert.equal(r.counts.endpoints, 2);
    assert.equal(r.counts.policies, 2);
    assert.equal(r.counts.policiesOnNode, 2);
    assert.ok(r.counts.rules >= 1);
    assert.ok(r.counts.setElements > 0);
    assert.ok(r.table.chains.some((c) => c.name.includes(endpointId('pal/a'))));
  });

  it('another node gets no endpoint chains', () => {
    const r = reconcile(base(80), new Map(), { node: 'other' });
    assert.equal(r.counts.endpoints, 0);
  });

  it("one policy change touches only the selected endpoint's chains and sets", () => {
    const before = reconcile(base(80), new Map(), { node: NODE });
    const after = reconcile(base(8080), before.objects, { node: NODE });
    const c = diffTables(fingerprint(before.table), after.table);
    // Sets are named by the rule's identity, not its content: a port edit is one element out, one in.
    assert.deepEqual(changesetSummary(c), {
      addSets: 0,
      addChains: 0,
      replaceChains: 0,
      deleteChains: 0,
      deleteSets: 0,
      addElements: 1,
      delElements: 1,
    });
    const touched = c.setElements.map((d) => d.name);
    const users = after.table.chains
      .filter((ch) => ch.rules.some((r) => touched.some((t) => ruleText(r).includes(`@${t}`))))
      .map((ch) => ch.name);
    assert.ok(users.length > 0);
    for (const name of users) assert.ok(name.includes(endpointId('pal/a')), name);
  });

  it('a malformed new object is skipped and reported; the rest is enforced', () => {
    const objs = base(80);
    objs.set('broken', json(MALFORMED));
    const r = reconcile(objs, new Map(), { node: NODE });
    const e = r.events[0];
    assert.equal(e?.type, 'object-rejected');
    assert.ok(e?.type === 'object-rejected' && e.kept === 'nothing' && e.id === 'broken');
    assert.ok(e?.type === 'object-rejected' && e.diagnostics.some((d) => d.path === 'spec.podSelector'));
    assert.equal(r.counts.policies, 2);
  });

  it('a malformed update keeps the last good version, and says so once', () => {
    const first = reconcile(base(80), new Map(), { node: NODE });
    const objs = base(80);
    objs.set('allow', json({ ...allowBToA(81), spec: { podSelector: 'x' } }));
    const second = reconcile(objs, first.objects, { node: NODE });
    assert.deepEqual(
      second.events.map((e) => e.type === 'object-rejected' && e.kept),
      ['last-good'],
    );
    assert.deepEqual(second.table, first.table);
    const third = reconcile(objs, second.objects, { node: NODE });
    assert.equal(third.events.length, 0);
    const fixed = reconcile(base(80), third.objects, { node: NODE });
    assert.deepEqual(
      fixed.events.map((e) => e.type),
      ['object-recovered'],
    );
  });

  it('reuses the verdict of unchanged objects', () => {
    const first = validateObjects(base(80), new Map());
    const again = validateObjects(base(80), first.objects);
    for (const [id, s] of again.objects) assert.equal(s, first.objects.get(id));
  });
});

/** The upstream e2e layout, one datastore object per document, so pods can be edited one at a time. */
const CLUSTER_DOCS: Record<string, unknown>[] = parseAllDocuments(
  readFileSync(join(CASES_DIR, 'cluster-xyz.yaml'), 'utf8'),
).map((d) => d.toJS() as Record<string, unknown>);
const PODS = CLUSTER_DOCS.filter((d) => d['kind'] === 'Pod');
const XYZ_NODE = 'node-1';

type Edit =
  | { readonly op: 'put'; readonly slot: number; readonly policy: Record<string, unknown> }
  | { readonly op: 'delete'; readonly slot: number }
  | { readonly op: 'break'; readonly slot: number }
  | { readonly op: 'pod'; readonly pod: number; readonly label: string; readonly node: string };

const SLOTS = 6;
const edit: fc.Arbitrary<Edit> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant('put' as const), slot: fc.nat(SLOTS - 1), policy: networkPolicy }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), slot: fc.nat(SLOTS - 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('break' as const), slot: fc.nat(SLOTS - 1) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('pod' as const),
      pod: fc.nat(PODS.length - 1),
      label: fc.constantFrom('a', 'b', 'c'),
      node: fc.constantFrom('node-1', 'node-2'),
    }),
  },
);

function applyEdit(objects: Map<string, string>, e: Edit): void {
  switch (e.op) {
    case 'put':
      // Names repeat across slots on purpose: two objects defining one policy is the duplicate warning.
      objects.set(
        `pol-${e.slot}`,
        stringify({ ...e.policy, metadata: { ...(e.policy['metadata'] as object), name: `p${e.slot % 4}` } }),
      );
      return;
    case 'delete':
      objects.delete(`pol-${e.slot}`);
      return;
    case 'break':
      objects.set(`pol-${e.slot}`, json({ ...MALFORMED, metadata: { name: `p${e.slot}`, namespace: 'x' } }));
      return;
    case 'pod': {
      const p = PODS[e.pod] as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
      objects.set(
        `pod-${e.pod}`,
        stringify({
          ...p,
          metadata: { ...p.metadata, labels: { pod: e.label } },
          spec: { ...p.spec, nodeName: e.node },
        }),
      );
    }
  }
}

/** The pipeline from scratch, as reconcile did before it kept anything: every good text parsed together. */
function fromScratch(objects: ObjectStates): {
  rules: NodeRules;
  table: NftTable;
  warnings: readonly Diagnostic[];
  policies: number;
} {
  const sources = [...objects].flatMap(([file, s]) => (s.good === undefined ? [] : [{ file, text: s.good }]));
  const { value, diagnostics } = parseSources(sources);
  const declared = new Set(value.tiers.map((t) => t.name));
  const tiers = [...DEFAULT_TIERS.filter((t) => !declared.has(t.name)), ...value.tiers];
  const model = buildModel(value.cluster, value.policies, tiers);
  const rules = resolveNodeRules(model, XYZ_NODE);
  return { rules, table: compileNftables(rules), warnings: diagnostics, policies: value.policies.length };
}

describe('incremental reconcile', () => {
  it('cached parses, the model builder, the node resolver and the compiler give the from-scratch table after any edits', () => {
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 12 }), (edits) => {
        const objects = new Map(CLUSTER_DOCS.map((d, i) => [`doc-${i}`, stringify(d)]));
        const kept = {
          compiler: nftablesBackend.create(),
          models: createModelBuilder(),
          resolver: createNodeResolver(XYZ_NODE),
        };
        let states: ObjectStates = new Map();
        for (const e of [undefined, ...edits]) {
          if (e !== undefined) applyEdit(objects, e);
          const r = reconcile(objects, states, { node: XYZ_NODE, ...kept });
          states = r.objects;
          const want = fromScratch(states);
          assert.deepStrictEqual(r.rules, want.rules);
          assert.deepEqual(r.table, want.table);
          assert.deepEqual(r.warnings, want.warnings);
          assert.equal(r.counts.policies, want.policies);
        }
      }),
      { numRuns: 60 },
    );
  });
});
