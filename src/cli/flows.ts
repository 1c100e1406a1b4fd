import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_STATE_DIR } from '../agent/index.js';
import {
  FlowLogTail,
  flowLogFiles,
  flowLogPathFor,
  flowLogsIn,
  matchesFilter,
  parseFlowRecord,
  readLines,
} from '../agent/flows/index.js';
import type { FlowEndpoint, FlowFilter, FlowRecord, FlowVerdict } from '../agent/flows/index.js';
import { UsageError } from './exit-codes.js';
import { parseOutputFormat } from './output-format.js';

interface FlowsOptions {
  flowLog?: string;
  node?: string;
  stateDir: string;
  follow?: boolean;
  verdict?: FlowVerdict;
  pod?: string;
  since?: number;
  l7?: boolean;
  output: string;
}

export function parseVerdict(value: string): FlowVerdict {
  if (value !== 'allowed' && value !== 'denied')
    throw new UsageError(`--verdict ${value}: one of allowed, denied`);
  return value;
}

export function parsePod(value: string): string {
  if (!/^[^/\s]+\/[^/\s]+$/.test(value)) throw new UsageError(`--pod ${value}: expected NAMESPACE/NAME`);
  return value;
}

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since 90s|5m|1h|2d` (before `now`) or an RFC 3339 time → epoch ms. */
export function parseSince(value: string, now = Date.now()): number {
  const m = /^(\d+)([smhd])$/.exec(value);
  if (m !== null) return now - Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value)) {
    const t = Date.parse(value);
    if (!Number.isNaN(t)) return t;
  }
  throw new UsageError(`--since ${value}: expected a duration (90s, 5m, 1h, 2d) or an RFC 3339 time`);
}

function side(e: FlowEndpoint): string {
  const addr = e.ip.includes(':') ? `[${e.ip}]` : e.ip;
  const at = e.port === undefined ? addr : `${addr}:${e.port}`;
  return e.pod === undefined ? at : `${e.namespace ?? ''}/${e.pod} (${at})`;
}

/** Who decided, short: the policy and rule, else the default the reason names. */
export function decidedBy(r: FlowRecord): string {
  const p = r.policy;
  if (p !== undefined) {
    const name = `${p.kind} ${p.namespace === undefined ? '' : `${p.namespace}/`}${p.name}`;
    const rule =
      p.rule === undefined
        ? ' (isolation: no rule allows)'
        : ` rule ${p.rule}${p.ruleName === undefined ? '' : ` "${p.ruleName}"`}`;
    return `${name}${rule} [${p.tier}]`;
  }
  const why = r.reason.replace(/^(ingress|egress) of [^:]+: /, '');
  return why.length > 80 ? `${why.slice(0, 77)}...` : why;
}

export const TABLE_HEADER = ['TIME', 'VERDICT', 'SOURCE', '', 'DESTINATION', 'PROTO', 'DECIDED BY'];

export function tableRow(r: FlowRecord): string[] {
  const verdict =
    (r.verdict === 'denied' && r.action === 'Reject' ? 'rejected' : r.verdict) +
    (r.type === 'log' ? ' (log)' : '') +
    (r.attribution === 'stale' ? ' (stale)' : '');
  const suppressed = r.suppressed === undefined ? '' : ` (+${r.suppressed} similar)`;
  // An L7 line says what was asked and what the client got where the protocol goes.
  const proto = r.l7 === undefined ? r.protocol : `${r.l7.method} ${r.l7.path} → ${r.l7.response}`;
  return [
    r.time,
    verdict,
    side(r.source),
    '→',
    side(r.destination),
    proto,
    `${r.direction === undefined ? '' : `${r.direction}: `}${decidedBy(r)}${suppressed}`,
  ];
}

/** Left-aligned columns, two spaces apart. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .map((l) => `${l}\n`)
    .join('');
}

/** The log to read: --flow-log, else the node's default path, else the only one in <state-dir>/flows. */
async function resolveLogPath(opts: FlowsOptions): Promise<string> {
  if (opts.flowLog !== undefined) return opts.flowLog;
  if (opts.node !== undefined) return flowLogPathFor(opts.stateDir, opts.node);
  const logs = await flowLogsIn(opts.stateDir);
  const dir = join(opts.stateDir, 'flows');
  if (logs.length === 1) return logs[0] as string;
  if (logs.length === 0)
    throw new UsageError(`no flow log in ${dir} (is an agent running? --flow-log, --node, --state-dir)`);
  throw new UsageError(
    `several flow logs in ${dir} (${logs.map((l) => basename(l, '.jsonl')).join(', ')}): pick one with --node`,
  );
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const on = (): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve();
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

export function registerFlows(program: Command): void {
  program
    .command('flows')
    .description("print an agent's flow log: each new connection's verdict and the rule that decided")
    .option('--flow-log <path>', 'the log to read (default: <state-dir>/flows/<node>.jsonl)')
    .option('--node <name>', 'the agent of this node (default: the only log in --state-dir)')
    .option('--state-dir <dir>', "the agents' state directory", DEFAULT_STATE_DIR)
    .option('-f, --follow', 'keep printing new lines as they are written (across rotations) until Ctrl-C')
    .option('--verdict <verdict>', 'allowed or denied', parseVerdict)
    .option('--pod <ns/name>', 'flows from or to this pod', parsePod)
    .option('--l7', "only HTTP requests the node's L7 proxy decided (method, path, what the client got)")
    .option(
      '--since <when>',
      'lines at or after: a duration ago (30s, 5m, 1h, 2d) or an RFC 3339 time',
      (v) => parseSince(v),
    )
    .option(
      '-o, --output <format>',
      'table or json (one record per line)',
      (v) => parseOutputFormat(v, ['table', 'json']),
      'table',
    )
    .exitOverride()
    .action(async (opts: FlowsOptions) => {
      const path = await resolveLogPath(opts);
      const files = await flowLogFiles(path);
      if (files.length === 0 && opts.follow !== true)
        throw new UsageError(`${path}: no flow log there (is the agent running with this --flow-log?)`);
      if (files.length > 0) {
        const st = await stat(files[files.length - 1] as string).catch(() => undefined);
        if (st?.isDirectory() === true) throw new UsageError(`${path}: is a directory, not a flow log`);
      }
      const filter: FlowFilter = {
        ...(opts.verdict === undefined ? {} : { verdict: opts.verdict }),
        ...(opts.pod === undefined ? {} : { pod: opts.pod }),
        ...(opts.since === undefined ? {} : { since: opts.since }),
        ...(opts.l7 === true ? { l7: true } : {}),
      };
      const table = opts.output === 'table';
      let headerDone = false;
      const bad = new Map<string, number>();
      let liveBytes = 0;
      const print = (line: string, file: string): void => {
        if (line === '') return;
        const r = parseFlowRecord(line);
        if (r === undefined) {
          bad.set(file, (bad.get(file) ?? 0) + 1);
          return;
        }
        if (!matchesFilter(r, filter)) return;
        if (!table) {
          process.stdout.write(`${line}\n`);
          return;
        }
        // Followed lines come one at a time: align them on the header's widths where they fit.
        if (!headerDone) {
          headerDone = true;
          process.stdout.write(formatTable([TABLE_HEADER]));
        }
        process.stdout.write(formatTable([tableRow(r)]));
      };
      if (table && opts.follow !== true) {
        const rows: string[][] = [];
        for await (const { file, line } of readLines(files)) {
          if (line === '') continue;
          const r = parseFlowRecord(line);
          if (r === undefined) bad.set(file, (bad.get(file) ?? 0) + 1);
          else if (matchesFilter(r, filter)) rows.push(tableRow(r));
        }
        process.stdout.write(formatTable([TABLE_HEADER, ...rows]));
      } else {
        for await (const { file, line } of readLines(files)) {
          if (file === path) liveBytes += Buffer.byteLength(line) + 1;
          print(line, file);
        }
      }
      for (const [file, n] of bad)
        process.stderr.write(`palisade: ${file}: ${n} line(s) are not flow records (skipped)\n`);
      if (opts.follow !== true) return;
      const tail = new FlowLogTail(path, (line) => print(line, path));
      const stop = untilSignal();
      await tail.start(liveBytes);
      await stop;
      await tail.stop();
    });
}
