import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { evaluate } from '../../src/engine/evaluate.js';
import {
  chooseTargets,
  computeMatrix,
  computeMatrixCounts,
  defaultTargets,
  matrixOfNamespace,
} from '../../src/engine/matrix.js';
import type { Target } from '../../src/engine/matrix.js';
import { buildModel } from '../../src/engine/model.js';
import { SEMANTICS_PROFILES } from '../../src/engine/pipeline.js';
import { DECLARED, NODES, anyEndpoints, policy } from '../support/arbitrary-ir.js';
import { endpointKey } from '../../src/ir/index.js';
import type { Protocol } from '../../src/ir/index.js';
import {
  cluster,
  flow,
  hostNetwork,
  ips,
  isolating,
  labels,
  netpol,
  onNode,
  pod,
  ports,
} from './builders.js';

void describe('computeMatrix', () => {
  const a = pod('y/a', ips('10.0.0.2'), ports({ name: 'http', port: 80, protocol: 'TCP' }));
  const b = pod('x/b', ips('10.0.0.1'), ports({ name: 'dns', port: 53, protocol: 'UDP' }));
  const c = pod('x/a', ips('10.0.0.3'), ports({ port: 80, protocol: 'TCP' }));

  void it('matrixOfNamespace keeps the pods of one namespace and the cells between them', () => {
    const m = matrixOfNamespace(
      computeMatrix(buildModel(cluster([a, b, c]), []), [{ port: 80, protocol: 'TCP' }]),
      'x',
    );
    assert.deepEqual(m.pods, ['x/a', 'x/b']);
    assert.deepEqual(
      m.results.map((r) => `${r.from}>${r.to}`),
      ['x/a>x/a', 'x/a>x/b', 'x/b>x/a', 'x/b>x/b'],
    );
    assert.deepEqual(
      matrixOfNamespace(m, 'xx'),
      { pods: [], results: [] },
      'a prefix of a namespace is not it',
    );
  });

  void it('sorts pods by namespace then name', () => {
    const m = computeMatrix(buildModel(cluster([a, b, c]), []), []);
    assert.deepEqual(m.pods, ['x/a', 'x/b', 'y/a']);
  });

  void it('orders results by target, then from, then to, self pairs included', () => {
    const m = computeMatrix(buildModel(cluster([a, c]), []), [
      { port: 81, protocol: 'TCP' },
      { port: 53, protocol: 'UDP' },
    ]);
    assert.deepEqual(
      m.results.map((r) => `${r.protocol}/${r.port} ${r.from}>${r.to}`),
      [
        'TCP/81 x/a>x/a',
        'TCP/81 x/a>y/a',
        'TCP/81 y/a>x/a',
        'TCP/81 y/a>y/a',
        'UDP/53 x/a>x/a',
        'UDP/53 x/a>y/a',
        'UDP/53 y/a>x/a',
        'UDP/53 y/a>y/a',
      ],
    );
  });

  void it('keeps loopback exact inside a class of identical pods', () => {
    const p1 = pod('x/p1', labels({ app: 'w' }), ips('10.0.0.1'));
    const p2 = pod('x/p2', labels({ app: 'w' }), ips('10.0.0.2'));
    const model = buildModel(cluster([p1, p2]), [netpol('x/deny', isolating('Ingress'))]);
    const m = computeMatrix(model, [{ port: 80, protocol: 'TCP' }]);
    assert.deepEqual(
      m.results.map((r) => r.allowed),
      [true, false, false, true],
    );
    assert.equal(computeMatrixCounts(model, [{ port: 80, protocol: 'TCP' }]).classes, 1);
  });

  void it('keeps node-local exact for host-network sources', () => {
    const h = pod('x/h', hostNetwork, onNode('n1'), ips('192.168.0.1'));
    const on1 = pod('y/on1', labels({ app: 'w' }), onNode('n1'), ips('10.0.0.1'));
    const on2 = pod('y/on2', labels({ app: 'w' }), onNode('n2'), ips('10.0.0.2'));
    const m = computeMatrix(
      buildModel(cluster([h, on1, on2], NODES), [netpol('y/deny', isolating('Ingress'))]),
      [{ port: 80, protocol: 'TCP' }],
    );
    const cell = (from: string, to: string) => m.results.find((r) => r.from === from && r.to === to)?.allowed;
    assert.equal(cell('x/h', 'y/on1'), true);
    assert.equal(cell('x/h', 'y/on2'), false);
  });

  void it('counts cells, allowed cells and classes', () => {
    const model = buildModel(cluster([a, b, c]), [netpol('x/deny', isolating('Ingress'))]);
    const counts = computeMatrixCounts(model, [{ port: 80, protocol: 'TCP' }]);
    // 9 cells; into x/a and x/b only self traffic passes: 9 - 4 denied.
    assert.deepEqual(counts, { cells: 9, allowed: 5, classes: 2 });
  });
});

void describe('defaultTargets', () => {
  void it('is the sorted union of declared container ports', () => {
    const c = cluster([
      pod('x/a', ports({ port: 80, protocol: 'UDP' }, { port: 80, protocol: 'TCP' })),
      pod('x/b', ports({ name: 'dns', port: 53, protocol: 'UDP' }, { port: 80, protocol: 'TCP' })),
    ]);
    assert.deepEqual(defaultTargets(c), [
      { port: 53, protocol: 'UDP' },
      { port: 80, protocol: 'TCP' },
      { port: 80, protocol: 'UDP' },
    ]);
  });
});

void describe('chooseTargets', () => {
  const c = cluster([
    pod('x/a', ports({ port: 80, protocol: 'TCP' }, { port: 53, protocol: 'UDP' })),
    pod('x/b', ports({ port: 8080, protocol: 'TCP' })),
  ]);
  const cases: { name: string; ports?: number[]; protocols?: Protocol[]; want: Target[] }[] = [
    {
      name: 'neither list: the declared ports',
      want: [
        { port: 53, protocol: 'UDP' },
        { port: 80, protocol: 'TCP' },
        { port: 8080, protocol: 'TCP' },
      ],
    },
    {
      name: 'ports alone: over TCP',
      ports: [443, 80],
      want: [
        { port: 443, protocol: 'TCP' },
        { port: 80, protocol: 'TCP' },
      ],
    },
    {
      name: 'ports and protocols: every pair',
      ports: [443],
      protocols: ['UDP', 'SCTP'],
      want: [
        { port: 443, protocol: 'UDP' },
        { port: 443, protocol: 'SCTP' },
      ],
    },
    {
      name: 'protocols alone: the declared ports of those',
      protocols: ['UDP'],
      want: [{ port: 53, protocol: 'UDP' }],
    },
  ];
  for (const x of cases) {
    void it(x.name, () => assert.deepEqual(chooseTargets(c, x.ports, x.protocols), x.want));
  }
});

// Random clusters and policies: the shared generators (test/support/arbitrary-ir.ts).
const TARGETS: Target[] = [
  { port: 80, protocol: 'TCP' },
  { port: 8080, protocol: 'TCP' },
  { port: 53, protocol: 'UDP' },
];

void describe('computeMatrix agrees with per-pair evaluate', () => {
  void it('on random clusters and policies', () => {
    fc.assert(
      fc.property(
        anyEndpoints,
        fc.array(policy, { maxLength: 6 }),
        fc.constantFrom(...SEMANTICS_PROFILES),
        (eps, policies, semantics) => {
          const model = buildModel(cluster(eps, NODES), policies, DECLARED, { semantics });
          const m = computeMatrix(model, TARGETS);
          const byKey = new Map(eps.map((e) => [endpointKey(e), e]));
          assert.equal(m.results.length, eps.length * eps.length * TARGETS.length);
          for (const cell of m.results) {
            const src = byKey.get(cell.from);
            const dst = byKey.get(cell.to);
            assert.ok(src && dst);
            const want = evaluate(model, flow(src, dst, cell.port, cell.protocol)).allowed;
            assert.equal(cell.allowed, want, `${cell.protocol}/${cell.port} ${cell.from} -> ${cell.to}`);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
