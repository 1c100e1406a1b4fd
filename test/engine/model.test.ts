import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildModel } from '../../src/engine/model.js';
import { DEFAULT_TIERS } from '../../src/engine/pipeline.js';
import type { Tier } from '../../src/ir/index.js';
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
  void it('orders tiers by their order field, ties by list position', () => {
    const tiers: Tier[] = [
      { name: 'c', order: 5, semantics: 'first-match' },
      { name: 'a', order: 1, semantics: 'union' },
      { name: 'b', order: 5, semantics: 'first-match' },
    ];
    assert.deepEqual(
      buildModel(cluster([]), [], tiers).tiers.map((t) => t.tier.name),
      ['a', 'c', 'b'],
    );
  });
});
