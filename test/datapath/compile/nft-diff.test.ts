import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compileNftables,
  diffTables,
  fingerprint,
  isEmptyChangeset,
  renderChangeset,
  resolveNodeRules,
} from '../../../src/datapath/index.js';
import type { NftChangeset, NftTable } from '../../../src/datapath/index.js';
import { buildModel } from '../../../src/engine/index.js';
import type { Endpoint, Policy } from '../../../src/ir/index.js';
import { cidrPeer, cluster, netpol, pod, podPeer, rule, tcp } from '../support/builders.js';

const a = pod('x', 'a', '10.0.1.1');
const b = pod('x', 'b', '10.0.1.2');
const c = pod('x', 'c', '10.0.1.3');

function compile(policies: Policy[], endpoints: Endpoint[] = [a, b, c]): NftTable {
  return compileNftables(resolveNodeRules(buildModel(cluster(endpoints), policies), 'node-1'));
}

function summary(cs: NftChangeset): Record<string, string[]> {
  const out: Record<string, string[]> = {
    addSets: cs.addSets.map((s) => s.name.replace(/_.*/, '_*')),
    addChains: cs.addChains.map((ch) => ch.name.replace(/_[0-9a-f]{8}_/, '_*_')),
    replaceChains: cs.replaceChains.map((ch) => ch.name.replace(/_[0-9a-f]{8}_/, '_*_')),
    setElements: cs.setElements.flatMap((d) => [...d.add.map((e) => `+${e}`), ...d.del.map((e) => `-${e}`)]),
    mapElements: cs.mapElements.flatMap((d) => [
      ...d.add.map(([k]) => `+${k}`),
      ...d.del.map((k) => `-${k}`),
    ]),
    deleteChains: cs.deleteChains.map((n) => n.replace(/_[0-9a-f]{8}_/, '_*_')),
    deleteSets: cs.deleteSets.map((n) => n.replace(/_.*/, '_*')),
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v.length > 0));
}

const denyA = netpol('deny', 'x', 'a', {});
const allowBtoA = netpol('allow', 'x', 'a', { ingress: [rule([podPeer('b')], [tcp(80)])] });

describe('diffTables', () => {
  const cases: {
    name: string;
    before: NftTable | undefined;
    after: NftTable;
    want: Record<string, string[]>;
  }[] = [
    {
      name: 'the same state twice: nothing to do',
      before: compile([denyA, allowBtoA]),
      after: compile([denyA, allowBtoA]),
      want: {},
    },
    {
      name: 'a new deny-all: one chain and one dispatch element',
      before: compile([]),
      after: compile([denyA]),
      want: { addChains: ['ing_*_kubernetes'], mapElements: ['+10.0.1.1'] },
    },
    {
      name: 'a new pod matching an existing selector: one set element, no chain touched',
      before: compile([netpol('all', 'x', 'a', { ingress: [rule([podPeer('b')], [tcp(80)])] })]),
      after: compile(
        [netpol('all', 'x', 'a', { ingress: [rule([podPeer('b')], [tcp(80)])] })],
        [a, b, c, pod('x', 'b', '10.0.1.9', { name: 'b2', labels: { pod: 'b' } })],
      ),
      want: { setElements: ['+10.0.1.9 . 6 . 80'] },
    },
    {
      name: 'a port edited in a policy: element delta only',
      before: compile([allowBtoA]),
      after: compile([netpol('allow', 'x', 'a', { ingress: [rule([podPeer('b')], [tcp(8080)])] })]),
      want: { setElements: ['+10.0.1.2 . 6 . 8080', '-10.0.1.2 . 6 . 80'] },
    },
    {
      name: 'an adjacent ipBlock joins the existing element (delete then add)',
      before: compile([netpol('p', 'x', 'a', { ingress: [rule([cidrPeer('192.0.2.0/25')], [tcp(80)])] })]),
      after: compile([
        netpol('p', 'x', 'a', {
          ingress: [rule([cidrPeer('192.0.2.0/25'), cidrPeer('192.0.2.128/25')], [tcp(80)])],
        }),
      ]),
      want: { setElements: ['+192.0.2.0/24 . 6 . 80', '-192.0.2.0/25 . 6 . 80'] },
    },
    {
      name: 'the policy removed: chain, set and dispatch element go',
      before: compile([allowBtoA]),
      after: compile([]),
      want: { mapElements: ['-10.0.1.1'], deleteChains: ['ing_*_kubernetes'], deleteSets: ['allow_*'] },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const cs = diffTables(c.before && fingerprint(c.before), c.after);
      assert.deepEqual(summary(cs), c.want);
      assert.equal(isEmptyChangeset(cs), Object.keys(c.want).length === 0);
    });
  }

  it('orders the transaction: create, element deletes before adds, flush before delete', () => {
    const before = compile([
      netpol('p', 'x', 'a', { ingress: [rule([cidrPeer('192.0.2.0/25')], [tcp(80)])] }),
      netpol('r', 'x', 'c', { ingress: [rule([cidrPeer('192.0.2.0/24')], [tcp(80)])] }),
    ]);
    const after = compile([
      netpol('p', 'x', 'a', { ingress: [rule([cidrPeer('192.0.2.0/24')], [tcp(80)])] }),
      netpol('q', 'x', 'b', { ingress: [rule([cidrPeer('192.0.2.0/24')], [tcp(80)])] }),
    ]);
    const lines = renderChangeset(diffTables(fingerprint(before), after))
      .split('\n')
      .filter((l) => !/^\s|^}/.test(l));
    const verbs = lines.map((l) => l.split(' ').slice(0, 2).join(' '));
    const first = (v: string): number => verbs.indexOf(v);
    const last = (v: string): number => verbs.lastIndexOf(v);
    assert.ok(first('add chain') < first('add rule'));
    assert.ok(first('delete element') < last('add element'));
    assert.ok(first('flush chain') < first('delete chain'));
    assert.ok(last('add rule') < first('delete set'));
  });

  it('a fresh table starts with `add table`', () => {
    assert.match(renderChangeset(diffTables(undefined, compile([]))), /^add table inet palisade\n/);
  });
});
