import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildModel } from '../../src/engine/model.js';
import { DEFAULT_TIERS } from '../../src/engine/pipeline.js';
import type { Tier } from '../../src/ir/index.js';
import { TIER_ORDER } from '../../src/ir/index.js';
import { cluster, hostNetwork, ips, netpol, node, pod, tiered } from './builders.js';

void describe('buildModel', () => {
  const a = pod('x/a', ips('10.0.0.1', 'fd00::0001'));
  const h = pod('x/h', hostNetwork, ips('192.168.0.1'));
  const n1 = node('n1', ['192.168.0.1'], { zone: 'a' });
  const model = buildModel(cluster([a, h], [n1]), [
    netpol('x/b'),
    netpol('x/a'),
    tiered('admin', 'late', 20),
    tiered('admin', 'b-early', 10),
    tiered('admin', 'a-early', 10),
    tiered('nowhere', 'lost', 0),
  ]);

  void it('indexes endpoints by key', () => assert.equal(model.endpointsByKey.get('x/h'), h));
  void it('indexes pod IPs in canonical form', () => assert.equal(model.endpointsByIp.get('fd00::1'), a));
  void it('does not index host-network endpoints by IP (they are their node)', () =>
    assert.equal(model.endpointsByIp.get('192.168.0.1'), undefined));
  void it('indexes nodes by IP and name', () => {
    assert.equal(model.nodesByIp.get('192.168.0.1'), n1);
    assert.equal(model.nodesByName.get('n1'), n1);
  });
  void it('keeps the default tier order', () =>
    assert.deepEqual(
      model.tiers.map((t) => t.tier.name),
      DEFAULT_TIERS.map((t) => t.name),
    ));
  void it('sorts policies by priority then name', () =>
    assert.deepEqual(
      model.tiers[0]?.policies.map((p) => p.ref.name),
      ['a-early', 'b-early', 'late'],
    ));
  void it('sorts same-priority Kubernetes policies by name', () =>
    assert.deepEqual(
      model.tiers[1]?.policies.map((p) => p.ref.name),
      ['a', 'b'],
    ));
  void it('keeps policies of unknown tiers aside', () =>
    assert.deepEqual(
      model.untiered.map((p) => p.ref.name),
      ['lost'],
    ));
  void it('merges declared tiers with the built-in ones, by order then name', () => {
    const tiers: Tier[] = [
      { name: 'c', order: 5, semantics: 'first-match' },
      { name: 'a', order: 60_000, semantics: 'union' },
      { name: 'b', order: 5, semantics: 'first-match' },
    ];
    const m = buildModel(cluster([]), [], tiers);
    assert.deepEqual(
      m.tiers.map((t) => t.tier.name),
      ['b', 'c', 'admin', 'kubernetes', 'a', 'baseline'],
    );
    assert.deepEqual(m.tierConflicts, []);
  });

  void it('keeps the first definition of a tier name and reports conflicting ones', () => {
    const again: Tier = { name: 'kubernetes', order: TIER_ORDER.kubernetes, semantics: 'union' };
    const clash: Tier = { name: 'baseline', order: TIER_ORDER.antreaBaseline, semantics: 'first-match' };
    const twice: Tier = { name: 'sec', order: 7, semantics: 'first-match', dialect: 'antrea' };
    const other: Tier = { name: 'sec', order: 8, semantics: 'first-match', dialect: 'calico' };
    const m = buildModel(cluster([]), [tiered('sec', 'p', 0)], [again, clash, twice, other, twice]);
    assert.deepEqual(
      m.tiers.map((t) => `${t.tier.name}@${t.tier.order}`),
      ['sec@7', 'admin@10000', 'kubernetes@50000', 'baseline@90000'],
    );
    assert.deepEqual(
      m.tierConflicts.map((c) => `${c.name}: kept ${c.kept.order}, dropped ${c.dropped.order}`),
      ['baseline: kept 90000, dropped 89000', 'sec: kept 7, dropped 8'],
    );
    assert.deepEqual(
      m.tiers[0]?.policies.map((p) => p.ref.name),
      ['p'],
    );
    assert.deepEqual(m.untiered, []);
  });

  void it('defaults to the kubernetes semantics and keeps the one asked for', () => {
    assert.equal(buildModel(cluster([]), []).semantics, 'kubernetes');
    assert.equal(buildModel(cluster([]), [], [], { semantics: 'calico' }).semantics, 'calico');
  });
});
