/**
 * The incremental route is exact: across random sequences of cluster edits (pods, namespace labels,
 * nodes, policies, tiers), what a long-lived model builder, node resolver and compiler give for each state
 * equals what buildModel, tryResolveNodeRules and compileNftables give for it from scratch — the model,
 * every node's resolved rules and its nft table. And it is incremental: a change recomputes the endpoints
 * it affects and keeps the others' rules (the same objects). PAL_DP_PROPERTY_RUNS sets the number of runs
 * (default 300).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  compileNftables,
  createNftCompiler,
  createNodeResolver,
  tryResolveNodeRules,
} from '../../../src/datapath/index.js';
import type { NodeRules } from '../../../src/datapath/index.js';
import { UnsupportedSemanticsError } from '../../../src/datapath/compile/endpoint-rules.js';
import { buildModel, createModelBuilder } from '../../../src/engine/index.js';
import { cidrPeer, cluster as oneNode, netpol, node, pod, rule, tcp } from '../support/builders.js';
import { applyClusterEdit, clusterEdit, clusterOf, initialState } from '../../support/arbitrary-edits.js';
import type { ClusterState } from '../../support/arbitrary-edits.js';
import { NODES, endpoints, policy } from '../../support/arbitrary-ir.js';
import type { Policy } from '../../../src/ir/index.js';
import { withHttp } from '../support/l7.js';

const RUNS = Number(process.env['PAL_DP_PROPERTY_RUNS'] ?? 300);

function rulesOf(outcome: ReturnType<typeof tryResolveNodeRules>): NodeRules {
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

describe('incremental model, resolution and compile', () => {
  const equalAfterEdits = (tag: (p: Policy) => Policy, seen = { steered: 0 }) =>
    fc.property(
      endpoints,
      fc.array(policy, { maxLength: 4 }),
      fc.array(clusterEdit, { minLength: 1, maxLength: 10 }),
      (eps, policies, edits) => {
        const builder = createModelBuilder();
        const nodes = NODES.map((n) => ({
          name: n.name,
          resolver: createNodeResolver(n.name),
          compiler: createNftCompiler(),
        }));
        let state: ClusterState = initialState(eps, policies);
        for (const e of [undefined, ...edits]) {
          if (e) state = applyClusterEdit(state, e);
          const c = clusterOf(state);
          const ps = state.policies.map(tag);
          const model = builder.build(c, ps, state.tiers);
          const fresh = buildModel(c, ps, state.tiers);
          const after = `after ${JSON.stringify(e)}`;
          assert.deepStrictEqual(model, fresh, `model ${after}`);
          for (const n of nodes) {
            const got = rulesOf(n.resolver.resolve(model));
            const want = rulesOf(tryResolveNodeRules(fresh, n.name));
            assert.deepStrictEqual(got, want, `rules of ${n.name} ${after}`);
            if (want.l7 !== undefined) seen.steered += 1;
            assert.deepStrictEqual(
              n.compiler.compile(got),
              compileNftables(want),
              `table of ${n.name} ${after}`,
            );
          }
        }
      },
    );

  it('equal the from-scratch model, node rules and table after every edit of a random sequence', () => {
    fc.assert(
      equalAfterEdits((p) => p),
      { numRuns: RUNS },
    );
  });

  it('equal them with HTTP rules on some Allows: L7 steering included', () => {
    const seen = { steered: 0 };
    fc.assert(equalAfterEdits(withHttp, seen), { numRuns: RUNS });
    assert.ok(seen.steered > 0, 'some generated state steers a port');
  });

  const eps = [
    pod('x', 'a', '10.77.0.11'),
    pod('x', 'b', '10.77.0.12'),
    pod('x', 'c', '10.77.0.13'),
    pod('x', 'd', '10.77.0.14', { node: 'node-2' }),
  ];
  const twoNodes = oneNode(eps, [node('node-1', '10.255.0.1'), node('node-2', '10.255.0.2')]);
  const np = (name: string, subject: string, port: number) =>
    netpol(name, 'x', subject, { ingress: [rule([cidrPeer('192.0.2.0/24')], [tcp(port)])] });

  it('keeps the rules of endpoints a policy change does not select, and recomputes those it does', () => {
    const builder = createModelBuilder();
    const resolver = createNodeResolver('node-1');
    const resolve = (ps: ReturnType<typeof np>[]) => rulesOf(resolver.resolve(builder.build(twoNodes, ps)));
    const one = resolve([np('pa', 'a', 80), np('pb', 'b', 80)]);
    const two = resolve([np('pa', 'a', 80), np('pb', 'b', 81)]);
    const byKey = (r: NodeRules, key: string) => r.endpoints.find((e) => e.key === key);
    assert.equal(byKey(two, 'x/a'), byKey(one, 'x/a'), 'x/a is not selected by the changed policy');
    assert.equal(byKey(two, 'x/c'), byKey(one, 'x/c'), 'x/c is selected by no policy');
    assert.notEqual(byKey(two, 'x/b'), byKey(one, 'x/b'), 'x/b is selected by the changed policy');
    const fresh = buildModel(twoNodes, [np('pa', 'a', 80), np('pb', 'b', 81)]);
    assert.deepStrictEqual(two, rulesOf(tryResolveNodeRules(fresh, 'node-1')));
  });

  it('returns the same node rules object when a change touches no endpoint of the node', () => {
    const builder = createModelBuilder();
    const resolver = createNodeResolver('node-2');
    const resolve = (port: number) =>
      rulesOf(resolver.resolve(builder.build(twoNodes, [np('pa', 'a', port)])));
    const one = resolve(80);
    assert.equal(one.endpoints.length, 1, 'x/d is on node-2');
    assert.equal(resolve(81), one);
  });

  it('refuses a model of another semantic profile, as tryResolveNodeRules does', () => {
    const model = buildModel(twoNodes, [], [], { semantics: 'calico' });
    const r = createNodeResolver('node-1').resolve(model);
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.error instanceof UnsupportedSemanticsError);
  });
});
