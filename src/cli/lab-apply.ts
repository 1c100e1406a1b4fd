import type { Command } from 'commander';
import { collect } from './collect.js';
import { TIMEOUTS, addIdOption, printChange, readManifests, request } from './lab-common.js';
import { parseOutputFormat } from './output-format.js';

interface ApplyOptions {
  filename: string[];
  output: string;
  id: string;
}

export function registerLabApply(lab: Command): void {
  addIdOption(
    lab
      .command('apply')
      .description(
        'add or replace policies (and pod/namespace labels) in a running lab and re-enforce; says what changed',
      )
      .requiredOption(
        '-f, --filename <path...>',
        'manifest files or directories (recursive), - for stdin',
        collect,
        [],
      )
      .option(
        '-o, --output <format>',
        'table or json',
        (v) => parseOutputFormat(v, ['table', 'json']),
        'table',
      ),
  ).action(async (opts: ApplyOptions) => {
    const sources = await readManifests(opts.filename, opts.output);
    printChange(await request(opts.id, { op: 'apply', sources }, TIMEOUTS.change, opts.output), opts.output);
  });
}
