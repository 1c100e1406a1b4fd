import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { buildModel, createModelBuilder } from '../../src/engine/model.js';
import { DEFAULT_TIERS } from '../../src/engine/pipeline.js';
import type { Tier } from '../../src/ir/index.js';
import { TIER_ORDER } from '../../src/ir/index.js';
import { applyClusterEdit, clusterEdit, clusterOf, initialState } from '../support/arbitrary-edits.js';
import { endpoints, policy } from '../support/arbitrary-ir.js';
import { cidr, cluster, hostNetwork, ingress, ips, netpol, node, pod, rule, tiered } from './builders.js';

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

void describe('createModelBuilder', () => {
  void it('builds what buildModel builds, after every edit of a random sequence', () => {
    fc.assert(
      fc.property(
        endpoints,
        fc.array(policy, { maxLength: 4 }),
        fc.array(clusterEdit, { minLength: 1, maxLength: 10 }),
        (eps, policies, edits) => {
          const builder = createModelBuilder();
          let state = initialState(eps, policies);
          for (const e of [undefined, ...edits]) {
            if (e) state = applyClusterEdit(state, e);
            const c = clusterOf(state);
            assert.deepStrictEqual(
              builder.build(c, state.policies, state.tiers),
              buildModel(c, state.policies, state.tiers),
              `after ${JSON.stringify(e)}`,
            );
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  const withCidr = (name: string, block: string) =>
    netpol(`x/${name}`, ingress(rule('Allow', [cidr(block)])));

  void it('keeps its CIDR index while a change adds and removes no CIDR text', () => {
    const builder = createModelBuilder();
    const a = withCidr('a', '192.0.2.0/24');
    const one = builder.build(cluster([]), [a, withCidr('b', '198.51.100.0/24')]);
    const two = builder.build(cluster([]), [a, withCidr('b2', '198.51.100.0/24')]);
    assert.equal(two.cidrs, one.cidrs);
    const three = builder.build(cluster([]), [a]);
    assert.notEqual(three.cidrs, one.cidrs);
    assert.deepEqual([...three.cidrs.keys()], ['192.0.2.0/24']);
    assert.deepEqual([...one.cidrs.keys()].sort(), ['192.0.2.0/24', '198.51.100.0/24']);
  });

  void it('never changes a model it returned', () => {
    const builder = createModelBuilder();
    const a = withCidr('a', '192.0.2.0/24');
    const one = builder.build(cluster([]), [a]);
    const copy = structuredClone(one);
    builder.build(cluster([]), [withCidr('b', '198.51.100.0/24')]);
    assert.deepStrictEqual(one, copy);
  });
});
