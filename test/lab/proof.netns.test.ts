// Needs root, `ip netns` and nft (and each backend's tools, else that backend is skipped by name):
// enforces policies in a netns lab and probes them.
//
// The proof, once per backend of the registry (src/datapath/registry.ts): for every case of the semantic
// case table and for hundreds of generated policy sets, the matrix measured with real packets through the
// backend equals the engine's computed matrix cell for cell (and, for the case table, the hand-written
// expected table). A case whose rules a backend left out for a capability its record lacks is skipped with
// the capability's name; one left out under a capability it claims fails (test/support/backends.ts). One lab
// per routing mode is reused across all of them, so swapping policy sets exercises the datapath's diff, and
// switching backends the teardown of the one before. Knobs (env): PAL_PROOF_RUNS (generated sets per mode on
// the default backend, default 200), PAL_PROOF_OTHER_RUNS (generated sets per mode on every other backend,
// default 20: 200 sets take ~3 min per mode and backend on CI's 2 cores; the case table runs whole on every
// backend, the generated sets in full on the default one only, which keeps the CI run well inside its
// budget), PAL_PROOF_SEED, PAL_PROOF_TIMEOUT_MS (default 400).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Protocol } from '../../src/ir/endpoint.js';
import { endpointKey } from '../../src/ir/endpoint.js';
import { BACKEND_NAMES, DEFAULT_BACKEND, getBackend } from '../../src/datapath/index.js';
import type { DatapathBackend } from '../../src/datapath/index.js';
import type { DatapathKind, EnforceReport, PolicyInput } from '../../src/lab/enforce.js';
import { enforceLab } from '../../src/lab/enforce.js';
import { labDown } from '../../src/lab/fabric.js';
import type { Lab } from '../../src/lab/lab.js';
import { labUp } from '../../src/lab/lab.js';
import type { Routing } from '../../src/lab/topology.js';
import { policySet, toYaml } from '../support/arbitrary-netpol.js';
import { backendUnavailable, skipIfUnsupported, skipUnless } from '../support/backends.js';
import { loadCases } from '../support/case-table.js';
import type { Proof, ProofOptions } from './proof-support.js';
import {
  formatEnforce,
  labCannot,
  labSkipReason,
  assertLabGone,
  load,
  newLabId,
  nftTables,
  prove,
  unionCluster,
} from './proof-support.js';

const skip = await labSkipReason();

const env = process.env;
const RUNS = Number(env['PAL_PROOF_RUNS'] ?? 200);
const OTHER_RUNS = Math.min(RUNS, Number(env['PAL_PROOF_OTHER_RUNS'] ?? 20));
const runsOn = (b: DatapathBackend): number => (b.name === DEFAULT_BACKEND ? RUNS : OTHER_RUNS);
const SEED = Number(env['PAL_PROOF_SEED'] ?? Date.now() % 2 ** 31);
const OPTS: ProofOptions = {
  timeoutMs: Number(env['PAL_PROOF_TIMEOUT_MS'] ?? 400),
  confirmMs: 3000,
  concurrency: 512,
};
/** Bounds of one mode's generated runs, so a slow machine fails rather than running for an hour. */
const PROPERTY_LIMIT_MS = 8 * 60_000;

const cases = loadCases().map((c) => {
  const loaded = load(c.sources);
  return { c, loaded, skip: labCannot(loaded) };
});
const runnable = cases.filter((x) => x.skip === undefined);
/** Every pod any runnable case declares (cluster-xyz plus host/h): one lab serves them all. */
const LAB_CLUSTER = unionCluster(runnable.map((x) => x.loaded.cluster));
const XYZ = runnable.find((x) => x.c.sources[0]?.file === 'cluster-xyz.yaml');
const XYZ_SOURCE = XYZ?.c.sources[0];
const XYZ_PODS = (XYZ ? load([XYZ.c.sources[0] ?? { file: '-', text: '' }]).cluster.endpoints : [])
  .map(endpointKey)
  .sort();
const ALL_TARGETS: { port: number; protocol: Protocol }[] = [80, 81].flatMap((port) =>
  (['TCP', 'UDP', 'SCTP'] as const).map((protocol) => ({ port, protocol })),
);

function failure(what: string, proof: Proof, report: EnforceReport): string {
  return `${what}: ${proof.mismatches.length} mismatching cells (enforce: ${formatEnforce(report)})\n\n${proof.mismatches.slice(0, 8).join('\n\n')}`;
}

interface Tally {
  runs: number;
  /** Runs skipped because the backend left rules out for a capability it lacks (never proven). */
  leftOut: number;
  probes: number;
  denied: number;
  slow: number;
  enforceMs: number[];
  /** Enforce plus probe, summed over runs. */
  wallMs: number;
}
const tally = (): Tally => ({ runs: 0, leftOut: 0, probes: 0, denied: 0, slow: 0, enforceMs: [], wallMs: 0 });
/** Every rule each node left out, for skipIfUnsupported. */
const leftOutOf = (report: EnforceReport) => report.nodes.flatMap((n) => n.unsupported);

function count(t: Tally, startedAt: number, report: EnforceReport, proof: Proof): void {
  t.runs++;
  t.probes += proof.probes;
  t.denied += proof.denied;
  t.slow += proof.slow;
  t.wallMs += Date.now() - startedAt;
  t.enforceMs.push(report.ms);
}
function summary(label: string, t: Tally): string {
  const sorted = [...t.enforceMs].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  return (
    `# ${label}: ${t.runs} policy sets${t.leftOut > 0 ? ` (${t.leftOut} more left out: lacking capabilities)` : ''} in ${(t.wallMs / 1000).toFixed(1)} s, ` +
    `${t.probes} probes (${t.denied} denied, ${t.slow} needed a second look), enforce median ${median} ms / max ` +
    `${sorted[sorted.length - 1] ?? 0} ms (all nodes, in parallel)`
  );
}

for (const routing of ['native', 'vxlan'] as Routing[]) {
  void describe(`proof on a ${routing} lab: probe == analyzer == case table, per backend`, { skip }, () => {
    let lab: Lab | undefined;
    let rootTables: string[] = [];
    let suiteStarted = Date.now();
    /** The backend enforced last (none: undefined), whose state down() must find and remove. */
    let last: DatapathBackend | undefined;
    before(async () => {
      suiteStarted = Date.now();
      // Leftovers of killed runs (any lab whose owner died) go first; live labs of others stay.
      await labDown({ stale: true });
      rootTables = await nftTables();
      const t = Date.now();
      lab = await labUp({ ...LAB_CLUSTER, routing }, { id: newLabId() });
      console.log(`# ${routing}: lab ${lab.id} up in ${Date.now() - t} ms (${lab.pods.length} pods)`);
    });
    after(async () => {
      await lab?.down();
      console.log(`# ${routing}: whole suite ${((Date.now() - suiteStarted) / 1000).toFixed(1)} s`);
    });
    const up = (): Lab => {
      assert.ok(lab, 'lab is up');
      return lab;
    };
    const enforce = async (input: PolicyInput, datapath: DatapathKind): Promise<EnforceReport> => {
      last = undefined;
      const report = await enforceLab(up(), input, { datapath });
      last = datapath === 'none' ? undefined : getBackend(datapath);
      return report;
    };

    for (const b of BACKEND_NAMES) {
      const backend = getBackend(b);
      const unavailable = backendUnavailable(backend);

      const table = tally();
      for (const { c, loaded, skip: why } of cases) {
        void it(`${b}: ${c.name}`, { skip: why ?? unavailable }, async (tc) => {
          const t = Date.now();
          const report = await enforce(loaded, b);
          if (skipIfUnsupported(tc, backend, leftOutOf(report))) {
            table.leftOut++;
            return;
          }
          const proof = await prove(up(), report, c.targets, c.pods, OPTS, c.expected);
          count(table, t, report, proof);
          assert.equal(proof.mismatches.length, 0, failure(`${b} case ${c.name}`, proof, report));
        });
      }
      // Each case asserts its own cells; this asserts the table as a whole ran, so that a case table that
      // loads nothing, or cases the lab can no longer run, fail instead of passing with nothing proven.
      void it(
        `${b}: case table summary: every runnable case was enforced and probed, allowed and denied`,
        { skip: unavailable },
        () => {
          console.log(summary(`${routing} ${b} case table`, table));
          assert.ok(runnable.length > 0, 'the case table has cases this lab can run');
          assert.ok(table.runs > 0, `${b} proved some case of the table`);
          assert.equal(
            table.runs + table.leftOut,
            runnable.length,
            'cases that did not reach their probe (see their failures)',
          );
          assert.ok(
            table.denied > 0 && table.denied < table.probes,
            'probes saw both allowed and denied cells',
          );
        },
      );

      void it(
        `${b}: re-enforcing the same policy set sends nothing; swapping sends only the difference`,
        { skip: skipUnless(backend, ['incrementalApply']) },
        async () => {
          const a = runnable.find((x) => x.c.name === 'deny-all-ingress-in-x');
          const c = runnable.find((x) => x.c.name === 'allow-same-namespace');
          assert.ok(a && c);
          await enforce(a.loaded, b);
          const again = await enforce(a.loaded, b);
          assert.deepEqual(
            again.nodes.map((n) => n.changed),
            again.nodes.map(() => false),
          );
          const swapped = await enforce(c.loaded, b);
          assert.ok(swapped.nodes.every((n) => n.changed));
          // Both select every pod of x for ingress: the x pods' chains stay, only what they match changes.
          // In every backend's terms (what the apply touched), and in nftables' changeset counts.
          assert.ok(
            swapped.nodes.every(
              (n) =>
                n.touched.chains.length <= 1 &&
                (n.changes['addChains'] ?? 0) === 0 &&
                (n.changes['deleteChains'] ?? 0) === 0 &&
                (n.changes['replaceChains'] ?? 0) <= 1,
            ),
            formatEnforce(swapped),
          );
          console.log(`# ${routing} ${b}: ${a.c.name} -> ${c.c.name}: ${formatEnforce(swapped)}`);
        },
      );

      void it(
        `${b}: the proof can fail: with no datapath, a deny-all case measures what the analyzer denies`,
        { skip: unavailable },
        async (tc) => {
          const c = runnable.find((x) => x.c.name === 'deny-all-ingress-in-x');
          assert.ok(c);
          if (skipIfUnsupported(tc, backend, leftOutOf(await enforce(c.loaded, b)))) return;
          const report = await enforce(c.loaded, 'none');
          assert.ok(
            report.nodes.every((n) => n.changed),
            `the state of ${b} was removed`,
          );
          const proof = await prove(up(), report, c.c.targets, c.c.pods, OPTS, c.c.expected);
          const denied = c.c.expected.filter((x) => !x.allowed).length;
          assert.ok(denied > 0);
          assert.equal(proof.mismatches.length, denied, 'every cell the policy denies is a mismatch');
        },
      );

      const runs = runsOn(backend);
      void it(
        `${b}: ${runs} generated policy sets (seed ${SEED}), probe == analyzer`,
        { skip: unavailable },
        async () => {
          assert.ok(XYZ_SOURCE, 'the case table has a cluster-xyz case');
          console.log(
            `# ${routing} ${b}: fast-check seed ${SEED}, ${runs} runs (PAL_PROOF_SEED=${SEED} replays)`,
          );
          const generated = tally();
          // The datapath applies each set as a diff from the one before, so a failure names both.
          let previous = '(none: first run)';
          await fc.assert(
            fc.asyncProperty(policySet, async (objects) => {
              const t = Date.now();
              const text = toYaml(objects);
              const loaded = load([XYZ_SOURCE, { file: 'generated.yaml', text }]);
              const report = await enforce(loaded, b);
              const before = previous;
              previous = text;
              const unsupported = leftOutOf(report);
              if (unsupported.length > 0) {
                // Left out under a claimed capability: a bug (throws); under a lacking one: not provable.
                assert.deepEqual(
                  unsupported.filter((u) => backend.capabilities[u.capability]),
                  [],
                  `${b} left out rules under capabilities its record claims:\n${text}`,
                );
                generated.leftOut++;
                return;
              }
              const proof = await prove(up(), report, ALL_TARGETS, XYZ_PODS, OPTS);
              count(generated, t, report, proof);
              if (proof.mismatches.length > 0) {
                const message =
                  `${failure(`${routing} ${b}, seed ${SEED}, run ${generated.runs}`, proof, report)}\n\n` +
                  `policies:\n${text}\npolicies of the run before (the diff started there):\n${before}`;
                console.log(message.replace(/^/gm, '# '));
                throw new Error(message);
              }
            }),
            {
              numRuns: runs,
              seed: SEED,
              // Shrinking re-runs the lab hundreds of times; the seed and the printed policies suffice.
              endOnFailure: true,
              includeErrorInReport: true,
              interruptAfterTimeLimit: PROPERTY_LIMIT_MS,
              markInterruptAsFailure: true,
            },
          );
          console.log(summary(`${routing} ${b} generated`, generated));
          assert.ok(runs === 0 || generated.runs > 0, `${b} proved some generated set`);
        },
      );
    }

    void it('down() leaves no netns, link, nft table, process or state of the lab', async () => {
      const l = up();
      const enforced = last;
      assert.ok(enforced, 'a backend enforced last');
      const perNode = await Promise.all(
        l.plan.nodes.map((n) => enforced.create({ netns: n.netns }).readBack()),
      );
      assert.ok(
        perNode.every((k) => k !== undefined && k.size.chains > 0),
        `each node netns held the state of ${enforced.name}, the backend enforced last: ${JSON.stringify(perNode)}`,
      );
      await l.down();
      await assertLabGone(l, rootTables);
    });
  });
}
