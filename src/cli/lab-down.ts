import type { Command } from 'commander';
import { downLab } from '../lab/daemon/client.js';
import { labDown } from '../lab/fabric.js';
import type { DownReport } from '../lab/fabric.js';
import { UsageError } from './exit-codes.js';
import { TIMEOUTS, addIdOption } from './lab-common.js';
import { parseOutputFormat } from './output-format.js';

interface DownOptions {
  all?: boolean;
  output: string;
  id: string;
}

function summary(r: DownReport): string {
  const parts = [`${r.netns.length} netns`];
  if (r.killed.length > 0) parts.push(`killed ${r.killed.join(', ')}`);
  if (r.links.length > 0) parts.push(`${r.links.length} link(s)`);
  return parts.join(', ');
}

export function registerLabDown(lab: Command): void {
  addIdOption(
    lab
      .command('down')
      .description(
        'remove a lab: its daemon, processes, netns and state; idempotent, and works after a killed run',
      )
      .option('--all', 'remove every pal- object on the machine (every lab)')
      .option(
        '-o, --output <format>',
        'table or json',
        (v) => parseOutputFormat(v, ['table', 'json']),
        'table',
      ),
  ).action(async (opts: DownOptions) => {
    if (process.getuid?.() !== 0) throw new UsageError('lab down needs root (it removes network namespaces)');
    if (opts.all) {
      const r = await labDown({ all: true });
      process.stdout.write(
        opts.output === 'json'
          ? `${JSON.stringify(r, null, 2)}\n`
          : `removed every pal- object: ${r.labs.length > 0 ? `labs ${r.labs.join(', ')}; ` : ''}${summary(r)}\n`,
      );
      return;
    }
    const { viaDaemon, report } = await downLab(opts.id, TIMEOUTS.down);
    if (opts.output === 'json') {
      process.stdout.write(`${JSON.stringify({ viaDaemon, ...report }, null, 2)}\n`);
      return;
    }
    const nothing = !viaDaemon && report.netns.length === 0 && report.killed.length === 0;
    process.stdout.write(
      nothing
        ? `lab "${opts.id}": nothing to remove\n`
        : `lab "${opts.id}" is down (${viaDaemon ? 'by its daemon' : 'daemon gone: removed by name'}): ${summary(report)}\n`,
    );
  });
}
