/**
 * Helpers of the lab proof (proof.netns.test.ts): one lab for every case of the case table, and the
 * comparison of a measured matrix with the computed one, cell by cell, with an explanation per mismatch.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, readdir, readFile } from 'node:fs/promises';
import { parseSources } from '../../src/dialects/index.js';
import type { Loaded, Source } from '../../src/dialects/index.js';
import { computeMatrix, explain, formatExplanation } from '../../src/engine/index.js';
import type { Cluster, ClusterNode, Endpoint, Namespace, Protocol } from '../../src/ir/endpoint.js';
import { endpointKey } from '../../src/ir/endpoint.js';
import { hasErrors, parseIp } from '../../src/ir/index.js';
import type { EnforceReport } from '../../src/lab/enforce.js';
import type { Lab } from '../../src/lab/lab.js';
import { netnsInScope } from '../../src/lab/lab-id.js';
import { listLinks, listNetns, mapLimit, netnsSupport, run } from '../../src/lab/netns.js';
import { labStateDir } from '../../src/lab/state.js';
import { defaultProbeBinary } from '../../src/lab/probe-process.js';
import type { MeasuredEntry } from '../../src/lab/probe.js';
import { probeMatrix } from '../../src/lab/probe.js';
import type { Case, ExpectedCell } from '../support/case-table.js';

export interface Target {
  readonly port: number;
  readonly protocol: Protocol;
}

export function load(sources: readonly Source[]): Loaded {
  const { value, diagnostics } = parseSources(sources);
  if (hasErrors(diagnostics)) throw new Error(`manifests do not load: ${JSON.stringify(diagnostics)}`);
  return value;
}

/** Why the lab cannot run a case, or undefined when it can. */
export function labCannot(loaded: Loaded): string | undefined {
  const v6Only = loaded.cluster.endpoints.filter(
    (e) => !e.hostNetwork && e.ips.length > 0 && e.ips.every((ip) => parseIp(ip)?.family === 6),
  );
  if (v6Only.length > 0) {
    return (
      `IPv6-only pods (${v6Only.map(endpointKey).join(', ')}): the lab is IPv4-only ` +
      '(planLab addresses and routes pods over IPv4, pal-probe speaks AF_INET)'
    );
  }
  return undefined;
}

/** Every pod, node and namespace of the given clusters, first declaration wins: one lab for all cases. */
export function unionCluster(clusters: readonly Cluster[]): Cluster {
  const pods = new Map<string, Endpoint>();
  const nodes = new Map<string, ClusterNode>();
  const namespaces = new Map<string, Namespace>();
  for (const c of clusters) {
    for (const e of c.endpoints) if (!pods.has(endpointKey(e))) pods.set(endpointKey(e), e);
    for (const n of c.nodes) if (!nodes.has(n.name)) nodes.set(n.name, n);
    for (const n of c.namespaces) if (!namespaces.has(n.name)) namespaces.set(n.name, n);
  }
  return { endpoints: [...pods.values()], nodes: [...nodes.values()], namespaces: [...namespaces.values()] };
}

/** Second looks at a timed-out cell the engine allows; only another timeout earns one more. */
const CONFIRM_ATTEMPTS = 2;

const cellKey = (c: { from: string; to: string; port: number; protocol: Protocol }): string =>
  `${c.protocol}/${c.port} ${c.from} -> ${c.to}`;

export interface ProofOptions {
  /** Probe timeout: how long a denied cell takes. */
  readonly timeoutMs: number;
  /** Timeout of the second look at a cell that timed out although the engine allows it. */
  readonly confirmMs: number;
  readonly concurrency: number;
}

export interface Proof {
  readonly mismatches: readonly string[];
  readonly probes: number;
  /** Cells measured denied: a proof where nothing is denied would prove little. */
  readonly denied: number;
  /** Cells that timed out at `timeoutMs` though allowed, and answered on the second look. */
  readonly slow: number;
  readonly probeMs: number;
}

/**
 * Probes `pods` × `pods` × `targets` on the lab and compares each cell with the engine's matrix for the
 * enforced model and, when given, with the case's expected table. A cell that timed out where the engine
 * says allowed is probed once more with a long timeout before it counts: a timeout under load is no proof
 * of a drop, while an answer is always proof of a pass.
 */
export async function prove(
  lab: Lab,
  report: EnforceReport,
  targets: readonly Target[],
  pods: readonly string[],
  opts: ProofOptions,
  expected?: readonly ExpectedCell[],
): Promise<Proof> {
  const started = Date.now();
  const measured = await probeMatrix(lab, targets, {
    timeoutMs: opts.timeoutMs,
    concurrency: opts.concurrency,
    from: pods,
    to: pods,
  });
  const inScope = new Set(pods);
  const computed = computeMatrix(report.model, targets).results.filter(
    (r) => inScope.has(r.from) && inScope.has(r.to),
  );
  const engine = new Map(computed.map((r) => [cellKey(r), r.allowed]));
  const results: MeasuredEntry[] = [...measured.results];
  const podsByKey = new Map(lab.pods.map((p) => [p.key, p]));
  const doubtful = [...results.entries()].filter(
    ([, r]) => r.result === 'timeout' && engine.get(cellKey(r)) === true,
  );
  // In parallel, so that a hiccup affecting many cells costs seconds, not cells × seconds.
  const confirmed = await mapLimit(doubtful, 64, async ([, r]) => {
    const from = podsByKey.get(r.from);
    const to = podsByKey.get(r.to);
    if (!from || !to) return false;
    for (let attempt = 0; attempt < CONFIRM_ATTEMPTS; attempt++) {
      const again = await lab.prober.probe({
        netns: from.netns,
        ip: to.ip,
        port: r.port,
        protocol: r.protocol,
        timeoutMs: opts.confirmMs,
      });
      if (again.result !== 'timeout') return again.result === 'ok' && again.reply === to.key;
    }
    return false;
  });
  let slow = 0;
  doubtful.forEach(([i, r], k) => {
    if (!confirmed[k]) return;
    slow++;
    results[i] = { ...r, allowed: true, result: 'ok' };
  });
  const probeMs = Date.now() - started;

  const mismatches: string[] = [];
  const order = (xs: readonly { from: string; to: string; port: number; protocol: Protocol }[]) =>
    xs.map(cellKey).join('\n');
  if (order(results) !== order(computed)) {
    mismatches.push(`cells differ in set or order: ${results.length} measured, ${computed.length} computed`);
  }
  const want = new Map((expected ?? []).map((c) => [cellKey(c), c.allowed]));
  if (expected && expected.length !== results.length) {
    mismatches.push(`${expected.length} expected cells, ${results.length} measured`);
  }
  const endpoints = new Map(report.cluster.endpoints.map((e) => [endpointKey(e), e]));
  for (const r of results) {
    const key = cellKey(r);
    const analyzed = engine.get(key);
    const table = want.get(key);
    if (r.allowed === analyzed && (expected === undefined || r.allowed === table)) continue;
    const verdict = (b: boolean | undefined) => (b === undefined ? 'missing' : b ? 'allowed' : 'denied');
    const src = endpoints.get(r.from);
    const dst = endpoints.get(r.to);
    const why =
      src && dst
        ? formatExplanation(
            explain(report.model, {
              src: { kind: 'endpoint', endpoint: src },
              dst: { kind: 'endpoint', endpoint: dst },
              protocol: r.protocol,
              port: r.port,
            }),
          )
        : '(no endpoint to explain)';
    mismatches.push(
      `${key}: probe ${r.result} (${verdict(r.allowed)}), analyzer ${verdict(analyzed)}` +
        (expected === undefined ? '' : `, table ${verdict(table)}`) +
        `\n${why}`,
    );
  }
  const denied = results.filter((r) => !r.allowed).length;
  return { mismatches, probes: measured.results.length, denied, slow, probeMs };
}

/** Compact per-node enforcement summary: `node-1 12ms +3/-1 …`. */
export function formatEnforce(report: EnforceReport): string {
  return report.nodes
    .map((n) => {
      const changes = Object.entries(n.changes)
        .filter(([, v]) => v > 0)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      return `${n.node} ${n.ms}ms ${n.changed ? changes || 'changed' : 'unchanged'}`;
    })
    .join('; ');
}

export function caseSkip(c: Case): string | undefined {
  return labCannot(load(c.sources));
}

export const newLabId = (): string => `t-${randomBytes(4).toString('hex')}`;

/** Processes started for lab `id` (the probe program carries `--lab=<id>` on its command line). */
export async function labPids(id: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmd.split('\0').includes(`--lab=${id}`)) pids.push(Number(entry));
  }
  return pids;
}

/** `nft list tables` of a netns (the root netns when undefined). */
export async function nftTables(netns?: string): Promise<string[]> {
  const out =
    netns === undefined
      ? await run('nft', ['list', 'tables'])
      : await run('ip', ['netns', 'exec', netns, 'nft', 'list', 'tables']);
  return out
    .split('\n')
    .filter((l) => l.startsWith('table '))
    .sort();
}

export const hasTool = (cmd: string): boolean => spawnSync(cmd, ['--version']).status === 0;

/** Why a lab suite cannot run here (no netns support, no probe program, no nft), or false when it can. */
export async function labSkipReason(): Promise<string | false> {
  const support = await netnsSupport();
  if (!support.ok) return support.reason;
  const binary = await access(defaultProbeBinary()).then(
    () => true,
    () => false,
  );
  if (!binary) return 'dist/native/pal-probe missing: run npm run build:native';
  return hasTool('nft') ? false : 'nft is not installed';
}

/** Nothing of lab `lab` outlives `down()`: no netns, root link, nft table beyond `rootTables`, process or state. */
export async function assertLabGone(lab: Lab, rootTables: readonly string[]): Promise<void> {
  assert.deepEqual(
    (await listNetns()).filter((n) => netnsInScope(n, { id: lab.id })),
    [],
    'no netns of the lab (its links and nft tables lived only there)',
  );
  const planned = new Set(
    lab.plan.links.flatMap((k) => (k.kind === 'veth' ? [k.name, k.peer.name] : [k.name])),
  );
  assert.deepEqual(
    (await listLinks()).filter((n) => planned.has(n)),
    [],
    'no link of the lab in the root netns',
  );
  assert.deepEqual(await nftTables(), rootTables, 'the root netns has the nft tables it had before');
  assert.deepEqual(await labPids(lab.id), [], 'no process of the lab');
  await assert.rejects(access(labStateDir(lab.id)), 'no state dir of the lab');
}
