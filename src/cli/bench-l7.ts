import type { Command } from 'commander';
import { isLabId } from '../lab/lab-id.js';
import { netnsSupport } from '../lab/netns.js';
import type { L7Progress, L7Tools } from '../lab/bench/l7.js';
import { benchL7 } from '../lab/bench/l7.js';
import type { Placement, RowKind } from '../lab/bench/l7-manifests.js';
import { MAX_L7_RULES, rowsOf } from '../lab/bench/l7-manifests.js';
import { formatL7Table } from '../lab/bench/l7-report.js';
import { setupScript, which } from '../lab/bench/tools.js';
import { UsageError } from './exit-codes.js';
import { mainScript } from './lab-common.js';
import { parseOutputFormat } from './output-format.js';

interface BenchL7Options {
  rows: RowKind[];
  rules: number[];
  placement: Placement[];
  duration: number;
  repeat: number;
  churn: number;
  output: string;
  labId: string;
  progress: boolean;
}

const ROW_KINDS: readonly RowKind[] = ['none', 'l3l4', 'bare', 'l7'];
const PLACEMENT_OF: Readonly<Record<string, Placement>> = {
  same: 'same-node',
  different: 'different-node',
};

function list(text: string): string[] {
  return [...new Set(text.split(',').map((s) => s.trim()))];
}

export function parseRows(text: string): RowKind[] {
  return list(text).map((r) => {
    if (!(ROW_KINDS as readonly string[]).includes(r))
      throw new UsageError(`--rows: "${r}" is not one of ${ROW_KINDS.join(', ')}`);
    return r as RowKind;
  });
}

export function parseL7Rules(text: string): number[] {
  return list(text).map((t) => {
    const n = Number(t);
    if (!/^[0-9]+$/.test(t) || n < 1 || n > MAX_L7_RULES)
      throw new UsageError(`--rules: "${t}" is not a rule count between 1 and ${MAX_L7_RULES}`);
    return n;
  });
}

export function parsePlacements(text: string): Placement[] {
  return list(text).map((p) => {
    const v = PLACEMENT_OF[p];
    if (v === undefined) throw new UsageError(`--placement: "${p}" is not same or different`);
    return v;
  });
}

/** "10s", "10" or "1.5s" → seconds; wrk and hey take whole seconds. */
export function parseDuration(text: string): number {
  const m = /^([0-9]+)s?$/.exec(text.trim());
  const n = Number(m?.[1]);
  if (m === null || n < 1 || n > 300) throw new UsageError(`--duration: "${text}" is not 1s..300s`);
  return n;
}

function wholeNumber(flag: string, min: number, max: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^[0-9]+$/.test(text.trim()) || n < min || n > max)
      throw new UsageError(`${flag}: "${text}" is not a whole number between ${min} and ${max}`);
    return n;
  };
}

function parseLabId(text: string): string {
  // The bare-proxy lab is `<id>-bare`, which must be a lab id too.
  if (!isLabId(text) || !isLabId(`${text}-bare`))
    throw new UsageError(`--lab-id: "${text}" is not a lab id (a-z, 0-9, -; up to 27)`);
  return text;
}

function progressPrinter(): (p: L7Progress) => void {
  const started = Date.now();
  return (p) => {
    const secs = Math.round((Date.now() - started) / 1000);
    process.stderr.write(`[${p.done}/${p.total} ${secs}s] ${p.label}\n`);
  };
}

async function l7Tools(): Promise<L7Tools> {
  const [wrk, hey, nginx, curl] = await Promise.all(['wrk', 'hey', 'nginx', 'curl'].map(which));
  if (wrk === undefined || hey === undefined || nginx === undefined || curl === undefined) {
    const missing = [
      ...(wrk === undefined ? ['wrk'] : []),
      ...(hey === undefined ? ['hey'] : []),
      ...(nginx === undefined ? ['nginx (nginx-light)'] : []),
      ...(curl === undefined ? ['curl'] : []),
    ];
    throw new UsageError(`bench l7 needs ${missing.join(', ')}; install them with: sudo ${setupScript()}`);
  }
  return { wrk, hey, nginx, curl };
}

export function registerBenchL7(bench: Command): void {
  bench
    .command('l7')
    .description(
      'measure what HTTP policy costs on a 2-node lab: req/s at saturation (wrk), p50/p99 at half the ' +
        'no-policy rate (hey), HAProxy CPU per 1k requests, for no policy, L3/L4, a bare proxy hop and ' +
        'L7 policy with N rules; plus failed requests while policy updates land (root; see scripts/bench-setup.sh)',
    )
    .option('--rows <list>', `rows, comma-separated: ${ROW_KINDS.join(', ')} (none always runs)`, parseRows, [
      ...ROW_KINDS,
    ])
    .option(
      '--rules <list>',
      'HTTP rule counts of the l7 rows, comma-separated',
      parseL7Rules,
      [1, 100, 1000],
    )
    .option('--placement <list>', 'client on the same node, a different one, or both', parsePlacements, [
      'same-node',
      'different-node',
    ] as Placement[])
    .option('--duration <seconds>', 'length of each wrk and hey run (e.g. 10s)', parseDuration, 10)
    .option('--repeat <n>', 'rounds of every row, measured back to back', wholeNumber('--repeat', 1, 20), 3)
    .option(
      '--churn <updates>',
      'policy updates landing under wrk against the first l7 row (0: no churn check)',
      wholeNumber('--churn', 0, 1000),
      100,
    )
    .option('-o, --output <format>', 'table or json', (v) => parseOutputFormat(v, ['table', 'json']), 'table')
    .option(
      '--lab-id <id>',
      'id of the lab to build (netns pal-<id>.*; the bare one is <id>-bare)',
      parseLabId,
      'bl7',
    )
    .option('--no-progress', 'no progress lines on stderr')
    .action(async (opts: BenchL7Options) => {
      const support = await netnsSupport();
      if (!support.ok) throw new UsageError(`bench l7 ${support.reason}`);
      const tools = await l7Tools();
      const abort = new AbortController();
      const onSignal = () => {
        if (abort.signal.aborted) process.exit(130);
        process.stderr.write('\npalisade: stopping after the current step, then cleaning up\n');
        abort.abort(new UsageError('bench l7: interrupted'));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const result = await benchL7({
          rows: rowsOf(opts.rows, opts.rules),
          placements: opts.placement,
          seconds: opts.duration,
          repeat: opts.repeat,
          churnUpdates: opts.rows.includes('l7') ? opts.churn : 0,
          labId: opts.labId,
          tools,
          serve: { command: process.execPath, args: (id) => [mainScript(), 'lab', 'serve', '--id', id] },
          command: ['palisade', ...process.argv.slice(2)].join(' '),
          signal: abort.signal,
          ...(opts.progress ? { onProgress: progressPrinter() } : {}),
        });
        process.stdout.write(
          opts.output === 'json' ? JSON.stringify(result, null, 2) + '\n' : formatL7Table(result),
        );
      } finally {
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
      }
    });
}
