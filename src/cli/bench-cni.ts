import type { Command } from 'commander';
import type { Mode, Variant } from '../lab/bench/cni.js';
import { MODES, VARIANTS, benchCni, bridgeMissing, formatCniTable } from '../lab/bench/cni.js';
import { UsageError } from './exit-codes.js';

interface BenchCniOptions {
  readonly pods: readonly number[];
  readonly variants: readonly Variant[];
  readonly modes: readonly Mode[];
  readonly output: string;
}

function list<T extends string>(allowed: readonly T[], what: string) {
  return (v: string): T[] => {
    const items = v.split(',').map((s) => s.trim());
    for (const i of items)
      if (!(allowed as readonly string[]).includes(i)) throw new UsageError(`unknown ${what} ${i}`);
    return items as T[];
  };
}

export function registerBenchCni(bench: Command): void {
  bench
    .command('cni')
    .description(
      "ADD/DEL latency (p50/p99) of the palisade CNI plugin beside Debian's bridge + host-local, " +
        'sequential and parallel (root; apt-get install containernetworking-plugins)',
    )
    .option(
      '--pods <list>',
      'pod counts, comma-separated',
      (v) =>
        v.split(',').map((s) => {
          const n = Number(s);
          if (!Number.isInteger(n) || n < 1 || n > 1000) throw new UsageError(`--pods: ${s} is not 1-1000`);
          return n;
        }),
      [50, 200],
    )
    .option('--variants <list>', `of ${VARIANTS.join(',')}`, list(VARIANTS, 'variant'), [...VARIANTS])
    .option('--modes <list>', MODES.join(','), list(MODES, 'mode'), [...MODES])
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (o: BenchCniOptions) => {
      if (process.getuid?.() !== 0) throw new UsageError('bench cni needs root (network namespaces)');
      const missing = o.variants.includes('bridge') ? bridgeMissing() : undefined;
      if (missing !== undefined)
        throw new UsageError(`bench cni compares with Debian's bridge plugin: ${missing}`);
      const rows = await benchCni(o);
      process.stdout.write(o.output === 'json' ? JSON.stringify(rows, null, 2) + '\n' : formatCniTable(rows));
    });
}
