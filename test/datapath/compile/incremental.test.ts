/**
 * The incremental compiler is exact: across random sequences of policy and pod edits, what a long-lived
 * `createNftCompiler()` returns for each state equals a from-scratch `compileNftables` of that state, on
 * every node. No root needed. PAL_DP_PROPERTY_RUNS sets the number of runs (default 300).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compileNftables, createNftCompiler, resolveNodeRules } from '../../../src/datapath/index.js';
import type { NftTable } from '../../../src/datapath/index.js';
import { buildModel } from '../../../src/engine/index.js';
import { cluster } from '../../engine/builders.js';
import { DECLARED, NODES, endpoints, policy } from '../../support/arbitrary-ir.js';
import { applyEdit, edit } from '../support/edits.js';
import type { State } from '../support/edits.js';
import { cidrPeer, cluster as oneNode, netpol, pod, rule, tcp } from '../support/builders.js';
import { withHttp } from '../support/l7.js';

const RUNS = Number(process.env['PAL_DP_PROPERTY_RUNS'] ?? 300);

describe('incremental nftables compile', () => {
  it('equals a from-scratch compile after every edit of a random sequence', () => {
    fc.assert(
      fc.property(
        endpoints,
        fc.array(policy, { maxLength: 4 }),
        fc.array(edit, { minLength: 1, maxLength: 8 }),
        (eps, policies, edits) => {
          const compilers = new Map(NODES.map((n) => [n.name, createNftCompiler()]));
          let state: State = { endpoints: eps, policies };
          for (const e of [undefined, ...edits]) {
            if (e) state = applyEdit(state, e);
            const model = buildModel(cluster(state.endpoints, NODES), state.policies, DECLARED);
            for (const n of NODES) {
              const rules = resolveNodeRules(model, n.name);
              const got: NftTable | undefined = compilers.get(n.name)?.compile(rules);
              assert.deepEqual(got, compileNftables(rules), `node ${n.name} after ${JSON.stringify(e)}`);
            }
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('equals a from-scratch compile with HTTP rules on some Allows (L7 steering) after every edit', () => {
    fc.assert(
      fc.property(
        endpoints,
        fc.array(policy, { maxLength: 4 }),
        fc.array(edit, { minLength: 1, maxLength: 8 }),
        (eps, policies, edits) => {
          const compilers = new Map(NODES.map((n) => [n.name, createNftCompiler()]));
          let state: State = { endpoints: eps, policies };
          for (const e of [undefined, ...edits]) {
            if (e) state = applyEdit(state, e);
            const model = buildModel(cluster(state.endpoints, NODES), state.policies.map(withHttp), DECLARED);
            for (const n of NODES) {
              const rules = resolveNodeRules(model, n.name);
              const got: NftTable | undefined = compilers.get(n.name)?.compile(rules);
              assert.deepEqual(got, compileNftables(rules), `node ${n.name} after ${JSON.stringify(e)}`);
            }
          }
        },
      ),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });

  it("recompiles a changed rule's set even though its definition (and so its name) stays the same", () => {
    const eps = [pod('x', 'a', '10.77.0.11'), pod('x', 'b', '10.77.0.12')];
    const np = (cidr: string) => netpol('p', 'x', 'a', { ingress: [rule([cidrPeer(cidr)], [tcp(80)])] });
    const compiler = createNftCompiler();
    const compile = (cidr: string) =>
      compiler.compile(resolveNodeRules(buildModel(oneNode(eps), [np(cidr)]), 'node-1'));
    const one = compile('192.0.2.0/24');
    const two = compile('198.51.100.0/24');
    assert.deepEqual(
      two.sets.map((s) => s.name),
      one.sets.map((s) => s.name),
    );
    assert.notDeepEqual(two.sets, one.sets);
    assert.deepEqual(
      two,
      compileNftables(resolveNodeRules(buildModel(oneNode(eps), [np('198.51.100.0/24')]), 'node-1')),
    );
  });
});
