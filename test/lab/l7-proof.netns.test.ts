// Needs root, `ip netns`, nft, HAProxy and curl. The L7 proof: for generated L7 policy sets (fast-check)
// of every HTTP dialect — Cilium regexes and headers, Calico exact/prefix, Antrea globs, beside L3/L4
// policies — enforced by the node agents (nftables steering to each node's HAProxy), the responses real
// requests get in the lab (`lab probe --http`: curl in every client pod) equal `analyze matrix --http`,
// cell for cell, request for request. Knobs: PAL_L7_PROOF_RUNS (default 10), PAL_L7_PROOF_SEED.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { labDown } from '../../src/lab/fabric.js';
import { hasTool, labSkipReason } from './proof-support.js';
import type { Run } from '../cli/lab-cli-support.js';
import { leftovers, ok, palisade } from '../cli/lab-cli-support.js';

const skip =
  (await labSkipReason()) ||
  (hasTool('curl') ? false : 'curl is not installed (scripts/setup.sh)') ||
  (spawnSync('haproxy', ['-v']).status === 0 ? false : 'haproxy is not installed (scripts/setup.sh)');

const RUNS = Number(process.env['PAL_L7_PROOF_RUNS'] ?? 10);
const SEED = Number(process.env['PAL_L7_PROOF_SEED'] ?? Date.now() % 2 ** 31);

const CLUSTER = `
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec:
  nodeName: n1
  containers: [{name: c, image: i, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: b}}
spec:
  nodeName: n2
  containers: [{name: c, image: i, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: x, labels: {app: c}}
spec:
  nodeName: n2
  containers: [{name: c, image: i, ports: [{containerPort: 80}]}]
`;

const REQUESTS = [
  'GET /public',
  'GET /public/a?x=1',
  'POST /api/v1',
  'PUT /admin',
  'GET /api/v2/items',
] as const;

type Dialect = 'cilium' | 'calico' | 'antrea' | 'k8s';

/** One generated policy, as the YAML a user would write. */
const policy = (name: string): fc.Arbitrary<string> =>
  fc
    .record({
      dialect: fc.constantFrom<Dialect>('cilium', 'calico', 'antrea', 'k8s'),
      subject: fc.constantFrom('b', 'c'),
      from: fc.constantFrom('a', 'c', 'any'),
      method: fc.constantFrom('GET', 'POST', 'PUT'),
      path: fc.constantFrom(0, 1, 2),
      header: fc.boolean(),
    })
    .map(({ dialect, subject, from, method, path, header }) => {
      switch (dialect) {
        case 'cilium': {
          const p = ['/public.*', '/api/v[0-9]+', '/.*'][path];
          const h = header ? `, headers: ["X-Token: ok"]` : '';
          const peers = from === 'any' ? '{}' : `{matchLabels: {app: ${from}}}`;
          return `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: ${name}, namespace: x}
spec:
  endpointSelector: {matchLabels: {app: ${subject}}}
  ingress:
    - fromEndpoints: [${peers}]
      toPorts:
        - ports: [{port: "80", protocol: TCP}]
          rules:
            http: [{method: "${method}", path: "${p}"${h}}]
`;
        }
        case 'calico': {
          const p = ['{exact: /public}', '{prefix: /api}', '{prefix: /}'][path];
          const src = from === 'any' ? '' : `\n      source: {selector: app == '${from}'}`;
          return `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: ${name}, namespace: x}
spec:
  selector: app == '${subject}'
  types: [Ingress]
  ingress:
    - action: Allow
      protocol: TCP${src}
      destination: {ports: [80]}
      http: {methods: [${method}], paths: [${p}]}
`;
        }
        case 'antrea': {
          const p = ['/public*', '/api/*', '*'][path];
          const peers = from === 'any' ? '' : `\n      from: [{podSelector: {matchLabels: {app: ${from}}}}]`;
          return `apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: ${name}, namespace: x}
spec:
  priority: 5
  tier: application
  appliedTo: [{podSelector: {matchLabels: {app: ${subject}}}}]
  ingress:
    - action: Allow${peers}
      ports: [{protocol: TCP, port: 80}]
      l7Protocols: [{http: {method: ${method}, path: "${p}"}}]
`;
        }
        case 'k8s': {
          const peers = from === 'any' ? '{podSelector: {}}' : `{podSelector: {matchLabels: {app: ${from}}}}`;
          return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ${name}, namespace: x}
spec:
  podSelector: {matchLabels: {app: ${subject}}}
  policyTypes: [Ingress]
  ingress: [{from: [${peers}], ports: [{port: 80, protocol: TCP}]}]
`;
        }
      }
    });

const policySet = fc
  .integer({ min: 1, max: 3 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => policy(`p${i}`))))
  .map((docs) => docs.join('---\n'));

const requestPair = fc.uniqueArray(fc.constantFrom(...REQUESTS), { minLength: 2, maxLength: 2 });

describe('L7 proof: generated HTTP policy sets, lab probe --http == analyze matrix --http', { skip }, () => {
  const id = `pal-l7p-${randomBytes(4).toString('hex')}`;
  let dir = '';
  const cli = (args: string[]): Run => palisade(args, dir, 180_000);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pal-l7-proof-'));
    await writeFile(join(dir, 'cluster.yaml'), CLUSTER);
    ok(cli(['lab', 'up', '--id', id, '-f', 'cluster.yaml', '--watch-pid', String(process.pid)]), 'lab up');
  });
  after(async () => {
    try {
      await labDown({ id });
      assert.deepEqual(await leftovers(id), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it(`${RUNS} generated sets (seed ${SEED}): every response measured equals the one computed`, async () => {
    console.log(`# L7 proof: fast-check seed ${SEED}, ${RUNS} runs (PAL_L7_PROOF_SEED=${SEED} replays)`);
    let previous: string | undefined;
    let cells = 0;
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(policySet, requestPair, async (text, requests) => {
        if (previous !== undefined)
          ok(cli(['lab', 'delete', '--id', id, '-f', 'previous.yaml']), 'lab delete');
        await writeFile(join(dir, 'generated.yaml'), text);
        await writeFile(join(dir, 'previous.yaml'), text);
        previous = text;
        ok(cli(['lab', 'apply', '--id', id, '-f', 'generated.yaml']), `lab apply\n${text}`);
        for (const request of requests) {
          const probed = ok(
            cli(['lab', 'probe', '--id', id, '--http', request, '--ports', '80', '-o', 'json']),
            `lab probe --http ${request}`,
          );
          const analyzed = ok(
            cli([
              'analyze',
              'matrix',
              '-f',
              'cluster.yaml',
              '-f',
              'generated.yaml',
              '--http',
              request,
              '--ports',
              '80',
              '-o',
              'json',
            ]),
            `analyze matrix --http ${request}`,
          );
          const got = JSON.parse(probed) as { results: { from: string; to: string; response: string }[] };
          const want = JSON.parse(analyzed) as { results: { from: string; to: string; response: string }[] };
          const diff = got.results
            .map((c, i) => ({ c, w: want.results[i] }))
            .filter(
              ({ c, w }) =>
                w === undefined || w.from !== c.from || w.to !== c.to || w.response !== c.response,
            )
            .map(({ c, w }) => `${c.from} -> ${c.to}: lab ${c.response}, analyze ${w?.response ?? '(none)'}`);
          assert.deepEqual(diff, [], `${request} under\n${text}`);
          cells += got.results.length;
          for (const c of got.results) seen.add(c.response);
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true, includeErrorInReport: true },
    );
    console.log(`# L7 proof: ${cells} cells equal; responses seen: ${[...seen].sort().join(', ')}`);
    // The generated sets must exercise the proxy: forwarded and refused requests both occur.
    assert.ok(seen.has('forwarded'), 'some request was forwarded');
    assert.ok(
      [...seen].some((r) => r !== 'forwarded'),
      'some request was refused',
    );
  });
});
