/**
 * `palisade bench l7`: what HTTP policy costs, with the bare proxy hop as the anchor. Two labs of the same
 * 2-node cluster, built by the lab daemon as `palisade lab up` builds them (one agent per node, nftables):
 * the main lab, whose policy changes from row to row through the daemon's `apply`/`delete` (as
 * `palisade lab apply`), and, when the bare row is asked for, a second lab whose agents run their L7 proxy
 * in `bare` mode (`lab up --l7-proxy bare`) with one HTTP rule applied, so the server's port is steered
 * through HAProxy but nothing is decided. Each round measures every row back to back, `none` first (its
 * saturation sets the round's fixed rate). Before a row is measured, the allowed GET is checked to
 * answer 200, and in an L7 row a POST to answer 403 (so a figure never comes from a policy that is not
 * enforced). Both labs watch this process and are taken down in `finally`, on SIGINT too.
 */
import { performance } from 'node:perf_hooks';
import { callLab, downLab, startLabDaemon } from '../daemon/client.js';
import type { LabStatus, PodStatus } from '../daemon/protocol.js';
import { join } from 'node:path';
import { ADMIN_SOCKET } from '../../l7/haproxy-config.js';
import { agentsStateDir } from '../daemon/agents.js';
import { nodeAgentDir } from '../node-agents.js';
import { processStart } from '../state.js';
import { counterDelta, proxyCounters } from './l7-proxy-counters.js';
import { run } from '../../util/process.js';
import type { Placement, Row } from './l7-manifests.js';
import {
  HTTP_PORT,
  L7_NAMESPACE,
  POD,
  clusterManifest,
  l7Manifest,
  requestPath,
  rowPolicy,
} from './l7-manifests.js';
import type { ChurnResult, L7BenchResult, L7Run } from './l7-report.js';
import { l7Goals, summarize } from './l7-report.js';
import type { L7Server } from './l7-traffic.js';
import {
  cpuMsBetween,
  haproxyTicks,
  measureFixedRate,
  measureSaturation,
  startL7Server,
  startWrk,
} from './l7-traffic.js';

export interface L7Tools {
  readonly wrk: string;
  readonly hey: string;
  readonly nginx: string;
  readonly curl: string;
}

export interface L7Progress {
  readonly done: number;
  readonly total: number;
  readonly label: string;
}

export interface L7BenchOptions {
  readonly rows: readonly Row[];
  readonly placements: readonly Placement[];
  readonly seconds: number;
  readonly repeat: number;
  /** Policy updates of the churn check (0: none). */
  readonly churnUpdates: number;
  readonly labId: string;
  readonly tools: L7Tools;
  /** How to run `palisade lab serve --id ID` (node and the CLI's main script). */
  readonly serve: { readonly command: string; readonly args: (id: string) => string[] };
  /** The command line, printed in the table's header. */
  readonly command: string;
  readonly onProgress?: (p: L7Progress) => void;
  readonly signal?: AbortSignal;
}

const UP_TIMEOUT_MS = 180_000;
const CHANGE_TIMEOUT_MS = 120_000;
const WRK = { threads: 2, connections: 64 } as const;
const HEY_WORKERS = 16;

interface RunningLab {
  readonly id: string;
  readonly server: PodStatus;
  readonly clients: Record<Placement, PodStatus>;
  readonly serverNodeNetns: string;
  readonly nginx: L7Server;
  /** What is applied now: the row whose policy the lab holds. */
  applied: Row | undefined;
}

const source = (text: string, file: string) => [{ file, text }];

async function change(id: string, op: 'apply' | 'delete', text: string): Promise<void> {
  const r = await callLab(id, { op, sources: source(text, `bench-l7-${op}.yaml`) }, CHANGE_TIMEOUT_MS);
  if (!r.ok) {
    const why = (r.diagnostics ?? []).map((d) => `\n  ${d.message}`).join('');
    throw new Error(`lab ${id}: ${op} failed: ${r.error}${why}`);
  }
}

function pod(status: LabStatus, name: string): PodStatus {
  const p = status.pods.find((x) => x.pod === `${L7_NAMESPACE}/${name}`);
  if (p === undefined) throw new Error(`lab ${status.id} has no pod ${name}`);
  return p;
}

async function bringUp(opts: L7BenchOptions, id: string, bare: boolean): Promise<RunningLab> {
  const start = processStart(process.pid);
  const r = await startLabDaemon({
    id,
    command: opts.serve.command,
    args: opts.serve.args(id),
    up: {
      op: 'up',
      sources: source(clusterManifest(), 'bench-l7-cluster.yaml'),
      routing: 'native',
      datapath: 'nftables',
      enforcer: 'agents',
      ...(bare ? { l7Proxy: 'bare' as const } : {}),
      // The lab lives no longer than this process, whatever ends it.
      ...(start === undefined ? {} : { watch: { pid: process.pid, start } }),
    },
    timeoutMs: UP_TIMEOUT_MS,
  });
  if (!r.ok) throw new Error(`bench l7: lab ${id} did not come up: ${r.error}`);
  const status = await callLab(id, { op: 'status' }, 30_000);
  if (!status.ok) throw new Error(`lab ${id}: status: ${status.error}`);
  const server = pod(status.value, POD.server);
  const node = status.value.nodes.find((n) => n.name === server.node);
  if (node === undefined) throw new Error(`lab ${id}: no node ${server.node}`);
  const nginx = await startL7Server({
    labId: id,
    netns: server.netns,
    ip: server.ip,
    nginx: opts.tools.nginx,
  });
  return {
    id,
    server,
    clients: { 'same-node': pod(status.value, POD.same), 'different-node': pod(status.value, POD.cross) },
    serverNodeNetns: node.netns,
    nginx,
    applied: undefined,
  };
}

/** The policy kind a row's lab holds (bare holds an L7 policy), whose manifest deletes it. */
function heldPolicy(row: Row): string | undefined {
  if (row.kind === 'none') return undefined;
  return row.kind === 'l3l4' ? rowPolicy(row) : l7Manifest(1);
}

/** Moves the lab from the policy it holds to `row`'s: deletes the one it held unless it is replaced. */
async function enforceRow(lab: RunningLab, row: Row): Promise<void> {
  if (lab.applied?.id === row.id) return;
  const prev = lab.applied === undefined ? undefined : heldPolicy(lab.applied);
  const next = rowPolicy(row);
  const replaced = prev !== undefined && next !== undefined && heldPolicy(row) === prev;
  if (prev !== undefined && !replaced) await change(lab.id, 'delete', prev);
  if (next !== undefined) await change(lab.id, 'apply', next);
  lab.applied = row;
}

const url = (lab: RunningLab, row: Row): string =>
  `http://${lab.server.ip}:${HTTP_PORT}${requestPath(row.kind === 'l7' ? row.rules : 1)}`;

async function status(curl: string, netns: string, method: string, target: string): Promise<string> {
  const r = await run(
    [curl, '-s', '-o', '/dev/null', '-w', '%{http_code}', '-m', '5', '-X', method, target],
    { netns, timeoutMs: 15_000 },
  );
  return r.stdout.trim();
}

/** The allowed GET answers 200 from every client; in an L7 row, a POST is answered 403 by the proxy. */
async function checkRow(opts: L7BenchOptions, lab: RunningLab, row: Row): Promise<void> {
  for (const placement of opts.placements) {
    const netns = lab.clients[placement].netns;
    const target = url(lab, row);
    const get = await status(opts.tools.curl, netns, 'GET', target);
    if (get !== '200')
      throw new Error(`bench l7 ${row.id}, ${placement}: GET ${target} answered ${get}, not 200`);
    if (row.kind === 'l7') {
      const post = await status(opts.tools.curl, netns, 'POST', target);
      if (post !== '403')
        throw new Error(
          `bench l7 ${row.id}, ${placement}: POST answered ${post}, not 403: the L7 policy is not enforced`,
        );
    }
  }
}

export async function benchL7(opts: L7BenchOptions): Promise<L7BenchResult> {
  const started = performance.now();
  const rows = opts.rows.some((r) => r.kind === 'none')
    ? [...opts.rows]
    : [{ id: 'none', kind: 'none' as const }, ...opts.rows];
  const l7Rows = rows.filter((r) => r.kind === 'l7');
  const churnRow = opts.churnUpdates > 0 ? l7Rows[0] : undefined;
  // Per round, row and placement: a saturation run, a fixed-rate run and, with a bare row, a low-rate run.
  const perCell = rows.some((r) => r.kind === 'bare') ? 3 : 2;
  const total =
    opts.repeat * rows.length * opts.placements.length * perCell + (churnRow === undefined ? 0 : 1);
  let done = 0;
  const step = (label: string) => {
    opts.signal?.throwIfAborted();
    opts.onProgress?.({ done, total, label });
  };
  const labs: RunningLab[] = [];
  const ids: string[] = [];
  try {
    step('building the lab');
    ids.push(opts.labId);
    const main = await bringUp(opts, opts.labId, false);
    labs.push(main);
    let bare: RunningLab | undefined;
    if (rows.some((r) => r.kind === 'bare')) {
      step('building the bare-proxy lab');
      const id = `${opts.labId}-bare`;
      ids.push(id);
      bare = await bringUp(opts, id, true);
      labs.push(bare);
    }
    const runs: L7Run[] = [];
    const labOf = (row: Row): RunningLab | undefined => (row.kind === 'bare' ? bare : main);
    for (let round = 1; round <= opts.repeat; round++) {
      // Saturation of every row first: the fixed rates are halves of none's and bare's of this round.
      const saturated = new Map<string, Saturated>();
      const key = (row: Row, p: Placement): string => `${row.id}/${p}`;
      for (const row of rows) {
        const lab = labOf(row);
        if (lab === undefined) continue;
        step(`round ${round}, ${row.id}: enforcing`);
        await enforceRow(lab, row);
        await checkRow(opts, lab, row);
        for (const placement of opts.placements) {
          step(`round ${round}, ${row.id}, ${placement}: saturation`);
          const before = await haproxyTicks(lab.serverNodeNetns);
          const sat = await measureSaturation({
            wrk: opts.tools.wrk,
            script: lab.nginx.wrkScript,
            clientNetns: lab.clients[placement].netns,
            url: url(lab, row),
            seconds: opts.seconds,
            ...WRK,
          });
          const after = await haproxyTicks(lab.serverNodeNetns);
          saturated.set(key(row, placement), { sat, before, after });
          done++;
        }
      }
      for (const row of rows) {
        const lab = labOf(row);
        if (lab === undefined) continue;
        step(`round ${round}, ${row.id}: enforcing`);
        await enforceRow(lab, row);
        for (const placement of opts.placements) {
          const s = saturated.get(key(row, placement));
          if (s === undefined) continue;
          const half = (id: string): number | undefined => {
            const r = saturated.get(`${id}/${placement}`)?.sat.perSecond;
            return r === undefined ? undefined : Math.max(1, r / 2);
          };
          const fixedAt = async (rate: number, what: string) => {
            step(`round ${round}, ${row.id}, ${placement}: ${what} ${Math.round(rate)}/s`);
            const f = await measureFixedRate({
              hey: opts.tools.hey,
              clientNetns: lab.clients[placement].netns,
              url: url(lab, row),
              seconds: opts.seconds,
              rate,
              workers: HEY_WORKERS,
            });
            done++;
            return f;
          };
          const fixed = await fixedAt(half('none') ?? s.sat.perSecond / 2, 'fixed rate');
          const lowRate = half('bare');
          const low = lowRate === undefined ? undefined : await fixedAt(lowRate, 'low rate');
          const cpuMs = cpuMsBetween(s.before, s.after);
          runs.push({
            row: row.id,
            placement,
            round,
            rps: Math.round(s.sat.perSecond),
            requests: s.sat.requests,
            failed: s.sat.failed,
            rate: fixed.rate,
            rate_achieved: fixed.achieved,
            p50_ms: fixed.p50Ms,
            p99_ms: fixed.p99Ms,
            rate_failed: fixed.failed,
            low_rate: low?.rate ?? null,
            low_p50_ms: low?.p50Ms ?? null,
            low_p99_ms: low?.p99Ms ?? null,
            low_rate_failed: low?.failed ?? 0,
            haproxy_cpu_ms_per_1k:
              s.after.size === 0 || s.sat.requests === 0
                ? null
                : Math.round((cpuMs / (s.sat.requests / 1000)) * 100) / 100,
          });
        }
      }
    }
    let churn: ChurnResult | null = null;
    if (churnRow !== undefined) {
      const placement = opts.placements[0] ?? 'same-node';
      step(`churn: ${opts.churnUpdates} policy updates under wrk on ${churnRow.id}, ${placement}`);
      churn = await churnCheck(opts, main, churnRow, placement);
      done++;
    }
    opts.onProgress?.({ done: total, total, label: 'done' });
    const rowIds = rows.map((r) => r.id);
    const summary = summarize(runs, rowIds, opts.placements);
    return {
      command: opts.command,
      runs,
      summary,
      churn,
      goals: l7Goals(runs, summary, churn),
      meta: {
        rows: rowIds,
        placements: opts.placements,
        seconds: opts.seconds,
        repeat: opts.repeat,
        wrk: `wrk -t${WRK.threads} -c${WRK.connections}, keep-alive`,
        fixedRate:
          `hey -c ${HEY_WORKERS} -q <rate/${HEY_WORKERS}> (keep-alive) at half of the round's none req/s ` +
          `of the same placement, nearest-rank percentiles of its per-request times (0.1 ms resolution)`,
        elapsedS: Math.round((performance.now() - started) / 1000),
      },
    };
  } finally {
    await Promise.all(labs.map((l) => l.nginx.stop().catch(() => undefined)));
    for (const id of ids) await downLab(id).catch(() => undefined);
  }
}

/**
 * `updates` applies of the L7 policy alternating between two versions that both allow the GET, while wrk
 * runs against the row: every failed request counts.
 */
/** The server node's proxy admin socket (the agent's `<state dir>/l7`, src/agent/daemon.ts). */
function adminSocketOf(lab: RunningLab): string {
  return join(nodeAgentDir(agentsStateDir(lab.id), lab.server.node), 'l7', ADMIN_SOCKET);
}

interface Saturated {
  readonly sat: Awaited<ReturnType<typeof measureSaturation>>;
  readonly before: Awaited<ReturnType<typeof haproxyTicks>>;
  readonly after: Awaited<ReturnType<typeof haproxyTicks>>;
}

async function churnCheck(
  opts: L7BenchOptions,
  lab: RunningLab,
  row: Row,
  placement: Placement,
): Promise<ChurnResult> {
  await enforceRow(lab, row);
  const rules = row.rules ?? 1;
  const wrk = startWrk({
    wrk: opts.tools.wrk,
    script: lab.nginx.wrkScript,
    clientNetns: lab.clients[placement].netns,
    url: url(lab, row),
    // A cap only: wrk is stopped once the last update has landed.
    seconds: 600,
    ...WRK,
  });
  const t0 = performance.now();
  let stopped = false;
  const socket = adminSocketOf(lab);
  const before = await proxyCounters(socket);
  try {
    // Let wrk connect before the first update.
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < opts.churnUpdates; i++) {
      opts.signal?.throwIfAborted();
      await change(lab.id, 'apply', l7Manifest(rules, i % 2));
    }
    const s = await wrk.stop();
    stopped = true;
    const after = await proxyCounters(socket);
    return {
      row: row.id,
      placement,
      updates: opts.churnUpdates,
      updates_s: Math.round((performance.now() - t0) / 100) / 10,
      requests: s.requests,
      failed: s.failed,
      errors: s.errors,
      proxy: counterDelta(before, after),
    };
  } finally {
    if (!stopped) await wrk.stop().catch(() => undefined);
  }
}
