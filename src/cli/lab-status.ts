import type { Command } from 'commander';
import type { AgentExitStatus, LabStatus } from '../lab/daemon/protocol.js';
import { TIMEOUTS, addIdOption, formatEnforce, request } from './lab-common.js';
import { parseOutputFormat } from './output-format.js';

interface StatusOptions {
  output: string;
  id: string;
}

/** Left-aligned columns, two spaces apart. */
function columns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${s % 60}s` : `${Math.floor(m / 60)}h${m % 60}m`;
}

/** `SIGKILL at 2026-12-07T10:00:00Z (12s ago)`, or `code 1 at …`. */
function exitText(e: AgentExitStatus, now: number): string {
  const how = e.signal ?? `code ${String(e.code)}`;
  return `${how} at ${e.at.replace(/\.\d+Z$/, 'Z')} (${duration(Math.max(0, now - Date.parse(e.at)))} ago)`;
}

export function formatStatus(s: LabStatus, now = Date.now()): string {
  const out = [
    `lab "${s.id}": daemon pid ${s.pid}, up ${duration(s.uptimeMs)} (since ${s.startedAt})`,
    `routing ${s.routing}, datapath ${s.datapath}${s.enforcer === 'agents' ? ' (node agents)' : ''}, sctp ${s.sctpMode}, revision ${s.revision}`,
    `socket ${s.socket}, log ${s.log}`,
    '',
    'NODES',
    ...columns([
      ['NAME', 'IP', 'POD CIDR', 'NETNS', 'CHAINS', 'SETS', 'MAPS', 'ELEMENTS', 'RULES'],
      ...s.nodes.map((n) =>
        'error' in n.kernel
          ? [n.name, n.ip, n.podCidr, n.netns, `unreadable: ${n.kernel.error}`]
          : [
              n.name,
              n.ip,
              n.podCidr,
              n.netns,
              String(n.kernel.chains),
              String(n.kernel.sets),
              String(n.kernel.maps),
              String(n.kernel.elements),
              String(n.kernel.rules),
            ],
      ),
    ]),
    ...(s.agents === undefined
      ? []
      : [
          '',
          'AGENTS',
          ...columns([
            [
              'NODE',
              'PID',
              'STATE',
              'REVISION',
              'SYNCS',
              'FAILURES',
              'ENDPOINTS',
              'RESTARTS',
              'LAST EXIT',
              'ERROR',
            ],
            ...s.agents.map((a) => [
              a.node,
              a.pid > 0 ? String(a.pid) : '-',
              a.state,
              a.appliedRevision ?? '-',
              String(a.syncs ?? '-'),
              String(a.failures ?? '-'),
              String(a.endpoints ?? '-'),
              String(a.restarts ?? '-'),
              a.lastExit === undefined ? '-' : exitText(a.lastExit, now),
              a.error ??
                (a.nextRestartAt === undefined
                  ? ''
                  : `restart due in ${duration(Math.max(0, Date.parse(a.nextRestartAt) - now))}`),
            ]),
          ]),
        ]),
    '',
    'PODS',
    ...columns([
      ['POD', 'NODE', 'IP', 'PORTS', 'LABELS'],
      ...s.pods.map((p) => [
        p.pod,
        p.node,
        p.hostNetwork ? `${p.ip} (host)` : p.ip,
        p.ports.join(',') || '-',
        Object.entries(p.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(',') || '-',
      ]),
    ]),
    '',
    'POLICIES',
  ];
  if (s.policies.length === 0) out.push('(none: everything is allowed)');
  else
    out.push(
      ...columns([
        ['DIALECT', 'TIER', 'KIND', 'NAME'],
        ...[...s.policies]
          .sort((a, b) => a.dialect.localeCompare(b.dialect) || a.tier.localeCompare(b.tier))
          .map((p) => [
            p.dialect,
            p.tier,
            p.kind,
            `${p.namespace === undefined ? '' : `${p.namespace}/`}${p.name}`,
          ]),
      ]),
    );
  if (s.lastEnforce) out.push('', ...formatEnforce(s.lastEnforce));
  return out.join('\n') + '\n';
}

export function registerLabStatus(lab: Command): void {
  addIdOption(
    lab
      .command('status')
      .description(
        'nodes, pods, policies, datapath and what each node has programmed, read back from the kernel',
      )
      .option(
        '-o, --output <format>',
        'table or json',
        (v) => parseOutputFormat(v, ['table', 'json']),
        'table',
      ),
  ).action(async (opts: StatusOptions) => {
    const s = await request(opts.id, { op: 'status' }, TIMEOUTS.status, opts.output);
    process.stdout.write(opts.output === 'json' ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s));
  });
}
