import type { Command } from 'commander';
import { collect } from './collect.js';
import { TIMEOUTS, addIdOption, printChange, readManifests, request } from './lab-common.js';
import { parseOutputFormat } from './output-format.js';

interface ChangeOptions {
  filename: string[];
  output: string;
  id: string;
}

/** `lab apply` and `lab delete`: the same manifests in, the same change report out; only the op differs. */
export function registerManifestChange(lab: Command, op: 'apply' | 'delete', description: string): void {
  addIdOption(
    lab
      .command(op)
      .description(description)
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
  ).action(async (opts: ChangeOptions) => {
    const sources = await readManifests(opts.filename, opts.output);
    printChange(await request(opts.id, { op, sources }, TIMEOUTS.change, opts.output), opts.output);
  });
}
