import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { changesetSummary, diffTables, endpointId, fingerprint, ruleText } from '../../src/datapath/index.js';
import { reconcile, validateObjects } from '../../src/agent/index.js';
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
