/**
 * `npm run bench:analyze`: matrix time and peak RSS on synthetic clusters. A script, not a test: it prints
 * figures and checks nothing. Arguments: PODSxPOLICIES sizes (default 1000x1000 5000x5000). Each size runs
 * in its own process so peak RSS belongs to that size alone, in two shapes: `replicated` (deployments of
 * five identical replicas, as real clusters are) and `distinct` (a selector-visible label unique to every
 * pod, so equivalence classes cannot merge much).
 */
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { buildModel, computeMatrix, computeMatrixCounts } from '../src/engine/index.js';
import { syntheticCluster } from './synthetic-cluster.js';

const TARGETS = [
  { port: 80, protocol: 'TCP' as const },
  { port: 53, protocol: 'UDP' as const },
];
const HEADER =
  'shape       pods  policies  cells      classes  model_ms  matrix_ms  full_ms  allowed%  peak_rss_MiB';

/** One measurement, in this process. `full` also materialises every cell as the CLI's JSON output does. */
function measure(pods: number, policies: number, distinct: boolean, full: boolean): string {
  const { cluster, policies: ps } = syntheticCluster(pods, policies, { distinct });
  const t0 = performance.now();
  const model = buildModel(cluster, ps);
  const t1 = performance.now();
  const counts = computeMatrixCounts(model, TARGETS);
  const t2 = performance.now();
  let fullMs = '-';
  if (full) {
    const t3 = performance.now();
    const m = computeMatrix(model, TARGETS);
    fullMs = (performance.now() - t3).toFixed(0);
    if (m.results.length !== counts.cells) throw new Error('materialised matrix disagrees with the counts');
  }
  const rss = process.resourceUsage().maxRSS / 1024;
  return [
    (distinct ? 'distinct' : 'replicated').padEnd(11),
    String(pods).padEnd(5),
    String(policies).padEnd(9),
    String(counts.cells).padEnd(10),
    String(counts.classes).padEnd(8),
    (t1 - t0).toFixed(0).padEnd(9),
    (t2 - t1).toFixed(0).padEnd(10),
    fullMs.padEnd(8),
    ((100 * counts.allowed) / counts.cells).toFixed(1).padEnd(9),
    rss.toFixed(0),
  ].join(' ');
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === '--one') {
  const [p, q, d, f] = rest;
  console.log(measure(Number(p), Number(q), d === 'distinct', f === 'full'));
} else {
  const sizes = (process.argv.length > 2 ? process.argv.slice(2) : ['1000x1000', '5000x5000']).map((s) => {
    const [p, q] = s.split('x').map(Number);
    if (!p || !q) throw new Error(`bad size ${s}: expected PODSxPOLICIES, e.g. 1000x1000`);
    return { pods: p, policies: q };
  });
  console.log(HEADER);
  const self = fileURLToPath(import.meta.url);
  for (const { pods, policies } of sizes) {
    for (const shape of ['replicated', 'distinct']) {
      // Materialising n² cell objects is what `-o json` does; past 1k pods it is gigabytes, so only there.
      const full = pods <= 1000 ? 'full' : 'counts';
      const r = spawnSync(process.execPath, [self, '--one', String(pods), String(policies), shape, full], {
        encoding: 'utf8',
        timeout: 600_000,
      });
      process.stdout.write(r.status === 0 ? r.stdout : `${shape} ${pods}x${policies}: failed\n${r.stderr}\n`);
    }
  }
  console.log('goal: 1000 pods x 1000 policies <= 5000 ms (model_ms + matrix_ms)');
}
