import type { Command } from 'commander';
import { collect } from './collect.js';
import { TIMEOUTS, addIdOption, printChange, readManifests, request } from './lab-common.js';
import { parseOutputFormat } from './output-format.js';

interface DeleteOptions {
  filename: string[];
  output: string;
  id: string;
}

export function registerLabDelete(lab: Command): void {
  addIdOption(
    lab
      .command('delete')
      .description('remove the policies named in the files from a running lab and re-enforce')
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
  ).action(async (opts: DeleteOptions) => {
    const sources = await readManifests(opts.filename, opts.output);
    printChange(await request(opts.id, { op: 'delete', sources }, TIMEOUTS.change, opts.output), opts.output);
  });
}
