import type { Command } from 'commander';
import { chooseTargets, computeHttpMatrix, computeMatrix, matrixOfNamespace } from '../engine/index.js';
import type { SemanticsProfile } from '../engine/index.js';
import type { Protocol } from '../ir/index.js';
import { collect } from './collect.js';
import { DNS_HELP, learntFromFlags } from './dns-flags.js';
import { UsageError } from './exit-codes.js';
import { httpRequestOf } from './http-request.js';
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
  http?: string;
  header: string[];
  dns: string[];
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
    .option(
      '--http <request>',
      "one HTTP request, 'METHOD /path?query', on every pair and TCP port: each cell says what the client " +
        'observes (what the node proxy answers: lab probe --http measures it)',
    )
    .option(
      '-H, --header <header>',
      "request header 'Name: value' (repeatable; Host defaults to each destination's IP)",
      collect,
      [],
    )
    .option('--dns <name=ip>', `${DNS_HELP}; matters where a name resolves to a pod`, collect, [])
    .action(async (opts: MatrixOptions) => {
      if (opts.http === undefined && opts.header.length > 0) throw new UsageError('-H needs --http');
      const learnt = learntFromFlags(opts.dns);
      const loaded = await loadInput(opts.filename, opts.output);
      const model = modelOf(loaded, opts.semantics, learnt);
      const targets = chooseTargets(loaded.cluster, opts.ports, opts.protocols);
      const { http, header } = opts;
      if (http !== undefined) httpRequestOf(http, header, { kind: 'ip', ip: '0.0.0.0' }); // usage errors first
      const all =
        http === undefined
          ? computeMatrix(model, targets)
          : computeHttpMatrix(model, targets, (dst) =>
              httpRequestOf(http, header, { kind: 'endpoint', endpoint: dst }),
            );
      const matrix = opts.namespace === undefined ? all : matrixOfNamespace(all, opts.namespace);
      process.stdout.write(opts.output === 'json' ? formatMatrixJson(matrix) : formatMatrixTables(matrix));
    });
}
