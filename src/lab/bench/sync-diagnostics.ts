/**
 * What `bench sync` records when a sample times out (an incident): the state that decides a packet's fate
 * on each node, taken at that moment, before the lab is torn down. Per node netns: the Palisade table
 * (`nft -a list table inet palisade`), the conntrack table with marks (`conntrack -L -o extended`) and its
 * per-netns statistics (`conntrack -S`), and the agent's log; plus the agents' status. Written to a
 * directory when one is given; a one-line summary per node (entries, entries carrying the strict cut bit,
 * entries between the probe's two pods) always goes to the progress output, so that even a CI log shows
 * whether strict mode had marked the probed connections.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentStatus } from '../../agent/index.js';
import { parseConntrackLine } from '../../agent/conntrack.js';
import type { ConntrackEntry } from '../../agent/conntrack.js';
import { etcdClient } from '../../agent/sources/index.js';
import { STRICT_CUT_MARK } from '../../datapath/index.js';
import { run } from '../../util/process.js';

const COMMAND_MS = 10_000;

/**
 * The agents' own account of themselves, one clause per node: connected, syncing (how many, the last one,
 * the revision it applied), and what strict mode did (sweeps, cuts, its last sweep and error), so that a
 * stale agent (applied revision behind the datastore's, sweeps that stopped) shows in one line. Pure.
 */
export function agentsText(statuses: readonly (AgentStatus | { node: string; error: string })[]): string {
  return statuses
    .map((st) => {
      if ('error' in st) return `${st.node}: ${st.error}`;
      const ds = st.datastore.connected ? 'up' : `down (${st.datastore.error ?? '?'})`;
      const last = st.lastSync;
      const strict = st.strict;
      const sweep = strict?.lastSweep;
      return (
        `${st.node}: ${st.state}, datastore ${ds}, ${st.syncs} syncs, last at ${last?.at ?? '-'} ` +
        `ok=${String(last?.ok)} ${last?.ms ?? '-'} ms, ${last?.counts.policies ?? '-'} policies, ` +
        `applied revision ${st.appliedRevision ?? '-'}` +
        (strict === undefined || !strict.enabled
          ? ''
          : `, strict ${strict.sweeps} sweeps ${strict.cutTotal} cut` +
            (sweep === undefined
              ? ''
              : ` (last at ${sweep.at}, generation ${sweep.generation}, ${sweep.ms} ms, ` +
                `${sweep.cut} cut ${sweep.restored} restored)`) +
            (strict.error === undefined ? '' : `, strict error: ${strict.error}`))
      );
    })
    .join('; ');
}

/** `etcd at revision N; `: an agent whose applied revision lags it after a sample missed events. */
export async function etcdRevisionText(hosts: readonly string[]): Promise<string> {
  const c = etcdClient(hosts);
  try {
    const r = await c.getAll().prefix('/').limit(1).exec();
    return `etcd at revision ${r.header.revision}; `;
  } catch (e) {
    return `etcd revision unknown (${e instanceof Error ? e.message : String(e)}); `;
  } finally {
    c.close();
  }
}

export interface DiagnosedNode {
  readonly name: string;
  readonly netns: string;
  /** The agent's log file. */
  readonly log: string;
}

export interface IncidentProbe {
  /** The probing and the probed pod's addresses. */
  readonly from: string;
  readonly to: string;
}

/** One node's conntrack table seen from strict mode: how much it cut, and what it holds for the probe. */
export interface ConntrackSummary {
  readonly entries: number;
  /** Entries carrying STRICT_CUT_MARK. */
  readonly cut: number;
  /** Entries from the probing pod to the probed one (either original direction), as `conntrack` prints them. */
  readonly probe: readonly string[];
}

const isCut = (e: ConntrackEntry): boolean => e.mark !== undefined && (e.mark & STRICT_CUT_MARK) !== 0;

/** Reads `conntrack -L -o extended` output (pure). */
export function summarizeConntrack(text: string, probe: IncidentProbe): ConntrackSummary {
  let entries = 0;
  let cut = 0;
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    const e = parseConntrackLine(line);
    if (e === undefined) continue;
    entries += 1;
    if (isCut(e)) cut += 1;
    const pair = new Set([e.src, e.replySrc]);
    if (pair.has(probe.from) && pair.has(probe.to)) lines.push(line.trim());
  }
  return { entries, cut, probe: lines };
}

export function summaryLine(node: string, s: ConntrackSummary, probeShown = 3): string {
  const shown = s.probe.slice(0, probeShown).map((l) => `\n    ${l}`);
  const more = s.probe.length > probeShown ? `\n    … ${s.probe.length - probeShown} more` : '';
  return (
    `${node}: conntrack ${s.entries} entries, ${s.cut} cut by strict mode, ` +
    `${s.probe.length} between the probe's pods${shown.join('')}${more}`
  );
}

async function output(netns: string, argv: readonly string[]): Promise<string> {
  const r = await run(argv, { netns, timeoutMs: COMMAND_MS }).catch((e: unknown) => ({
    code: -1,
    stdout: '',
    stderr: e instanceof Error ? e.message : String(e),
    timedOut: false,
  }));
  const status = r.timedOut ? ` (killed after ${COMMAND_MS} ms)` : r.code !== 0 ? ` (exit ${r.code})` : '';
  return `# ${argv.join(' ')}${status}\n${r.stdout}${r.stderr === '' ? '' : `# stderr:\n${r.stderr}`}`;
}

/**
 * Captures the nodes' state for an incident: returns the summary lines, and writes everything to `dir`
 * (created) when given.
 */
export async function captureIncident(opts: {
  readonly nodes: readonly DiagnosedNode[];
  readonly probe: IncidentProbe;
  readonly statuses: () => Promise<unknown>;
  readonly dir?: string;
}): Promise<string[]> {
  const { nodes, probe, dir } = opts;
  if (dir !== undefined) await mkdir(dir, { recursive: true });
  const lines: string[] = [];
  for (const n of nodes) {
    const conntrack = await output(n.netns, ['conntrack', '-L', '-o', 'extended']);
    lines.push(summaryLine(n.name, summarizeConntrack(conntrack, probe)));
    if (dir === undefined) continue;
    const table = await output(n.netns, ['nft', '-a', 'list', 'table', 'inet', 'palisade']);
    const stats = await output(n.netns, ['conntrack', '-S']);
    await writeFile(join(dir, `${n.name}.nft`), table);
    await writeFile(join(dir, `${n.name}.conntrack`), `${conntrack}\n${stats}`);
    await copyFile(n.log, join(dir, `${n.name}.agent.log`)).catch(() => undefined);
  }
  if (dir !== undefined) {
    const status = await opts.statuses().catch((e: unknown) => ({ error: String(e) }));
    await writeFile(join(dir, 'status.json'), JSON.stringify({ probe, status }, null, 2));
    lines.push(`written to ${dir}`);
  }
  return lines;
}

/** Copies each agent's log to `dir` (created) as `<node>.agent.log`. */
export async function keepLogs(
  agents: readonly { readonly node: string; readonly log: string }[],
  dir: string,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const a of agents) await copyFile(a.log, join(dir, `${a.node}.agent.log`));
}
