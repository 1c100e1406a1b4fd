import type { Command } from 'commander';
import { parseLabelChanges } from '../lab/daemon/desired.js';
import { UsageError } from './exit-codes.js';
import { TIMEOUTS, addIdOption, printChange, request } from './lab-common.js';
import { parseOutputFormat } from './output-format.js';

interface LabelOptions {
  namespace: string;
  output: string;
  id: string;
}

export function registerLabLabel(lab: Command): void {
  addIdOption(
    lab
      .command('label')
      .description(
        'set (KEY=VALUE) or remove (KEY-) labels of a namespace or pod in a running lab and re-enforce',
      )
      .argument('<kind>', 'ns or pod')
      .argument('<name>', 'namespace name, or pod as NS/POD (or POD with -n)')
      .argument('<changes...>', 'KEY=VALUE to set, KEY- to remove')
      .option('-n, --namespace <ns>', 'namespace of a pod named without one', 'default')
      .option(
        '-o, --output <format>',
        'table or json',
        (v) => parseOutputFormat(v, ['table', 'json']),
        'table',
      ),
  ).action(async (kind: string, name: string, args: string[], opts: LabelOptions) => {
    const k = kind === 'namespace' ? 'ns' : kind;
    if (k !== 'ns' && k !== 'pod') throw new UsageError(`label ${kind}: ns or pod`);
    const parsed = parseLabelChanges(args);
    if (!parsed.ok) throw new UsageError(`label: ${parsed.error.message}`);
    const changes = parsed.value;
    const target = k === 'pod' && !name.includes('/') ? `${opts.namespace}/${name}` : name;
    printChange(
      await request(opts.id, { op: 'label', kind: k, name: target, changes }, TIMEOUTS.change, opts.output),
      opts.output,
    );
  });
}
