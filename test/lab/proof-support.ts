/**
 * Helpers of the lab proof (proof.netns.test.ts): one lab for every case of the case table, and the
 * comparison of a measured matrix with the computed one (src/lab/verify.ts), with an explanation per
 * mismatch.
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
import { listLinks, listNetns, netnsSupport, run } from '../../src/lab/netns.js';
import { labStateDir } from '../../src/lab/state.js';
import { defaultProbeBinary } from '../../src/lab/probe-process.js';
import { probeMatrix } from '../../src/lab/probe.js';
import { formatMismatch, labReprobe, verify } from '../../src/lab/verify.js';
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

export interface ProofOptions {
  /** Probe timeout: how long a denied cell takes. */
  readonly timeoutMs: number;
  /** Timeout of the second look at a cell that timed out although the engine allows it. */
  readonly confirmMs: number;
  readonly concurrency: number;
}

/** Second looks at a timed-out cell the engine allows (only another timeout earns one more), and how many at once. */
export const CONFIRM = { attempts: 2, concurrency: 64 } as const;

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
 * Probes `pods` × `pods` × `targets` on the lab and verifies each cell (src/lab/verify.ts) against the
 * engine's matrix for the enforced model and, when given, the case's expected table; each mismatching
 * cell comes with the engine's explanation.
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
  const verified = await verify(measured, computed, labReprobe(lab), {
    confirmMs: opts.confirmMs,
    ...CONFIRM,
    ...(expected === undefined ? {} : { expected }),
  });
  const probeMs = Date.now() - started;
  const endpoints = new Map(report.cluster.endpoints.map((e) => [endpointKey(e), e]));
  const mismatches = verified.mismatches.map((m) => {
    if (m.code !== 'cell') return formatMismatch(m);
    const src = endpoints.get(m.cell.from);
    const dst = endpoints.get(m.cell.to);
    const why =
      src && dst
        ? formatExplanation(
            explain(report.model, {
              src: { kind: 'endpoint', endpoint: src },
              dst: { kind: 'endpoint', endpoint: dst },
              protocol: m.cell.protocol,
              port: m.cell.port,
            }),
          )
        : '(no endpoint to explain)';
    return `${formatMismatch(m)}\n${why}`;
  });
  const denied = verified.matrix.results.filter((r) => !r.allowed).length;
  return { mismatches, probes: measured.results.length, denied, slow: verified.slow, probeMs };
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
