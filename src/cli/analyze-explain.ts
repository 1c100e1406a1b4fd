import type { Command } from 'commander';
import { explain, explainDnsQuery, explainHttp, findFlowPeer, formatExplanation } from '../engine/index.js';
import type { DnsRefusal, Explanation, LearntNames, SemanticsProfile } from '../engine/index.js';
import type { Cluster, Flow, FlowPeer, Protocol } from '../ir/index.js';
import { collect } from './collect.js';
import {
  DNS_HELP,
  checkDnsName,
  clusterDns,
  learntFromFlags,
  parseDnsRefusal,
  resolveByDns,
} from './dns-flags.js';
import { httpRequestOf } from './http-request.js';
import { UsageError } from './exit-codes.js';
import { loadInput } from './load-input.js';
import { parseOutputFormat } from './output-format.js';
import { parseProtocols } from './targets.js';
import { SEMANTICS_HELP, modelOf, parseSemantics } from './semantics.js';

interface ExplainOptions {
  filename: string[];
  from: string;
  to?: string;
  port?: string;
  protocol?: Protocol[];
  namespace: string;
  output: string;
  semantics: SemanticsProfile;
  http?: string;
  header: string[];
  dns: string[];
  dnsQuery?: string;
  dnsReject?: DnsRefusal;
}

/** --from/--to: NS/POD, POD (in -n), an IP address, or for --to a name --dns resolved. */
function peerFlag(
  cluster: Cluster,
  text: string,
  namespace: string,
  flag: string,
  learnt?: LearntNames,
): { peer: FlowPeer; resolved?: { name: string; ip: string } } {
  const peer = findFlowPeer(cluster, text, namespace);
  if (peer !== undefined) return { peer };
  const resolved = resolveByDns(text, learnt);
  if (resolved !== undefined) {
    const ip = findFlowPeer(cluster, resolved.ip, namespace);
    if (ip !== undefined) return { peer: ip, resolved };
  }
  const key = text.includes('/') ? text : `${namespace}/${text}`;
  const name = learnt === undefined ? '' : ', nor a name --dns resolves';
  throw new UsageError(`${flag} ${text}: no pod ${key} in the input (and not an IP address${name})`);
}

/** What the client observes of a connection (the `response` vocabulary of --http and --dns-query). */
function connectionResponse(e: Explanation, protocol: Protocol): 'forwarded' | 'reset' | 'dropped' {
  if (e.verdict.allowed) return 'forwarded';
  return e.verdict.action === 'Reject' && protocol === 'TCP' ? 'reset' : 'dropped';
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
    .option(
      '--to <pod>',
      'destination: NS/POD, POD (namespace from -n), an IP address or a name --dns resolves ' +
        '(with --dns-query: the DNS server, default the kube-system pods labelled k8s-app=kube-dns)',
    )
    .option('--port <port>', 'destination port (required, except with --dns-query: 53)')
    .option('--protocol <proto>', 'tcp, udp or sctp (default tcp; with --dns-query udp)', parseProtocols)
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
    .option('--dns <name=ip>', DNS_HELP, collect, [])
    .option(
      '--dns-query <name>',
      'one DNS query from --from for NAME: which DNS rule decides and what the client gets ' +
        '(forwarded, dns:REFUSED, dns:NXDOMAIN or dropped; enforced offline only)',
    )
    .option(
      '--dns-reject <code>',
      'what a query DNS rules refuse gets: refused (default, as Cilium) or nxdomain ' +
        "(Cilium's --tofqdns-dns-reject-response-code=nameError)",
      parseDnsRefusal,
    )
    .action(async (opts: ExplainOptions) => {
      const query = opts.dnsQuery === undefined ? undefined : checkDnsName(opts.dnsQuery, '--dns-query');
      if (query !== undefined && opts.http !== undefined)
        throw new UsageError('--dns-query and --http ask about different requests: give one');
      if (query === undefined && opts.dnsReject !== undefined)
        throw new UsageError('--dns-reject needs --dns-query');
      if (opts.port === undefined && query === undefined) throw new UsageError('--port is required');
      if (opts.to === undefined && query === undefined) throw new UsageError('--to is required');
      const portText = opts.port ?? '53';
      const port = Number(portText);
      if (!/^[0-9]+$/.test(portText) || port < 1 || port > 65535) {
        throw new UsageError(`--port ${portText}: not a port number between 1 and 65535`);
      }
      const [protocol, ...extra] = opts.protocol ?? [query === undefined ? 'TCP' : 'UDP'];
      if (!protocol || extra.length > 0) throw new UsageError('--protocol takes exactly one protocol');
      const learnt = learntFromFlags(opts.dns);
      const loaded = await loadInput(opts.filename, opts.output);
      const model = modelOf(loaded, opts.semantics, learnt);
      const src = peerFlag(loaded.cluster, opts.from, opts.namespace, '--from').peer;
      let dst: FlowPeer;
      let resolved: { name: string; ip: string } | undefined;
      if (opts.to !== undefined) {
        ({ peer: dst, resolved } = peerFlag(loaded.cluster, opts.to, opts.namespace, '--to', learnt));
      } else {
        const server = clusterDns(loaded.cluster);
        if (server === undefined)
          throw new UsageError(
            '--dns-query: no cluster DNS in the input (pods labelled k8s-app=kube-dns in kube-system): ' +
              'name the DNS server with --to',
          );
        dst = server;
      }
      if (src.kind === 'ip' && dst.kind === 'ip') {
        throw new UsageError(
          'at least one of --from and --to must be a pod: no policy applies between two external IPs',
        );
      }
      if (query !== undefined && src.kind !== 'endpoint')
        throw new UsageError('--dns-query asks what a pod gets: --from must be a pod');
      if (opts.http === undefined && opts.header.length > 0) throw new UsageError('-H needs --http');
      if (opts.http !== undefined && protocol !== 'TCP') throw new UsageError('--http needs --protocol tcp');
      const flow: Flow = { src, dst, protocol, port };
      const e =
        query !== undefined
          ? explainDnsQuery(
              model,
              flow,
              query,
              opts.dnsReject === undefined ? {} : { refuseWith: opts.dnsReject },
            )
          : opts.http !== undefined
            ? explainHttp(model, flow, httpRequestOf(opts.http, opts.header, dst))
            : learnt === undefined
              ? explain(model, flow)
              : withResponse(explain(model, flow), protocol);
      const out = resolved === undefined ? e : { ...e, resolved };
      const head =
        resolved === undefined ? '' : `--to ${resolved.name}: ${resolved.ip} (as --dns resolves it)\n`;
      process.stdout.write(
        opts.output === 'json' ? `${JSON.stringify(out, null, 2)}\n` : `${head}${formatExplanation(e)}\n`,
      );
    });
}

/** With --dns, a connection's explanation says what the client observes, as --http and --dns-query do. */
function withResponse(
  e: Explanation,
  protocol: Protocol,
): Explanation & { readonly verdict: Explanation['verdict'] & { readonly response: string } } {
  return { ...e, verdict: { ...e.verdict, response: connectionResponse(e, protocol) } };
}
