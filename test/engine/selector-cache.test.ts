import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SelectorCache } from '../../src/engine/selector-cache.js';
import type { NamespaceScope } from '../../src/ir/index.js';
import { SELECT_ALL } from '../../src/ir/index.js';
import { hostNetwork, labels, nsLabels, pod, sel } from './builders.js';

const inX: NamespaceScope = { kind: 'names', names: ['x'] };
const teamA: NamespaceScope = { kind: 'selector', selector: sel({ team: 'a' }) };
const anyNs: NamespaceScope = { kind: 'selector', selector: SELECT_ALL };

const web = pod('x/web', labels({ app: 'web' }), nsLabels({ team: 'a' }));
const db = pod('x/db', labels({ app: 'db' }), nsLabels({ team: 'a' }));
const other = pod('y/web', labels({ app: 'web' }), nsLabels({ team: 'b' }));

function filled(): SelectorCache {
  const c = new SelectorCache();
  c.update({ upsert: [web, db, other], remove: [] });
  return c;
}

const keys = (s: ReadonlySet<string>) => [...s].sort();

void describe('SelectorCache', () => {
  void it('fills a new selector from the pods it already knows', () => {
    const c = filled();
    assert.deepEqual(keys(c.acquire(anyNs, sel({ app: 'web' })).selected), ['x/web', 'y/web']);
    assert.deepEqual(keys(c.acquire(teamA, SELECT_ALL).selected), ['x/db', 'x/web']);
  });

  void it('keeps one entry per distinct selector, dropped with its last user', () => {
    const c = filled();
    const a = c.acquire(inX, sel({ app: 'web' }));
    const b = c.acquire(inX, sel({ app: 'web' }));
    assert.equal(a, b);
    assert.equal(c.size, 1);
    c.release(a);
    assert.equal(c.size, 1);
    c.release(b);
    assert.equal(c.size, 0);
    assert.throws(() => c.release(a), /released but not held/);
  });

  const cases: {
    name: string;
    change: Parameters<SelectorCache['update']>[0];
    selected: string[];
    touched: boolean;
  }[] = [
    {
      name: 'a new matching pod enters',
      change: { upsert: [pod('x/web2', labels({ app: 'web' }), nsLabels({ team: 'a' }))], remove: [] },
      selected: ['x/web', 'x/web2'],
      touched: true,
    },
    { name: 'a removed pod leaves', change: { upsert: [], remove: ['x/web'] }, selected: [], touched: true },
    {
      name: 'a relabelled pod leaves',
      change: { upsert: [pod('x/web', labels({ app: 'api' }), nsLabels({ team: 'a' }))], remove: [] },
      selected: [],
      touched: true,
    },
    {
      name: 'a selected pod that changed otherwise stays, and touches the selector',
      change: { upsert: [{ ...web, ips: ['10.0.0.9'] }], remove: [] },
      selected: ['x/web'],
      touched: true,
    },
    {
      name: 'a pod turned host-network leaves',
      change: {
        upsert: [pod('x/web', labels({ app: 'web' }), nsLabels({ team: 'a' }), hostNetwork)],
        remove: [],
      },
      selected: [],
      touched: true,
    },
    {
      name: 'a pod whose namespace lost the label leaves',
      change: { upsert: [pod('x/web', labels({ app: 'web' }), nsLabels({}))], remove: [] },
      selected: [],
      touched: true,
    },
    {
      name: 'a change to a pod it never selects does not touch it',
      change: {
        upsert: [
          { ...db, ips: ['10.0.0.8'] },
          { ...other, ips: ['10.0.0.7'] },
        ],
        remove: ['z/gone'],
      },
      selected: ['x/web'],
      touched: false,
    },
  ];
  for (const c of cases) {
    void it(`team-a web pods: ${c.name}`, () => {
      const cache = filled();
      const s = cache.acquire(teamA, sel({ app: 'web' }));
      const touched = cache.update(c.change);
      assert.deepEqual(keys(s.selected), c.selected);
      assert.equal(touched.has(s), c.touched);
    });
  }
});
