import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CAPABILITIES, TARGETS, kindFact } from '../../../src/engine/lint/index.js';
import type { Fact } from '../../../src/engine/lint/index.js';

function facts(value: unknown, at: string): [string, Fact][] {
  if (typeof value !== 'object' || value === null) return [];
  if ('support' in value && 'source' in value) return [[at, value as Fact]];
  return Object.entries(value).flatMap(([k, v]) => facts(v, `${at}.${k}`));
}

describe('capability table', () => {
  it('covers every target, and every fact says where it comes from', () => {
    assert.deepEqual(Object.keys(CAPABILITIES).sort(), [...TARGETS].sort());
    for (const target of TARGETS) {
      for (const [at, fact] of facts(CAPABILITIES[target], target)) {
        assert.ok(fact.source.trim().length > 0, `${at}: empty source`);
        if (fact.support === 'conditional')
          assert.ok(fact.note, `${at}: a conditional fact must say the condition`);
      }
    }
  });

  it('reads NetworkPolicy everywhere but flannel; CNI CRDs only on their own CNI', () => {
    for (const target of TARGETS) {
      const np = kindFact(CAPABILITIES[target], 'kubernetes', 'NetworkPolicy').support;
      assert.equal(np === 'no', target === 'flannel', target);
      assert.equal(
        kindFact(CAPABILITIES[target], 'cilium', 'CiliumNetworkPolicy').support === 'yes',
        target === 'cilium',
      );
      assert.equal(
        kindFact(CAPABILITIES[target], 'calico', 'GlobalNetworkPolicy').support === 'yes',
        target === 'calico',
      );
      assert.equal(
        kindFact(CAPABILITIES[target], 'antrea', 'AntreaClusterNetworkPolicy').support === 'yes',
        target === 'antrea',
      );
    }
    assert.equal(kindFact(CAPABILITIES.flannel, 'kubernetes', 'NetworkPolicy').support, 'no');
    assert.equal(CAPABILITIES.flannel.enforcement.support, 'no');
  });

  it('AdminNetworkPolicy needs an implementation: conditional on Calico and Antrea, absent elsewhere', () => {
    const anp = (t: (typeof TARGETS)[number]) =>
      kindFact(CAPABILITIES[t], 'admin-network-policy', 'AdminNetworkPolicy').support;
    assert.deepEqual(
      TARGETS.map((t) => [t, anp(t)]),
      [
        ['calico', 'conditional'],
        ['cilium', 'no'],
        ['antrea', 'conditional'],
        ['kube-router', 'no'],
        ['weave', 'no'],
        ['flannel', 'no'],
        ['kubernetes', 'no'],
      ],
    );
  });
});
