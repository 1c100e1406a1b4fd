import type { Command } from 'commander';
import { chooseTargets, computeMatrix, matrixOfNamespace } from '../engine/index.js';
import type { SemanticsProfile } from '../engine/index.js';
import type { Protocol } from '../ir/index.js';
import { collect } from './collect.js';
import { loadInput } from './load-input.js';
import { formatMatrixJson, formatMatrixTables } from './format-matrix.js';
import { parseOutputFormat } from './output-format.js';
import { parsePorts, parseProtocols } from './targets.js';
import { SEMANTICS_HELP, modelOf, parseSemantics } from './semantics.js';

interface MatrixOptions {
  filename: string[];
  ports?: number[];
  protocols?: Protocol[];
  output: string;
  semantics: SemanticsProfile;
  namespace?: string;
}

export function registerAnalyzeMatrix(analyze: Command): void {
  analyze
    .command('matrix')
    .description('compute allowed connectivity between every ordered pair of pods')
    .requiredOption(
      '-f, --filename <path...>',
      'manifest files or directories (recursive), - for stdin',
      collect,
      [],
    )
    .option(
      '--ports <list>',
      'ports to check, comma-separated (default: declared containerPorts)',
      parsePorts,
    )
    .option('--protocols <list>', 'protocols to check: tcp,udp,sctp', parseProtocols)
    .option('-n, --namespace <ns>', 'only show pods of this namespace')
    .option('-o, --output <format>', 'table or json', (v) => parseOutputFormat(v, ['table', 'json']), 'table')
    .option('--semantics <profile>', SEMANTICS_HELP, parseSemantics, 'kubernetes' as SemanticsProfile)
    .action(async (opts: MatrixOptions) => {
      const loaded = await loadInput(opts.filename, opts.output);
      const model = modelOf(loaded, opts.semantics);
      const targets = chooseTargets(loaded.cluster, opts.ports, opts.protocols);
      const all = computeMatrix(model, targets);
      const matrix = opts.namespace === undefined ? all : matrixOfNamespace(all, opts.namespace);
      process.stdout.write(opts.output === 'json' ? formatMatrixJson(matrix) : formatMatrixTables(matrix));
    });
}
