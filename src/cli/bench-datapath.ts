import type { Command } from 'commander';
import { BACKEND_NAMES } from '../datapath/index.js';
import { isLabId } from '../lab/lab-id.js';
import { netnsSupport } from '../lab/netns.js';
import type { BenchProgress } from '../lab/bench/run.js';
import { DEFAULT_RULES, benchDatapath } from '../lab/bench/run.js';
import { formatTable } from '../lab/bench/report.js';
import { MAX_RULES } from '../lab/bench/rules.js';
import type { HttpClient } from '../lab/bench/tools.js';
import { checkTools } from '../lab/bench/tools.js';
import { UsageError } from './exit-codes.js';
import { parseOutputFormat } from './output-format.js';

interface BenchDatapathOptions {
  rules: number[];
  output: string;
  duration: number;
  concurrency: number;
  latencyCount: number;
  repeat: number;
  labId: string;
  httpClient: HttpClient;
  progress: boolean;
}

export function parseRuleCounts(text: string): number[] {
  const counts = text.split(',').map((s) => {
    const t = s.trim();
    const n = Number(t);
    if (!/^[0-9]+$/.test(t) || n > MAX_RULES) {
      throw new UsageError(`--rules: "${t}" is not a rule count between 0 and ${MAX_RULES}`);
    }
    return n;
  });
  return [...new Set(counts)];
}

function positiveInt(flag: string, max: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^[0-9]+$/.test(text.trim()) || n < 1 || n > max) {
      throw new UsageError(`${flag}: "${text}" is not a whole number between 1 and ${max}`);
    }
    return n;
  };
}

function parseLabId(text: string): string {
  if (!isLabId(text)) throw new UsageError(`--lab-id: "${text}" is not a lab id (a-z, 0-9, -; up to 32)`);
  return text;
}

function parseHttpClient(text: string): HttpClient {
  if (text !== 'ab' && text !== 'hey') throw new UsageError(`--http-client: "${text}" is not ab or hey`);
  return text;
}

/**
 * The progress line on stderr: redrawn in place on a terminal; elsewhere (a log, a test) one line per
 * datapath run, so the log stays readable.
 */
function progressPrinter(): (p: BenchProgress) => void {
  const started = Date.now();
  const tty = process.stderr.isTTY;
  const width = 24;
  return (p) => {
    const filled = p.total === 0 ? width : Math.round((p.done / p.total) * width);
    const secs = Math.round((Date.now() - started) / 1000);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.done}/${p.total} ${secs}s ${p.label}`;
    if (tty) {
      process.stderr.write(`\r\x1b[K${line}${p.done === p.total ? '\n' : ''}`);
    } else if (p.label.endsWith('programming') || p.done === p.total) {
      process.stderr.write(`${line}\n`);
    }
  };
}

export function registerBenchDatapath(bench: Command): void {
  bench
    .command('datapath')
    .description(
      `measure none, ${BACKEND_NAMES.join(', ')} on a 2-node lab: throughput, new-connection rate and connect ` +
        'latency at N rules, time to program N rules and to change one policy (root; see scripts/bench-setup.sh)',
    )
    .option(
      '--rules <list>',
      `rule counts, comma-separated (up to ${MAX_RULES}; 100000 takes a few extra minutes)`,
      parseRuleCounts,
      [...DEFAULT_RULES],
    )
    .option('-o, --output <format>', 'table or json', (v) => parseOutputFormat(v, ['table', 'json']), 'table')
    .option(
      '--duration <seconds>',
      'length of each iperf3 and HTTP client run',
      positiveInt('--duration', 60),
      3,
    )
    .option('--concurrency <n>', 'concurrent HTTP clients', positiveInt('--concurrency', 256), 8)
    .option(
      '--latency-count <n>',
      'sequential connects per latency measurement',
      positiveInt('--latency-count', 10_000),
      200,
    )
    .option(
      '--repeat <k>',
      'runs of each filtering datapath per rule count, each followed by another none run',
      positiveInt('--repeat', 10),
      1,
    )
    .option('--http-client <tool>', 'ab or hey (ab needs less CPU)', parseHttpClient, 'ab' as HttpClient)
    .option('--lab-id <id>', 'id of the lab to build (netns pal-<id>.*)', parseLabId, 'bench')
    .option('--no-progress', 'no progress line on stderr')
    .action(async (opts: BenchDatapathOptions) => {
      const support = await netnsSupport();
      if (!support.ok) throw new UsageError(`bench datapath ${support.reason}`);
      const tools = await checkTools(opts.httpClient);
      if (!tools.ok) {
        throw new UsageError(
          `bench datapath needs ${tools.missing.join(', ')}; install them with: ${tools.fix}`,
        );
      }
      // Ctrl-C stops at the next step and still takes the lab down; a second one exits at once.
      const abort = new AbortController();
      const onSignal = () => {
        if (abort.signal.aborted) process.exit(130);
        process.stderr.write('\npalisade: stopping after the current step, then cleaning up\n');
        abort.abort(new UsageError('bench datapath: interrupted'));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const result = await benchDatapath({
          rules: opts.rules,
          tools: tools.tools,
          labId: opts.labId,
          seconds: opts.duration,
          concurrency: opts.concurrency,
          latencyCount: opts.latencyCount,
          repeat: opts.repeat,
          signal: abort.signal,
          ...(opts.progress ? { onProgress: progressPrinter() } : {}),
        });
        process.stdout.write(
          opts.output === 'json' ? JSON.stringify(result, null, 2) + '\n' : formatTable(result),
        );
      } finally {
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
      }
    });
}
