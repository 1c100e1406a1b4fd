// Needs root, `ip netns`, nft and iptables-restore: enforces policies in a netns lab and probes them.
//
// The proof: for every case of the semantic case table and for hundreds of generated policy sets, the
// matrix measured with real packets through the nftables datapath equals the engine's computed matrix
// cell for cell (and, for the case table, the hand-written expected table). One lab per routing mode is
// reused across all of them, so swapping policy sets exercises the datapath's diff. Knobs (env):
// PAL_PROOF_RUNS (generated sets per mode, default 200), PAL_PROOF_SEED, PAL_PROOF_TIMEOUT_MS (default 400).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Protocol } from '../../src/ir/endpoint.js';
import { endpointKey } from '../../src/ir/endpoint.js';
import type { EnforceReport } from '../../src/lab/enforce.js';
import { enforceLab } from '../../src/lab/enforce.js';
import { labDown } from '../../src/lab/fabric.js';
import type { Lab } from '../../src/lab/lab.js';
import { labUp } from '../../src/lab/lab.js';
import type { Routing } from '../../src/lab/topology.js';
import { policySet, toYaml } from '../support/arbitrary-netpol.js';
import { loadCases } from '../support/case-table.js';
import type { Proof, ProofOptions } from './proof-support.js';
import {
  formatEnforce,
  hasTool,
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
const iptablesSkip = skip || (!hasTool('iptables-restore') ? 'iptables-restore is not installed' : false);

const env = process.env;
const RUNS = Number(env['PAL_PROOF_RUNS'] ?? 200);
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
  probes: number;
  denied: number;
  slow: number;
  enforceMs: number[];
  /** Enforce plus probe, summed over runs. */
  wallMs: number;
}
const tally = (): Tally => ({ runs: 0, probes: 0, denied: 0, slow: 0, enforceMs: [], wallMs: 0 });
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
    `# ${label}: ${t.runs} policy sets in ${(t.wallMs / 1000).toFixed(1)} s, ` +
    `${t.probes} probes (${t.denied} denied, ${t.slow} needed a second look), enforce median ${median} ms / max ` +
    `${sorted[sorted.length - 1] ?? 0} ms (all nodes, in parallel)`
  );
}

for (const routing of ['native', 'vxlan'] as Routing[]) {
  void describe(`proof on a ${routing} lab: probe == analyzer == case table`, { skip }, () => {
    let lab: Lab | undefined;
    let rootTables: string[] = [];
    let suiteStarted = Date.now();
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

    const table = tally();
    for (const { c, loaded, skip: why } of cases) {
      void it(`nftables: ${c.name}`, { skip: why ?? false }, async () => {
        const t = Date.now();
        const report = await enforceLab(up(), loaded, { datapath: 'nftables' });
        const proof = await prove(up(), report, c.targets, c.pods, OPTS, c.expected);
        count(table, t, report, proof);
        assert.equal(proof.mismatches.length, 0, failure(`case ${c.name}`, proof, report));
      });
    }
    // Each case asserts its own cells; this asserts the table as a whole ran, so that a case table that
    // loads nothing, or cases the lab can no longer run, fail instead of passing with nothing proven.
    void it('case table summary: every runnable case was enforced and probed, allowed and denied', () => {
      console.log(summary(`${routing} nftables case table`, table));
      assert.ok(runnable.length > 0, 'the case table has cases this lab can run');
      assert.equal(table.runs, runnable.length, 'cases that did not reach their probe (see their failures)');
      assert.ok(table.denied > 0 && table.denied < table.probes, 'probes saw both allowed and denied cells');
    });

    void it('re-enforcing the same policy set sends nothing; swapping sends only the difference', async () => {
      const a = runnable.find((x) => x.c.name === 'deny-all-ingress-in-x');
      const b = runnable.find((x) => x.c.name === 'allow-same-namespace');
      assert.ok(a && b);
      await enforceLab(up(), a.loaded, { datapath: 'nftables' });
      const again = await enforceLab(up(), a.loaded, { datapath: 'nftables' });
      assert.deepEqual(
        again.nodes.map((n) => n.changed),
        again.nodes.map(() => false),
      );
      const swapped = await enforceLab(up(), b.loaded, { datapath: 'nftables' });
      assert.ok(swapped.nodes.every((n) => n.changed));
      // Both select every pod of x for ingress: the x pods' chains stay, only what they match changes.
      assert.ok(
        swapped.nodes.every(
          (n) =>
            n.changes['addChains'] === 0 &&
            n.changes['deleteChains'] === 0 &&
            (n.changes['replaceChains'] ?? 0) <= 1,
        ),
        formatEnforce(swapped),
      );
      console.log(`# ${routing}: ${a.c.name} -> ${b.c.name}: ${formatEnforce(swapped)}`);
    });

    void it('the proof can fail: with no datapath, a deny-all case measures what the analyzer denies', async () => {
      const c = runnable.find((x) => x.c.name === 'deny-all-ingress-in-x');
      assert.ok(c);
      const report = await enforceLab(up(), c.loaded, { datapath: 'none' });
      assert.ok(
        report.nodes.every((n) => n.changed),
        'the nftables table was removed',
      );
      const proof = await prove(up(), report, c.c.targets, c.c.pods, OPTS, c.c.expected);
      const denied = c.c.expected.filter((x) => !x.allowed).length;
      assert.ok(denied > 0);
      assert.equal(proof.mismatches.length, denied, 'every cell the policy denies is a mismatch');
    });

    void it(`nftables: ${RUNS} generated policy sets (seed ${SEED}), probe == analyzer`, async () => {
      assert.ok(XYZ_SOURCE, 'the case table has a cluster-xyz case');
      console.log(`# ${routing}: fast-check seed ${SEED}, ${RUNS} runs (PAL_PROOF_SEED=${SEED} replays)`);
      const generated = tally();
      // The datapath applies each set as a diff from the one before, so a failure names both.
      let previous = '(none: first run)';
      await fc.assert(
        fc.asyncProperty(policySet, async (objects) => {
          const t = Date.now();
          const text = toYaml(objects);
          const loaded = load([XYZ_SOURCE, { file: 'generated.yaml', text }]);
          const report = await enforceLab(up(), loaded, { datapath: 'nftables' });
          const proof = await prove(up(), report, ALL_TARGETS, XYZ_PODS, OPTS);
          count(generated, t, report, proof);
          const before = previous;
          previous = text;
          if (proof.mismatches.length > 0) {
            const message =
              `${failure(`${routing}, seed ${SEED}, run ${generated.runs}`, proof, report)}\n\n` +
              `policies:\n${text}\npolicies of the run before (the diff started there):\n${before}`;
            console.log(message.replace(/^/gm, '# '));
            throw new Error(message);
          }
        }),
        {
          numRuns: RUNS,
          seed: SEED,
          // Shrinking re-runs the lab hundreds of times; the seed and the printed policies suffice.
          endOnFailure: true,
          includeErrorInReport: true,
          interruptAfterTimeLimit: PROPERTY_LIMIT_MS,
          markInterruptAsFailure: true,
        },
      );
      console.log(summary(`${routing} nftables generated`, generated));
    });

    if (routing === 'native') {
      const baseline = tally();
      for (const { c, loaded, skip: why } of cases) {
        void it(`iptables baseline: ${c.name}`, { skip: why ?? iptablesSkip }, async () => {
          const t = Date.now();
          const report = await enforceLab(up(), loaded, { datapath: 'iptables' });
          const unsupported = report.nodes.flatMap((n) => n.unsupported);
          assert.deepEqual(unsupported, [], 'the baseline expresses every rule of the case');
          const proof = await prove(up(), report, c.targets, c.pods, OPTS, c.expected);
          count(baseline, t, report, proof);
          assert.equal(proof.mismatches.length, 0, failure(`iptables case ${c.name}`, proof, report));
        });
      }
      void it(
        'iptables case table summary: every runnable case was enforced and probed',
        { skip: iptablesSkip },
        () => {
          console.log(summary(`${routing} iptables case table`, baseline));
          assert.equal(
            baseline.runs,
            runnable.length,
            'cases that did not reach their probe (see their failures)',
          );
          assert.ok(
            baseline.denied > 0 && baseline.denied < baseline.probes,
            'probes saw both allowed and denied cells',
          );
        },
      );
    }

    void it('down() leaves no netns, link, nft table, process or state of the lab', async () => {
      const l = up();
      const perNode = await Promise.all(l.plan.nodes.map((n) => nftTables(n.netns)));
      assert.ok(
        perNode.every((tables) => tables.length > 0),
        `each node netns held the datapath's tables: ${JSON.stringify(perNode)}`,
      );
      await l.down();
      await assertLabGone(l, rootTables);
    });
  });
}
