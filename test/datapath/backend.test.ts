/**
 * The backend interface and its registry, without a kernel: every registered backend is complete, its
 * compile is pure (a memo never changes the result), and what it reports unsupported names only
 * capabilities its own record says it lacks (otherwise a conformance skip could hide a bug).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BACKEND_NAMES,
  CAPABILITIES,
  CAPABILITY_NAMES,
  DEFAULT_BACKEND,
  allBackends,
  compileNftables,
  formatUnsupported,
  getBackend,
  isBackendName,
  lackReason,
  lacking,
  resolveNodeRules,
} from '../../src/datapath/index.js';
import type { DatapathBackend, NodeRules } from '../../src/datapath/index.js';
import { parseSources } from '../../src/dialects/index.js';
import { buildModel } from '../../src/engine/index.js';
import type { Policy } from '../../src/ir/index.js';
import { hasErrors } from '../../src/ir/index.js';
import { loadCases } from '../support/case-table.js';
import { cluster, netpol, pod, podPeer, rule, tcp } from './support/builders.js';

const EPS = [pod('x', 'a', '10.0.1.1'), pod('x', 'b', '10.0.1.2'), pod('x', 'c', '10.0.1.3')];
const rulesOf = (policies: Policy[]): NodeRules =>
  resolveNodeRules(buildModel(cluster(EPS), policies), 'node-1');

const allowB = netpol('allow-b', 'x', 'a', { ingress: [rule([podPeer('b')], [tcp(80)])] });
const denyAll = netpol('deny', 'x', 'b', {});
/** Rule 1 must subtract rule 0, which has a negation itself. */
const shadowed = netpol('shadow', 'x', 'a', {
  ingress: [rule('any', [tcp(80)], { notPeers: [podPeer('b')] }), rule('any', [tcp(80)], { action: 'Deny' })],
});
const icmpCodeOnly = netpol('icmp', 'x', 'c', {
  ingress: [rule('any', [{ kind: 'icmp', family: 4, code: 3 }])],
});

/** HTTP rules on an allow: steered to the L7 proxy, or reported. */
const httpAllow = netpol('http', 'x', 'b', {
  ingress: [rule([podPeer('a')], [tcp(80)], { l7: { kind: 'http', rules: [{ method: 'GET' }] } })],
});

const SHAPES: readonly { name: string; policies: Policy[] }[] = [
  { name: 'no policy', policies: [] },
  { name: 'an allow and a deny-all', policies: [allowB, denyAll] },
  { name: 'a rule subtracting one with a negation', policies: [shadowed] },
  { name: 'an ICMP code without a type', policies: [icmpCodeOnly] },
  { name: 'an allow with HTTP rules', policies: [httpAllow] },
  { name: 'all of them', policies: [allowB, denyAll, shadowed, icmpCodeOnly, httpAllow] },
];

describe('datapath backend registry', () => {
  it('lists every backend under its own name, the default among them', () => {
    assert.ok(BACKEND_NAMES.length >= 2);
    for (const name of BACKEND_NAMES) assert.equal(getBackend(name).name, name);
    assert.deepEqual(
      allBackends().map((b) => b.name),
      [...BACKEND_NAMES],
    );
    assert.ok(isBackendName(DEFAULT_BACKEND));
    assert.equal(isBackendName('none'), false, '`none` is the absence of a backend, not one');
    assert.equal(isBackendName('toString'), false);
  });

  it('each backend states every capability, and describes itself', () => {
    for (const b of allBackends()) {
      assert.deepEqual(Object.keys(b.capabilities).sort(), [...CAPABILITY_NAMES].sort(), b.name);
      assert.ok(b.description.length > 0);
    }
  });

  it('the iptables baseline lacks what its layout cannot do; nftables lacks nothing', () => {
    const missing = (b: DatapathBackend) => lacking(b, CAPABILITY_NAMES);
    assert.deepEqual(missing(getBackend('iptables')), [
      'strictCut',
      'l7Redirect',
      'incrementalApply',
      'nestedExclusions',
      'icmpCodeWithoutType',
    ]);
    assert.deepEqual(missing(getBackend('nftables')), []);
  });

  it('a skip reason names the backend and each capability it lacks; none when nothing is missing', () => {
    const ipt = getBackend('iptables');
    assert.equal(lackReason(ipt, ['reject', 'tiers']), undefined);
    assert.equal(
      lackReason(ipt, ['tiers', 'strictCut']),
      `iptables lacks strictCut (${CAPABILITIES.strictCut})`,
    );
  });

  for (const b of allBackends()) {
    describe(`${b.name}`, () => {
      for (const shape of SHAPES) {
        it(`${shape.name}: compile is pure and reports only capabilities it lacks`, () => {
          const rules = rulesOf(shape.policies);
          const fresh = b.create().compile(rules);
          const warmed = b.create();
          warmed.compile(rulesOf([allowB, shadowed]));
          assert.deepEqual(warmed.compile(rules), fresh, 'a compiler that compiled before gives the same');
          for (const u of fresh.unsupported) {
            assert.equal(b.capabilities[u.capability], false, `${b.name} claims ${u.capability}`);
            assert.match(formatUnsupported(u), new RegExp(`needs ${u.capability}`));
          }
        });
      }
    });
  }

  it('iptables reports exactly the three shapes it cannot express, by capability', () => {
    const ipt = getBackend('iptables').create();
    const caps = (ps: Policy[]) => ipt.compile(rulesOf(ps)).unsupported.map((u) => u.capability);
    assert.deepEqual(caps([allowB, denyAll]), []);
    assert.deepEqual(caps([shadowed]), ['nestedExclusions']);
    assert.deepEqual(caps([icmpCodeOnly]), ['icmpCodeWithoutType']);
    assert.deepEqual(caps([httpAllow]), ['l7Redirect']);
  });

  it("nftables: the desired state is compileNftables' table, and its size counts it", () => {
    const rules = rulesOf([allowB, denyAll]);
    const c = getBackend('nftables').create().compile(rules);
    const table = compileNftables(rules);
    assert.deepEqual(c.desired, table);
    assert.deepEqual(c.size, {
      chains: table.chains.length,
      sets: table.sets.length,
      maps: table.maps.length,
      elements:
        table.sets.reduce((n, s) => n + s.elements.length, 0) +
        table.maps.reduce((n, m) => n + m.elements.length, 0),
      rules: table.chains.reduce((n, ch) => n + ch.rules.length, 0),
    });
  });

  it('iptables: the size counts its own chains and every rule of both families', () => {
    const c = getBackend('iptables')
      .create()
      .compile(rulesOf([denyAll]));
    assert.equal(c.size.sets + c.size.maps + c.size.elements, 0);
    assert.ok(c.size.chains >= 2 * 5, 'PAL-FORWARD, PAL-INPUT, PAL-DENY, PAL-REJECT, dispatch, per family');
    assert.ok(c.size.rules > 0);
  });

  it('every backend expresses every rule of every case of the case table (the lab proof runs them all)', () => {
    const leftOut: string[] = [];
    for (const c of loadCases()) {
      const { value, diagnostics } = parseSources(c.sources);
      assert.ok(!hasErrors(diagnostics), c.name);
      const model = buildModel(value.cluster, value.policies);
      const nodes = new Set(value.cluster.endpoints.flatMap((e) => (e.node === undefined ? [] : [e.node])));
      for (const b of allBackends()) {
        for (const n of nodes) {
          for (const u of b.create().compile(resolveNodeRules(model, n)).unsupported)
            leftOut.push(`${b.name}, ${c.name}, ${n}: ${formatUnsupported(u)}`);
        }
      }
    }
    assert.deepEqual(leftOut, []);
  });
});
