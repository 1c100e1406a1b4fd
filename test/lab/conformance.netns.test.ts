// Needs root, `ip netns` and nft (and each backend's tools, else that backend is skipped by name):
// enforces the upstream network-policy-api conformance manifests in a netns lab and probes them.
//
// For each API version (v0.1.8: AdminNetworkPolicy / BaselineAdminNetworkPolicy v1alpha1; HEAD:
// ClusterNetworkPolicy v1alpha2) one native-routing lab of three nodes holds the pods of that version's
// conformance/base/manifests.yaml, and every backend of the registry (src/datapath/registry.ts) runs on it
// in turn. Two routes are checked against the packets, per backend:
//  1. every policy manifest of the version, enforced through the backend: the measured matrix equals
//     computeMatrix(bound model) cell for cell, on the ports the manifest mentions plus one it does not
//     per protocol;
//  2. upstream's own expectations (the independent oracle): seven conformance tests of
//     kubernetes-sigs/network-policy-api conformance/tests/*.go, replayed subtest by subtest with the same
//     in-test patches (rule swaps, action and priority changes, a deleted NetworkPolicy), asserting each
//     PokeServer verdict on the probe and on the engine.
// A manifest whose rules a backend left out for a capability its record lacks is skipped with the
// capability's name; one left out under a capability it claims fails (test/support/backends.ts).
// Knob (env): PAL_CONFORMANCE_TIMEOUT_MS (probe timeout, default 400).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Loaded, Source } from '../../src/dialects/index.js';
import { BACKEND_NAMES, getBackend } from '../../src/datapath/index.js';
import type { Unsupported } from '../../src/datapath/index.js';
import { computeMatrix } from '../../src/engine/index.js';
import type { Protocol } from '../../src/ir/endpoint.js';
import { endpointKey } from '../../src/ir/endpoint.js';
import { PROTOCOLS } from '../../src/ir/index.js';
import { enforceLab } from '../../src/lab/enforce.js';
import type { EnforceReport } from '../../src/lab/enforce.js';
import { labDown } from '../../src/lab/fabric.js';
import type { Lab } from '../../src/lab/lab.js';
import { labUp } from '../../src/lab/lab.js';
import { mapLimit } from '../../src/lab/netns.js';
import { probeMatrix } from '../../src/lab/probe.js';
import { confirmTimeouts, labReprobe } from '../../src/lab/verify.js';
import { backendUnavailable, skipIfUnsupported } from '../support/backends.js';
import type { Patch, ServedPort } from '../support/network-policy-api.js';
import {
  applyPatch,
  conformanceCluster,
  conformancePolicyFiles,
  hostNetworkPort,
  NS_PREFIX,
  podKey,
  readDocs,
  writeDocs,
} from '../support/network-policy-api.js';
import type { ProofOptions, Target } from './proof-support.js';
import {
  CONFIRM,
  assertLabGone,
  formatEnforce,
  labSkipReason,
  load,
  newLabId,
  nftTables,
  prove,
} from './proof-support.js';

const skip = await labSkipReason();

const OPTS: ProofOptions = {
  timeoutMs: Number(process.env['PAL_CONFORMANCE_TIMEOUT_MS'] ?? 400),
  confirmMs: 3000,
  concurrency: 512,
};
const NODES = 3;

/**
 * What the upstream pods listen on. manifests.yaml declares only TCP 80 (`web`) and UDP 53 (`dns`) on the
 * house pods, but their containers also serve TCP 8080, UDP 5353 and SCTP 9003/9005 (agnhost commands and
 * SERVE_SCTP_PORT_* variables), which the Go tests probe; the host-network `centaur` pods declare
 * HostNetworkPorts 0, 1 (TCP) and 2, 4 (UDP) and serve 6, 7 over SCTP. The lab serves this union on every
 * pod, as unnamed ports beside the declared ones: then every cell of the matrix is a policy verdict rather
 * than a missing listener, and named ports still resolve exactly as the manifests declare them.
 */
const SERVED: readonly ServedPort[] = [
  { protocol: 'TCP', port: 80 },
  { protocol: 'TCP', port: 8080 },
  { protocol: 'UDP', port: 53 },
  { protocol: 'UDP', port: 5353 },
  { protocol: 'SCTP', port: 9003 },
  { protocol: 'SCTP', port: 9005 },
  { protocol: 'TCP', port: hostNetworkPort(0) },
  { protocol: 'TCP', port: hostNetworkPort(1) },
  { protocol: 'UDP', port: hostNetworkPort(2) },
  { protocol: 'UDP', port: hostNetworkPort(4) },
  { protocol: 'SCTP', port: hostNetworkPort(6) },
  { protocol: 'SCTP', port: hostNetworkPort(7) },
];

const targetKey = (t: Target): string => `${t.protocol}/${t.port}`;

/**
 * The served ports a policy set mentions (port numbers, ranges, named ports resolved against the pods,
 * protocol-only matches), plus the first served port of each protocol it does not mention: a port outside
 * every rule shows whether a rule leaks beyond its ports, and whether portless rules cover it.
 */
function targetsOf(loaded: Loaded): Target[] {
  const mentioned = new Set<string>();
  const ports = loaded.policies.flatMap((p) =>
    [...p.ingress, ...p.egress].flatMap((r) => [
      ...(r.ports === 'any' ? [] : r.ports),
      ...(r.notPorts ?? []),
    ]),
  );
  for (const m of ports) {
    for (const s of SERVED) {
      const hit =
        m.kind === 'protocol'
          ? m.protocol === s.protocol
          : m.kind === 'range'
            ? m.protocol === s.protocol && m.from <= s.port && s.port <= m.to
            : m.kind === 'named'
              ? loaded.cluster.endpoints.some((e) =>
                  e.ports.some((c) => c.name === m.name && c.protocol === m.protocol && c.port === s.port),
                )
              : false;
      if (hit) mentioned.add(targetKey(s));
    }
  }
  const unmentioned = PROTOCOLS.flatMap((protocol) => {
    const first = SERVED.find((s) => s.protocol === protocol && !mentioned.has(targetKey(s)));
    return first ? [first] : [];
  });
  return [...SERVED.filter((s) => mentioned.has(targetKey(s))), ...unmentioned];
}

// ---------------------------------------------------------------------------------------------------------
// Upstream expectations. Each PokeServer call of the Go test is one Poke: client pod, server pod, protocol,
// port, whether the connection must succeed. Subtests run in order and upstream's patches persist from one
// subtest to the next, so the steps replay them cumulatively. These seven tests have the same subtests, pokes
// and patches at v0.1.8 (ANP/BANP) and HEAD (CNP, renamed CNPAdminTier…/CNPBaselineTier…), checked with
// `git show <ref>:conformance/tests/<file>`; only the manifest folders differ.

interface Poke {
  readonly from: string;
  readonly to: string;
  readonly protocol: Protocol;
  readonly port: number;
  readonly allowed: boolean;
}
interface Step {
  /** The t.Run name upstream. */
  readonly run: string;
  readonly patch?: Patch;
  readonly pokes: readonly Poke[];
}
interface UpstreamTest {
  readonly goFile: string;
  readonly shortName: Readonly<Record<Version, string>>;
  /** Under conformance/base; `{admin}`/`{baseline}` are the version's folders. */
  readonly manifest: string;
  readonly steps: readonly Step[];
}
type Version = 'v0.1.8' | 'HEAD';

/** Upstream's usual shape: `<client>-0` pokes the server on `a`, `<client>-1` on `b`. */
function pokes(
  client: string,
  server: string,
  protocol: Protocol,
  a: readonly [number, boolean],
  b: readonly [number, boolean],
): Poke[] {
  return [
    { from: podKey(`${client}-0`), to: podKey(server), protocol, port: a[0], allowed: a[1] },
    { from: podKey(`${client}-1`), to: podKey(server), protocol, port: b[0], allowed: b[1] },
  ];
}

const HARRY = 'gryffindor/harry-potter';
const DRACO = 'slytherin/draco-malfoy';
const CEDRIC = 'hufflepuff/cedric-diggory';
const LUNA = 'ravenclaw/luna-lovegood';
const toCentaur = (protocol: Protocol, port: number, allowed: boolean): Poke => ({
  from: podKey(`${HARRY}-1`),
  to: podKey('forbidden-forrest/centaur-1'),
  protocol,
  port,
  allowed,
});

const UPSTREAM: readonly UpstreamTest[] = [
  {
    goFile: 'admin-network-policy-standard-egress-tcp-rules.go',
    shortName: { 'v0.1.8': 'AdminNetworkPolicyEgressTCP', HEAD: 'CNPAdminTierEgressTCP' },
    manifest: '{admin}/standard-egress-tcp-rules.yaml',
    steps: [
      {
        run: 'allow-egress for TCP; ensure rule ordering is respected',
        pokes: pokes(HARRY, `${LUNA}-0`, 'TCP', [80, true], [8080, true]),
      },
      {
        run: 'allow-egress for TCP at the specified port',
        pokes: pokes(HARRY, `${CEDRIC}-1`, 'TCP', [8080, true], [80, false]),
      },
      {
        run: 'deny-egress for TCP; ensure rule ordering is respected (egress rules 0 and 1 swapped)',
        patch: { swap: ['egress-tcp', 'egress', 0, 1] },
        pokes: pokes(HARRY, `${LUNA}-1`, 'TCP', [80, false], [8080, false]),
      },
      {
        run: 'deny-egress for TCP at the specified port',
        pokes: pokes(HARRY, `${DRACO}-0`, 'TCP', [80, false], [8080, true]),
      },
      {
        run: 'pass-egress for TCP; ensure rule ordering is respected (egress rules 0 and 2 swapped)',
        patch: { swap: ['egress-tcp', 'egress', 0, 2] },
        pokes: pokes(HARRY, `${LUNA}-0`, 'TCP', [80, true], [8080, true]),
      },
      {
        run: 'pass-egress for TCP at the specified port (egress rules 3 and 4 swapped)',
        patch: { swap: ['egress-tcp', 'egress', 3, 4] },
        pokes: pokes(HARRY, `${DRACO}-0`, 'TCP', [80, true], [8080, true]),
      },
    ],
  },
  {
    goFile: 'admin-network-policy-standard-ingress-tcp-rules.go',
    shortName: { 'v0.1.8': 'AdminNetworkPolicyIngressTCP', HEAD: 'CNPAdminTierIngressTCP' },
    manifest: '{admin}/standard-ingress-tcp-rules.yaml',
    steps: [
      {
        run: 'allow-ingress for TCP; ensure rule ordering is respected',
        pokes: pokes(LUNA, `${HARRY}-0`, 'TCP', [80, true], [8080, true]),
      },
      {
        run: 'allow-ingress for TCP at the specified port',
        pokes: pokes(CEDRIC, `${HARRY}-1`, 'TCP', [80, true], [8080, false]),
      },
      {
        run: 'deny-ingress for TCP; ensure rule ordering is respected (ingress rules 0 and 1 swapped)',
        patch: { swap: ['ingress-tcp', 'ingress', 0, 1] },
        pokes: pokes(LUNA, `${HARRY}-1`, 'TCP', [80, false], [8080, false]),
      },
      {
        run: 'deny-ingress for TCP at the specified port',
        pokes: pokes(DRACO, `${HARRY}-0`, 'TCP', [80, false], [8080, true]),
      },
      {
        run: 'pass-ingress for TCP; ensure rule ordering is respected (ingress rules 0 and 2 swapped)',
        patch: { swap: ['ingress-tcp', 'ingress', 0, 2] },
        pokes: pokes(LUNA, `${HARRY}-0`, 'TCP', [80, true], [8080, true]),
      },
      {
        run: 'pass-ingress for TCP at the specified port (ingress rules 3 and 4 swapped)',
        patch: { swap: ['ingress-tcp', 'ingress', 3, 4] },
        pokes: pokes(DRACO, `${HARRY}-0`, 'TCP', [80, true], [8080, true]),
      },
    ],
  },
  {
    goFile: 'admin-network-policy-standard-priority.go',
    shortName: { 'v0.1.8': 'AdminNetworkPolicyPriorityField', HEAD: 'CNPAdminTierPriorityField' },
    manifest: '{admin}/standard-priority-field.yaml',
    steps: [
      {
        run: 'Should Deny traffic from slytherin to gryffindor',
        pokes: pokes(DRACO, `${HARRY}-0`, 'TCP', [80, false], [8080, false]),
      },
      {
        run: 'Should Deny traffic to slytherin from gryffindor',
        pokes: pokes(HARRY, `${DRACO}-0`, 'TCP', [80, false], [8080, false]),
      },
      {
        run: 'priority 60 -> 40 passes both directions over to the baseline',
        patch: { priority: ['old-priority-60-new-priority-40-example', 40] },
        pokes: [
          ...pokes(DRACO, `${HARRY}-0`, 'TCP', [80, true], [8080, true]),
          ...pokes(HARRY, `${DRACO}-0`, 'TCP', [80, true], [8080, true]),
        ],
      },
    ],
  },
  {
    goFile: 'admin-network-policy-standard-integration.go',
    shortName: { 'v0.1.8': 'AdminNetworkPolicyIntegration', HEAD: 'CNPAdminTierIntegration' },
    manifest: 'api_integration/standard-anp-np-banp.yaml',
    steps: [
      {
        run: 'Should Deny traffic from slytherin to gryffindor',
        pokes: pokes(DRACO, `${HARRY}-0`, 'TCP', [80, false], [8080, false]),
      },
      {
        run: 'Should Deny traffic to slytherin from gryffindor',
        pokes: pokes(HARRY, `${DRACO}-0`, 'TCP', [80, false], [8080, false]),
      },
      {
        run: "pass-ingress respects the NetworkPolicy's allow (ingress rule 0 -> Pass)",
        patch: { action: ['pass-example', 'ingress', 0, 'Pass'] },
        pokes: pokes(DRACO, `${HARRY}-0`, 'TCP', [80, true], [8080, true]),
      },
      {
        run: "pass-egress respects the NetworkPolicy's allow (egress rule 0 -> Pass)",
        patch: { action: ['pass-example', 'egress', 0, 'Pass'] },
        pokes: pokes(HARRY, `${DRACO}-0`, 'TCP', [80, true], [8080, true]),
      },
      {
        run: "pass-ingress falls to the baseline's deny (NetworkPolicy deleted)",
        patch: {
          delete: ['NetworkPolicy', `${NS_PREFIX}gryffindor`, 'allow-gress-from-to-slytherin-to-gryffindor'],
        },
        pokes: pokes(DRACO, `${HARRY}-0`, 'TCP', [80, false], [8080, false]),
      },
      {
        run: "pass-egress falls to the baseline's deny",
        pokes: pokes(HARRY, `${DRACO}-0`, 'TCP', [80, false], [8080, false]),
      },
    ],
  },
  {
    goFile: 'baseline-admin-network-policy-standard-egress-udp-rules.go',
    shortName: { 'v0.1.8': 'BaselineAdminNetworkPolicyEgressUDP', HEAD: 'CNPBaselineTierEgressUDP' },
    manifest: '{baseline}/standard-egress-udp-rules.yaml',
    steps: [
      {
        run: 'allow-egress for UDP; ensure rule ordering is respected',
        pokes: pokes(CEDRIC, `${LUNA}-0`, 'UDP', [53, true], [5353, true]),
      },
      {
        run: 'allow-egress for UDP at the specified port',
        pokes: pokes(CEDRIC, `${HARRY}-1`, 'UDP', [53, true], [5353, false]),
      },
      {
        run: 'deny-egress for UDP; ensure rule ordering is respected (egress rules 0 and 1 swapped)',
        patch: { swap: ['default', 'egress', 0, 1] },
        pokes: pokes(CEDRIC, `${LUNA}-1`, 'UDP', [53, false], [5353, false]),
      },
      {
        run: 'deny-egress for UDP at the specified port',
        pokes: pokes(CEDRIC, `${DRACO}-0`, 'UDP', [5353, false], [53, true]),
      },
    ],
  },
  {
    goFile: 'baseline-admin-network-policy-standard-ingress-sctp-rules.go',
    shortName: { 'v0.1.8': 'BaselineAdminNetworkPolicyIngressSCTP', HEAD: 'CNPBaselineTierIngressSCTP' },
    manifest: '{baseline}/standard-ingress-sctp-rules.yaml',
    steps: [
      {
        run: 'allow-ingress for SCTP; ensure rule ordering is respected',
        pokes: pokes(HARRY, `${LUNA}-0`, 'SCTP', [9003, true], [9005, true]),
      },
      {
        run: 'allow-ingress for SCTP at the specified port',
        pokes: pokes(CEDRIC, `${LUNA}-1`, 'SCTP', [9003, true], [9005, false]),
      },
      {
        run: 'deny-ingress for SCTP; ensure rule ordering is respected (ingress rules 0 and 1 swapped)',
        patch: { swap: ['default', 'ingress', 0, 1] },
        pokes: pokes(HARRY, `${LUNA}-1`, 'SCTP', [9003, false], [9005, false]),
      },
      {
        run: 'deny-ingress for SCTP at the specified port',
        pokes: pokes(DRACO, `${LUNA}-0`, 'SCTP', [9003, false], [9005, true]),
      },
    ],
  },
  {
    goFile: 'admin-network-policy-experimental-egress-rules.go',
    shortName: { 'v0.1.8': 'AdminNetworkPolicyEgressNodePeers', HEAD: 'CNPAdminTierEgressNodePeers' },
    manifest: '{admin}/experimental-egress-selector-rules.yaml',
    // The server is the host-network centaur-1: a `nodes` peer matches it by its node's address.
    steps: [
      {
        run: 'allow-egress rule for egress-node-peer',
        pokes: [toCentaur('TCP', hostNetworkPort(0), true)],
      },
      {
        run: 'pass-egress rule for egress-node-peer (nothing below denies: allowed)',
        pokes: [toCentaur('UDP', hostNetworkPort(2), true)],
      },
      {
        run: 'deny-egress rule for egress-node-peer',
        pokes: [
          toCentaur('TCP', hostNetworkPort(1), false),
          toCentaur('UDP', hostNetworkPort(4), false),
          toCentaur('SCTP', hostNetworkPort(6), false),
        ],
      },
    ],
  },
];

const FOLDERS: Readonly<Record<Version, { admin: string; baseline: string }>> = {
  'v0.1.8': { admin: 'admin_network_policy', baseline: 'baseline_admin_network_policy' },
  HEAD: { admin: 'admin_tier', baseline: 'baseline_tier' },
};

// ---------------------------------------------------------------------------------------------------------

/** Every rule each node left out, for skipIfUnsupported. */
const leftOutOf = (report: EnforceReport): Unsupported[] => report.nodes.flatMap((n) => n.unsupported);

const verdict = (b: boolean | undefined): string => (b === undefined ? 'missing' : b ? 'allowed' : 'denied');

/** Measures one poke; a timeout where upstream expects success gets longer second looks, as prove() does. */
async function measure(lab: Lab, poke: Poke): Promise<{ allowed: boolean; result: string }> {
  const first = await probeMatrix(lab, [poke], {
    timeoutMs: OPTS.timeoutMs,
    concurrency: 1,
    from: [poke.from],
    to: [poke.to],
  });
  const { matrix } = await confirmTimeouts(first, [poke], labReprobe(lab), {
    confirmMs: OPTS.confirmMs,
    ...CONFIRM,
  });
  const cell = matrix.results[0];
  assert.ok(cell, `lab has ${poke.from} and ${poke.to}`);
  return cell;
}

/** Engine vs upstream (the same on every backend, so a set). */
const disagreements = new Set<string>();

for (const version of ['v0.1.8', 'HEAD'] as const) {
  const label = version === 'v0.1.8' ? 'ANP/BANP v1alpha1' : 'CNP v1alpha2';
  void describe(`${label} conformance manifests (${version}) on one native lab`, { skip }, () => {
    const cluster = conformanceCluster(version, { nodes: NODES, extraPorts: SERVED });
    const base = load([cluster]);
    const PODS = base.cluster.endpoints.map(endpointKey).sort();
    let lab: Lab | undefined;
    let rootTables: string[] = [];
    const tallies = new Map(
      BACKEND_NAMES.map((b) => [
        b,
        { files: 0, leftOut: 0, probes: 0, denied: 0, slow: 0, pokes: 0, steps: 0 },
      ]),
    );
    let suiteStarted = Date.now();
    before(async () => {
      suiteStarted = Date.now();
      // Leftovers of killed runs (any lab whose owner died) go first; live labs of others stay.
      await labDown({ stale: true });
      rootTables = await nftTables();
      const t = Date.now();
      lab = await labUp({ ...base.cluster, routing: 'native' }, { id: newLabId() });
      console.log(
        `# ${version}: lab ${lab.id} up in ${Date.now() - t} ms (${lab.pods.length} pods, ${NODES} nodes)`,
      );
    });
    after(async () => {
      await lab?.down();
      for (const [b, tally] of tallies)
        console.log(
          `# ${version} ${b}: ${tally.files} manifests${tally.leftOut > 0 ? ` (${tally.leftOut} more left out: lacking capabilities)` : ''}, ` +
            `${tally.probes} matrix probes (${tally.denied} denied, ${tally.slow} needed a second look); ` +
            `${UPSTREAM.length} upstream tests, ${tally.steps} subtests, ${tally.pokes} upstream pokes`,
        );
      console.log(`# ${version}: ${((Date.now() - suiteStarted) / 1000).toFixed(1)} s in all`);
    });
    const up = (): Lab => {
      assert.ok(lab, 'lab is up');
      return lab;
    };

    void it('the lab holds the Harry-Potter pods: 4 houses x 2 plus 2 host-network centaurs', () => {
      assert.equal(PODS.length, 10);
      const centaurs = up().pods.filter((p) => p.hostNetwork);
      assert.deepEqual(
        centaurs.map((p) => p.key),
        [podKey('forbidden-forrest/centaur-0'), podKey('forbidden-forrest/centaur-1')],
      );
      assert.notEqual(centaurs[0]?.node, centaurs[1]?.node);
    });

    for (const b of BACKEND_NAMES) {
      const backend = getBackend(b);
      const unavailable = backendUnavailable(backend);
      const tally = tallies.get(b) ?? assert.fail(`a tally for ${b}`);
      for (const { name, source } of conformancePolicyFiles(version)) {
        const loaded = load([cluster, source]);
        const targets = targetsOf(loaded);
        void it(
          `${b}: ${name}: probe == analyzer on ${targets.map(targetKey).join(' ')}`,
          { skip: unavailable },
          async (t) => {
            const report = await enforceLab(up(), loaded, { datapath: b });
            assert.ok(loaded.policies.length > 0, 'the manifest holds policies');
            if (skipIfUnsupported(t, backend, leftOutOf(report))) {
              tally.leftOut++;
              return;
            }
            const proof = await prove(up(), report, targets, PODS, OPTS);
            tally.files++;
            tally.probes += proof.probes;
            tally.denied += proof.denied;
            tally.slow += proof.slow;
            assert.equal(
              proof.mismatches.length,
              0,
              `${name}: ${proof.mismatches.length} mismatching cells (enforce: ${formatEnforce(report)})\n\n` +
                proof.mismatches.slice(0, 8).join('\n\n'),
            );
          },
        );
      }

      for (const test of UPSTREAM) {
        const manifest = test.manifest
          .replace('{admin}', FOLDERS[version].admin)
          .replace('{baseline}', FOLDERS[version].baseline);
        const where = `conformance/tests/${test.goFile} @ ${version}`;
        void it(
          `${b}: upstream ${test.shortName[version]} (${where}): every PokeServer verdict`,
          { skip: unavailable },
          async (t) => {
            const file = conformancePolicyFiles(version).find((f) => f.name === manifest);
            assert.ok(file, `${manifest} exists`);
            let docs = readDocs(file.source.text);
            const wrong: string[] = [];
            for (const step of test.steps) {
              if (step.patch) docs = applyPatch(docs, step.patch);
              const source: Source = { file: `${file.source.file} (patched)`, text: writeDocs(docs) };
              const report = await enforceLab(up(), load([cluster, source]), { datapath: b });
              if (skipIfUnsupported(t, backend, leftOutOf(report))) return;
              const targets = [...new Map(step.pokes.map((p) => [targetKey(p), p])).values()];
              const engine = new Map(
                computeMatrix(report.model, targets).results.map((c) => [
                  `${targetKey(c)} ${c.from} -> ${c.to}`,
                  c.allowed,
                ]),
              );
              const measured = await mapLimit(step.pokes, 16, (p) => measure(up(), p));
              step.pokes.forEach((p, i) => {
                const cell = `${targetKey(p)} ${p.from} -> ${p.to}`;
                const analyzed = engine.get(cell);
                const probe = measured[i];
                if (probe?.allowed === p.allowed && analyzed === p.allowed) return;
                const line =
                  `${test.shortName[version]} "${step.run}": ${cell}: upstream ${verdict(p.allowed)}, ` +
                  `analyzer ${verdict(analyzed)}, probe ${probe?.result ?? 'missing'}`;
                wrong.push(line);
                if (analyzed !== p.allowed) disagreements.add(line);
              });
              tally.steps++;
              tally.pokes += step.pokes.length;
            }
            assert.deepEqual(wrong, [], `${where} (manifest ${manifest}):\n${wrong.join('\n')}`);
          },
        );
      }
    }

    void it('the oracle can fail: with no datapath, the denied pokes of the priority test are measured allowed', async () => {
      const file = conformancePolicyFiles(version).find((f) =>
        f.name.endsWith('standard-priority-field.yaml'),
      );
      const first = UPSTREAM.find((t) => t.goFile === 'admin-network-policy-standard-priority.go')?.steps[0];
      assert.ok(file && first && first.pokes.every((p) => !p.allowed));
      await enforceLab(up(), load([cluster, file.source]), { datapath: 'none' });
      const measured = await mapLimit(first.pokes, 16, (p) => measure(up(), { ...p, allowed: true }));
      assert.deepEqual(
        measured.map((m) => m.result),
        first.pokes.map(() => 'ok'),
      );
    });

    void it('down() leaves no netns, link, nft table, process or state of the lab', async () => {
      const l = up();
      await l.down();
      await assertLabGone(l, rootTables);
    });
  });
}

after(() => {
  if (disagreements.size > 0) console.log(`# engine vs upstream:\n# ${[...disagreements].join('\n# ')}`);
});
