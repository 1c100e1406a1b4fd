/**
 * `node dist/bench/change.js`: CPU time of the "change one policy" path without the kernel — model,
 * per-node resolution and nftables compile, as `enforceLab` (lab, `bench datapath`) and the agent run them
 * before the applier. A script, not a test: it prints figures and checks nothing.
 *
 * Shapes:
 * - `bench`: what `palisade bench datapath` enforces at N rules (src/lab/bench/rules.ts: N ipBlock entries
 *   on the server in policies of 1000, one small policy on an idle pod; 2 nodes, 4 pods); a change edits
 *   the small policy, both nodes are recompiled (enforceLab does every node).
 * - `synthetic`: bench/synthetic-cluster.ts at PODSxPOLICIES over 10 nodes; a change edits the port of one
 *   policy's first rule; one node is recompiled (an agent's share).
 *
 * Usage: node dist/bench/change.js [--shape bench|synthetic] [--size N|PODSxPOLICIES] [--changes K]
 *        [--path scratch|incremental] [--check]
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createNftCompiler, createNodeResolver, resolveNodeRules } from '../src/datapath/index.js';
import type { NftCompiler, NftTable } from '../src/datapath/index.js';
import { buildModel, createModelBuilder } from '../src/engine/index.js';
import type { Cluster, Endpoint, Policy } from '../src/ir/index.js';
import { percentile } from '../src/lab/bench/stats.js';
import {
  BENCH_NAMESPACE,
  IDLE_LABELS,
  SERVER_LABELS,
  ruleManifests,
  smallPolicyManifest,
  toPolicies,
} from '../src/lab/bench/rules.js';
import { syntheticCluster } from './synthetic-cluster.js';

interface Scenario {
  readonly cluster: Cluster;
  readonly nodes: readonly string[];
  /** The policy set at revision `rev`; consecutive revisions differ in one policy. */
  policies(rev: number): readonly Policy[];
}

function benchScenario(n: number): Scenario {
  const nsLabels = { 'kubernetes.io/metadata.name': BENCH_NAMESPACE };
  const pod = (name: string, node: string, ip: string, labels: Record<string, string>): Endpoint => ({
    namespace: BENCH_NAMESPACE,
    name,
    labels,
    namespaceLabels: nsLabels,
    node,
    ips: [ip],
    ports: [],
    hostNetwork: false,
  });
  const cluster: Cluster = {
    namespaces: [{ name: BENCH_NAMESPACE, labels: nsLabels }],
    nodes: [
      { name: 'node-a', labels: {}, ips: ['10.99.0.1'], podCIDRs: [] },
      { name: 'node-b', labels: {}, ips: ['10.99.0.2'], podCIDRs: [] },
    ],
    endpoints: [
      pod('server', 'node-a', '10.98.0.2', SERVER_LABELS),
      pod('idle', 'node-a', '10.98.0.3', IDLE_LABELS),
      pod('client-same', 'node-a', '10.98.0.4', { app: 'pal-bench-client' }),
      pod('client-cross', 'node-b', '10.98.1.2', { app: 'pal-bench-client' }),
    ],
  };
  // As run.ts: the N entries are converted once; a change swaps only the small policy.
  const fixed = toPolicies(ruleManifests({ n, clients: ['10.98.0.4', '10.98.1.2'] }));
  return {
    cluster,
    nodes: ['node-a', 'node-b'],
    policies: (rev) => [...fixed, ...toPolicies([smallPolicyManifest(rev)])],
  };
}

function syntheticScenario(pods: number, count: number): Scenario {
  const { cluster, policies } = syntheticCluster(pods, count);
  const nodes = Array.from({ length: 10 }, (_, i) => ({
    name: `node-${i}`,
    labels: {},
    ips: [`10.250.0.${i + 1}`],
    podCIDRs: [],
  }));
  const at = Math.floor(policies.length / 2);
  const base = policies[at] as Policy;
  return {
    cluster: { ...cluster, nodes },
    nodes: ['node-0'],
    policies: (rev) => {
      const first = base.ingress[0];
      if (first === undefined) return policies;
      const edited: Policy = {
        ...base,
        ingress: [
          {
            ...first,
            ports: [{ kind: 'range', protocol: 'TCP', from: 9000 + (rev % 1000), to: 9000 + (rev % 1000) }],
          },
          ...base.ingress.slice(1),
        ],
      };
      return policies.map((p, i) => (i === at ? edited : p));
    },
  };
}

/** One route from (cluster, policies) to every node's table, keeping whatever it keeps between calls. */
type Route = (cluster: Cluster, policies: readonly Policy[]) => NftTable[];

function scratchRoute(nodes: readonly string[]): Route {
  // Today's enforceLab: a fresh model and resolution every time, a long-lived compiler per node.
  const compilers = new Map<string, NftCompiler>(nodes.map((n) => [n, createNftCompiler()]));
  return (cluster, policies) => {
    const model = buildModel(cluster, policies);
    return nodes.map((node) => (compilers.get(node) as NftCompiler).compile(resolveNodeRules(model, node)));
  };
}

function incrementalRoute(nodes: readonly string[]): Route {
  // What enforceLab and the agent keep between changes: a model builder, a resolver and a compiler per node.
  const builder = createModelBuilder();
  const perNode = nodes.map((n) => ({ resolver: createNodeResolver(n), compiler: createNftCompiler() }));
  return (cluster, policies) => {
    const model = builder.build(cluster, policies);
    return perNode.map(({ resolver, compiler }) => {
      const r = resolver.resolve(model);
      if (!r.ok) throw r.error;
      return compiler.compile(r.value);
    });
  };
}

const ROUTES: Record<string, (nodes: readonly string[]) => Route> = {
  scratch: scratchRoute,
  incremental: incrementalRoute,
};

const { values } = parseArgs({
  options: {
    shape: { type: 'string', default: 'bench' },
    size: { type: 'string' },
    changes: { type: 'string', default: '30' },
    path: { type: 'string', default: 'scratch' },
    check: { type: 'boolean', default: false },
  },
});
const shape = values.shape;
const size = values.size ?? (shape === 'bench' ? '10000' : '5000x2000');
let scenario: Scenario;
if (shape === 'bench') scenario = benchScenario(Number(size));
else if (shape === 'synthetic') {
  const [p, q] = size.split('x').map(Number);
  if (!p || !q) throw new Error(`bad size ${size}: expected PODSxPOLICIES, e.g. 5000x2000`);
  scenario = syntheticScenario(p, q);
} else throw new Error(`unknown shape ${shape}: bench or synthetic`);
const makeRoute = ROUTES[values.path];
if (makeRoute === undefined)
  throw new Error(`unknown path ${values.path}: ${Object.keys(ROUTES).join(', ')}`);
const changes = Number(values.changes);

const route = makeRoute(scenario.nodes);
const t0 = performance.now();
route(scenario.cluster, scenario.policies(0));
const programMs = performance.now() - t0;
// Policy sets are built outside the clock, as the bench converts manifests outside its timings.
const sets = Array.from({ length: changes }, (_, i) => scenario.policies(i + 1));
const samples: number[] = [];
// --check: after every timed change, a from-scratch compile of the same state must give the same tables.
const oracle = values.check ? scratchRoute(scenario.nodes) : undefined;
for (const policies of sets) {
  const started = performance.now();
  const tables = route(scenario.cluster, policies);
  samples.push(performance.now() - started);
  if (oracle) assert.deepStrictEqual(tables, oracle(scenario.cluster, policies));
}
const sorted = [...samples].sort((a, b) => a - b);
const f = (x: number | undefined): string => (x ?? NaN).toFixed(1);
const p = (q: number): string => f(percentile(samples, q));
console.log(
  `${shape} ${size} path=${values.path} program_ms=${f(programMs)} changes=${changes} ` +
    `change_ms median=${p(50)} p10=${p(10)} p90=${p(90)} min=${f(sorted[0])} max=${f(sorted.at(-1))}`,
);
