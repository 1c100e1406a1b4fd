import type { Command } from 'commander';
import { explain, explainHttp, findFlowPeer, formatExplanation } from '../engine/index.js';
import type { SemanticsProfile } from '../engine/index.js';
import type { Cluster, FlowPeer, Protocol } from '../ir/index.js';
import { collect } from './collect.js';
import { httpRequestOf } from './http-request.js';
import { UsageError } from './exit-codes.js';
import { loadInput } from './load-input.js';
import { parseOutputFormat } from './output-format.js';
import { parseProtocols } from './targets.js';
import { SEMANTICS_HELP, modelOf, parseSemantics } from './semantics.js';

interface ExplainOptions {
  filename: string[];
  from: string;
  to: string;
  port: string;
  protocol: Protocol[];
  namespace: string;
  output: string;
  semantics: SemanticsProfile;
  http?: string;
  header: string[];
}

/** --from/--to: NS/POD, POD (in -n), or an IP address. */
function peerFlag(cluster: Cluster, text: string, namespace: string, flag: string): FlowPeer {
  const peer = findFlowPeer(cluster, text, namespace);
  if (peer === undefined) {
    const key = text.includes('/') ? text : `${namespace}/${text}`;
    throw new UsageError(`${flag} ${text}: no pod ${key} in the input (and not an IP address)`);
  }
  return peer;
}

export function registerAnalyzeExplain(analyze: Command): void {
  analyze
    .command('explain')
    .description(
      'explain the verdict for one connection: which policies selected each side and which rule decided',
    )
    .requiredOption(
      '-f, --filename <path...>',
      'manifest files or directories (recursive), - for stdin',
      collect,
      [],
    )
    .requiredOption('--from <pod>', 'source: NS/POD, POD (namespace from -n) or an IP address')
    .requiredOption('--to <pod>', 'destination: NS/POD, POD (namespace from -n) or an IP address')
    .requiredOption('--port <port>', 'destination port')
    .option('--protocol <proto>', 'tcp, udp or sctp', parseProtocols, ['TCP'] as Protocol[])
    .option('-n, --namespace <ns>', 'namespace for pods named without one', 'default')
    .option('-o, --output <format>', 'text or json', (v) => parseOutputFormat(v, ['text', 'json']), 'text')
    .option('--semantics <profile>', SEMANTICS_HELP, parseSemantics, 'kubernetes' as SemanticsProfile)
    .option(
      '--http <request>',
      "one HTTP request, 'METHOD /path?query': which L7 rule decides and what the client observes " +
        '(what the node proxy answers: lab probe --http measures it)',
    )
    .option(
      '-H, --header <header>',
      "request header 'Name: value' (repeatable; Host defaults to the destination IP)",
      collect,
      [],
    )
    .action(async (opts: ExplainOptions) => {
      const port = Number(opts.port);
      if (!/^[0-9]+$/.test(opts.port) || port < 1 || port > 65535) {
        throw new UsageError(`--port ${opts.port}: not a port number between 1 and 65535`);
      }
      const [protocol, ...extra] = opts.protocol;
      if (!protocol || extra.length > 0) throw new UsageError('--protocol takes exactly one protocol');
      const loaded = await loadInput(opts.filename, opts.output);
      const model = modelOf(loaded, opts.semantics);
      const src = peerFlag(loaded.cluster, opts.from, opts.namespace, '--from');
      const dst = peerFlag(loaded.cluster, opts.to, opts.namespace, '--to');
      if (src.kind === 'ip' && dst.kind === 'ip') {
        throw new UsageError(
          'at least one of --from and --to must be a pod: no policy applies between two external IPs',
        );
      }
      if (opts.http === undefined && opts.header.length > 0) throw new UsageError('-H needs --http');
      if (opts.http !== undefined && protocol !== 'TCP') throw new UsageError('--http needs --protocol tcp');
      const flow = { src, dst, protocol, port };
      const e =
        opts.http === undefined
          ? explain(model, flow)
          : explainHttp(model, flow, httpRequestOf(opts.http, opts.header, dst));
      process.stdout.write(
        opts.output === 'json' ? `${JSON.stringify(e, null, 2)}\n` : `${formatExplanation(e)}\n`,
      );
    });
}
