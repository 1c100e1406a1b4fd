import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { parseSources } from '../dialects/index.js';
import type { Source } from '../dialects/index.js';
import { buildModel, computeMatrix, defaultTargets } from '../engine/index.js';
import { hasErrors } from '../ir/index.js';
import { LabNotRunningError, callLab, daemonPid, downLab, startLabDaemon } from '../lab/daemon/client.js';
import type { LabDatapath, LabResponse, LabStatus } from '../lab/daemon/protocol.js';
import type { MeasuredMatrix } from '../lab/probe.js';
import { processStart } from '../lab/state.js';
import type { Routing } from '../lab/topology.js';
import type { ConfirmOptions, Reprobe } from '../lab/verify.js';
import { cellKey, formatMismatch, verify } from '../lab/verify.js';
import { httpStep } from './demo-http.js';
import { CAPABILITIES, getBackend } from '../datapath/index.js';
import { datapathOption } from './datapath-option.js';
import { MismatchError, UsageError } from './exit-codes.js';
import { formatDiagnostics } from './format-diagnostics.js';
import { formatMatrixTables } from './format-matrix.js';
import {
  TIMEOUTS,
  formatEnforce,
  mainScript,
  parseLabId,
  parseRouting,
  parseTimeoutMs,
} from './lab-common.js';

interface DemoOptions {
  keep?: boolean;
  routing: Routing;
  datapath: LabDatapath;
  id: string;
  timeoutMs: number;
}

/** The walk: one manifest per step under examples/demo/, applied on top of the previous ones. */
interface Step {
  readonly file: string;
  readonly title: string;
  readonly policy: string;
  /** Requests sent after the matrix, each from both clients to the server (an L7 step). */
  readonly http?: {
    readonly to: string;
    readonly port: number;
    readonly from: readonly string[];
    readonly requests: readonly string[];
  };
}

const STEPS: readonly Step[] = [
  { file: '1-no-policy.yaml', title: 'no policy', policy: 'none: every connection is allowed' },
  {
    file: '2-default-deny.yaml',
    title: 'default deny',
    policy: 'NetworkPolicy demo/default-deny: every pod of demo, Ingress, no rule',
  },
  {
    file: '3-allow-by-label.yaml',
    title: 'allow by label',
    policy: 'NetworkPolicy demo/allow-clients: app=server <- role=client (same namespace), any port',
  },
  {
    file: '4-named-port.yaml',
    title: 'named port',
    policy: 'NetworkPolicy demo/allow-clients, replaced: app=server <- role=client on port "http" only',
  },
  {
    file: '5-ipblock-except.yaml',
    title: 'ipBlock with except',
    policy:
      'NetworkPolicy demo/allow-worker2-range: app=server <- 10.244.2.0/24 except 10.244.2.11/32 on port "http"',
  },
  {
    file: '6-http-get-only.yaml',
    title: 'an HTTP rule',
    policy: 'CiliumNetworkPolicy demo/metrics-get-only: app=server <- role=client on 8080, HTTP GET only',
    http: {
      to: 'demo/server',
      port: 8080,
      from: ['demo/client-a', 'demo/client-b'],
      requests: ['GET /metrics', 'POST /metrics'],
    },
  },
];

/** dist/src/cli/demo.js → examples/demo/ */
function demoDir(): string {
  return fileURLToPath(new URL('../../../examples/demo/', import.meta.url));
}

/**
 * A timed-out cell the analyzer allows gets second looks this much longer (load is not a policy), one
 * at a time: the lab daemon answers its requests in turn.
 */
const CONFIRM: ConfirmOptions = { confirmMs: 3000, attempts: 2, concurrency: 1 };

const mark = (allowed: boolean | undefined): string => (allowed === undefined ? '?' : allowed ? '.' : 'X');

/** Set by SIGINT/SIGTERM: the handler owns the exit from then on. */
let interrupted = false;

function progress(line: string): void {
  process.stderr.write(`demo: ${line}\n`);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

async function call<T>(p: Promise<LabResponse<T>>, id: string): Promise<T> {
  const r = await p;
  if (!r.ok) {
    if (r.diagnostics && r.diagnostics.length > 0)
      process.stderr.write(`${formatDiagnostics(r.diagnostics)}\n`);
    throw new UsageError(`lab ${id}: ${r.error}`);
  }
  return r.value;
}

/** What `palisade analyze matrix -f <files>` computes: the same loader, model and default targets. */
function analyze(sources: readonly Source[]): ReturnType<typeof computeMatrix> {
  const { value, diagnostics } = parseSources(sources);
  if (hasErrors(diagnostics))
    throw new Error(`demo manifests do not load: ${formatDiagnostics(diagnostics)}`);
  const model = buildModel(value.cluster, value.policies, value.tiers, { semantics: 'kubernetes' });
  return computeMatrix(model, defaultTargets(value.cluster));
}

function podTable(s: LabStatus): string[] {
  const rows = s.pods.map((p) => [
    p.pod,
    p.node,
    p.ip,
    Object.entries(p.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || '(no labels)',
  ]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => `  ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd());
}

async function runDemo(opts: DemoOptions): Promise<void> {
  const t0 = Date.now();
  if (process.getuid?.() !== 0)
    throw new UsageError('demo needs root (it builds a lab of network namespaces)');
  const dir = demoDir();
  const shown = (file: string): string => relative(process.cwd(), join(dir, file)) || file;
  const read = async (file: string): Promise<Source> => ({
    file: shown(file),
    text: await readFile(join(dir, file), 'utf8'),
  });
  const cluster = await read('cluster.yaml');
  const steps = await Promise.all(STEPS.map(async (s) => ({ ...s, source: await read(s.file) })));
  const id = opts.id;
  if ((await daemonPid(id)) !== undefined)
    throw new UsageError(`lab "${id}" is already up (a kept demo?); palisade lab down --id ${id} first`);

  progress(`building lab "${id}": 3 nodes, ${opts.routing} routing, ${opts.datapath} datapath`);
  let tearDown = !opts.keep;
  let ready = false;
  let daemon: number | undefined;
  const down = async (): Promise<void> => {
    const started = Date.now();
    // Interrupted while the daemon was still building: it is detached and would finish the lab unseen.
    if (daemon !== undefined && !ready) {
      try {
        process.kill(-daemon, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    const { report } = await downLab(id, TIMEOUTS.down);
    progress(`lab "${id}" removed (${report.netns.length} netns) in ${seconds(Date.now() - started)}`);
  };
  // Ctrl-C must not leave a lab behind: the daemon is detached and would outlive us.
  const onSignal = (): void => {
    interrupted = true;
    tearDown = false;
    progress(opts.keep ? 'interrupted; the lab is kept' : 'interrupted; removing the lab');
    void (opts.keep ? Promise.resolve() : down()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const mismatches: string[] = [];
  try {
    const upStarted = Date.now();
    const up = await call(
      startLabDaemon({
        id,
        command: process.execPath,
        args: [mainScript(), 'lab', 'serve', '--id', id],
        up: {
          op: 'up',
          sources: [cluster],
          routing: opts.routing,
          datapath: opts.datapath,
          // Unless kept, the lab must not outlive the demo, even a demo killed with SIGKILL.
          ...(opts.keep ? {} : { watch: { pid: process.pid, start: processStart(process.pid) ?? '' } }),
        },
        timeoutMs: 180_000,
        onSpawn: (pid) => (daemon = pid),
      }),
      id,
    );
    ready = true;
    progress(`lab up in ${seconds(Date.now() - upStarted)} (daemon pid ${up.pid})`);
    const status = await call(callLab(id, { op: 'status' }, TIMEOUTS.status), id);
    const out: string[] = [
      `Palisade demo: lab "${id}" — ${status.nodes.map((n) => n.name).join(', ')} as network namespaces on this ` +
        `machine, ${status.routing} routing, ${status.datapath} enforcing, real TCP probes.`,
      ...podTable(status),
      '',
      `Replay by hand: palisade lab up --id ${id} -f ${shown('cluster.yaml')}, then lab apply -f each step, lab probe.`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);

    const reprobe: Reprobe = async (cell, timeoutMs) => {
      const { port, protocol, from, to } = cell;
      const request = {
        op: 'probe',
        timeoutMs,
        ports: [port],
        protocols: [protocol],
        from: [from],
        to: [to],
      } as const;
      return (await call(callLab(id, request, 60_000), id)).results[0];
    };
    let previous: MeasuredMatrix | undefined;
    const applied: Source[] = [cluster];
    for (const [i, step] of steps.entries()) {
      const n = `${i + 1}/${steps.length}`;
      const stepStarted = Date.now();
      applied.push(step.source);
      const change = await call(callLab(id, { op: 'apply', sources: [step.source] }, TIMEOUTS.change), id);
      const applyMs = Date.now() - stepStarted;
      const probed = await call(callLab(id, { op: 'probe', timeoutMs: opts.timeoutMs }, 600_000), id);
      const computed = analyze(applied);
      const verified = await verify(probed, computed.results, reprobe, CONFIRM);
      const measured = verified.matrix;
      const lines = [
        '',
        `=== Step ${n}: ${step.title} ===`,
        `policy: ${step.policy}`,
        `  (palisade lab apply --id ${id} -f ${step.source.file})`,
      ];
      if (change.edits.length > 0) lines.push(...change.edits.map((e) => `  ${e}`));
      lines.push(...formatEnforce(change.enforce).map((l) => `  ${l}`), '');
      lines.push(formatMatrixTables(measured).trimEnd());
      lines.push(...changedCells(previous, measured, i === 0));
      const diff = verified.mismatches.map(formatMismatch);
      if (diff.length === 0)
        lines.push(
          `probe == analyze: yes (${measured.results.length} cells; palisade analyze matrix -f ${applied.map((s) => s.file).join(' -f ')})`,
        );
      else {
        lines.push(`probe == analyze: NO, ${diff.length} cell(s) differ:`, ...diff.map((d) => `  ${d}`));
        mismatches.push(...diff.map((d) => `step ${i + 1}: ${d}`));
      }
      const steers = getBackend(opts.datapath).capabilities.l7Redirect;
      if (step.http !== undefined && !steers)
        lines.push(
          '',
          `HTTP requests skipped: the ${opts.datapath} datapath lacks l7Redirect (${CAPABILITIES.l7Redirect}); ` +
            'its HTTP rule is left out and only its L3/L4 allow enforced',
        );
      else if (step.http !== undefined) {
        const http = await httpStep(id, step.http, applied, status);
        lines.push(...http.lines);
        mismatches.push(...http.mismatches.map((d) => `step ${i + 1}: ${d}`));
      }
      process.stdout.write(`${lines.join('\n')}\n`);
      progress(
        `step ${n} ${step.title}: applied in ${applyMs}ms, probed ${measured.results.length} cells, ` +
          `step took ${seconds(Date.now() - stepStarted)}`,
      );
      previous = measured;
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (tearDown) await down();
    else if (opts.keep)
      process.stdout.write(
        `\nlab "${id}" kept: palisade lab probe --id ${id}; palisade lab status --id ${id}; palisade lab down --id ${id}\n`,
      );
  }
  progress(`done in ${seconds(Date.now() - t0)}`);
  if (mismatches.length > 0)
    throw new MismatchError(
      mismatches.length,
      `the lab measured ${mismatches.length} cell(s) differently from analyze matrix`,
    );
}

function changedCells(
  previous: MeasuredMatrix | undefined,
  current: MeasuredMatrix,
  first: boolean,
): string[] {
  if (!previous) return [first ? 'changed since the previous step: (first step)' : ''];
  const before = new Map(previous.results.map((r) => [cellKey(r), r.allowed]));
  const changed = current.results.filter((r) => before.get(cellKey(r)) !== r.allowed);
  if (changed.length === 0) return ['changed since the previous step: nothing'];
  const head = `changed since the previous step (${changed.length} cell${changed.length === 1 ? '' : 's'}):`;
  if (changed.length <= 8)
    return [
      head,
      ...changed.map((r) => `  ${cellKey(r)}: ${mark(before.get(cellKey(r)))} -> ${mark(r.allowed)}`),
    ];
  // Many cells (a default deny): one line per port and destination, listing the sources.
  const groups = new Map<string, string[]>();
  for (const r of changed) {
    const key = `${r.protocol}/${r.port} -> ${r.to}: ${mark(before.get(cellKey(r)))} -> ${mark(r.allowed)} from`;
    groups.set(key, [...(groups.get(key) ?? []), r.from]);
  }
  return [head, ...[...groups].map(([key, froms]) => `  ${key} ${froms.join(', ')}`)];
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'build a 3-node lab (control-plane, worker1, worker2) and walk no policy -> default deny -> allow by ' +
        'label -> named port -> ipBlock with except -> an HTTP rule, probing real packets and requests and checking each against ' +
        'analyze matrix (root)',
    )
    .option('--keep', 'leave the lab running afterwards (palisade lab … --id demo)')
    .option('--routing <mode>', 'native or vxlan', parseRouting, 'native' as Routing)
    .addOption(datapathOption())
    .option('--id <id>', 'lab id', parseLabId, 'demo')
    .option('--timeout-ms <ms>', 'how long a probe waits for an answer', parseTimeoutMs, 1000)
    .exitOverride()
    .action(async (opts: DemoOptions) => {
      try {
        await runDemo(opts);
      } catch (err) {
        // The signal handler is taking the lab down and exits with 130; the failed request says nothing new.
        if (interrupted) await new Promise(() => undefined);
        if (err instanceof LabNotRunningError) throw new UsageError(`the demo lab went away: ${err.message}`);
        throw err;
      }
    });
}
