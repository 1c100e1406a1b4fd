/**
 * The node proxy's HAProxy configuration (pure). Its shape depends only on the listening port, the address
 * families and the mode, never on policy: policy lives in the three maps (node-l7.ts), which the runtime API
 * changes in place, so a policy change never reloads HAProxy (proxy.ts reloads only when this text changes).
 *
 * Per request, in order (HAProxy 2.6 `http-request` rules; the regex engine is PCRE2 with JIT):
 * 1. the table of (server ip:port, client ip) from `pairs.map` (or `ip:*` for wide port ranges); none →
 *    `u.0` (fail closed);
 * 2. the egress layer, then the ingress layer, each as the table id says (node-l7.ts): the request key
 *    (request-key.ts) against `rules.map`, first match wins; or the request's cell in `exact.map`
 *    (exact-table.ts); else `fallbacks.map` (which names every table: a table missing there answers `u.0`);
 * 3. the first layer that denies answers: `f.*` → 403 `Access denied` (Envoy's local reply, as Cilium and
 *    Calico answer) or, for gRPC, 200 with `grpc-status: 7` (Envoy maps 403 to PERMISSION_DENIED); `r.*` →
 *    the connection is closed with a reset (Suricata's `reject`, Antrea). `u.0` is answered 403.
 * 4. allowed requests go to the original destination (`server 0.0.0.0`, the address the client connected
 *    to, as TPROXY keeps it) from the client's own address (`usesrc clientip`) and a port of
 *    UPSTREAM_PORTS: the server sees the real
 *    client, and its replies come back through the proxy (the datapath's `socket transparent` rule).
 *    HTTP/2 requests (h2c, gRPC) go upstream as HTTP/2.
 *
 * Every request is one log line on stdout (`L7 …`, parsed by log-line.ts), read by the agent.
 */
import { keyFormat } from './request-key.js';

export interface HaproxyConfigOptions {
  /** Directory of the maps and sockets. */
  readonly dir: string;
  /** TPROXY port (datapath l7-steering.ts). */
  readonly port: number;
  readonly ipv6: boolean;
  /**
   * `bare`: the same proxy hop with no policy at all (the benchmark's physical anchor: what any userspace
   * L7 costs before it decides anything).
   */
  readonly mode: 'policy' | 'bare';
  /**
   * A fixed upstream `ip:port` instead of the original destination, bound on `127.0.0.1:<port>` without
   * transparency: the same policy on loopback, for tests of the maps against the engine.
   */
  readonly upstream?: string;
}

export const MAP_FILES = {
  pairs: 'pairs.map',
  rules: 'rules.map',
  exact: 'exact.map',
  fallbacks: 'fallbacks.map',
} as const;
/**
 * Source ports of the proxy's upstream connections, outside Linux's default ephemeral range
 * (32768-60999, `net.ipv4.ip_local_port_range`) that clients pick theirs from. The upstream connection
 * has the client's address; were the kernel to pick the client's own port too (it may well: both searches
 * start from one hash of the addresses and port), the two connections would share one 4-tuple, hence one conntrack
 * entry whose TCP window tracking then marks packets of both invalid — the HAProxy manual's "a same
 * connection may be seen twice" — and the table drops them: bench l7's churn check saw such requests
 * time out (`wretr` in HAProxy's counters). HAProxy hands the range's ports out itself, one connection
 * each, so it also bounds the upstream connections at 31744 per node.
 */
export const UPSTREAM_PORTS = { from: 1024, to: 32767 } as const;
export const ADMIN_SOCKET = 'admin.sock';
export const MASTER_SOCKET = 'master.sock';

/** What a log line holds, in order (log-line.ts reads them back by position). */
export const LOG_FORMAT =
  'L7 %ci %cp %[dst] %[dst_port] %ST %ts %[var(txn.oe)] %[var(txn.oi)] %[var(txn.o)] %HM ' +
  '%{+Q}[var(txn.pq)] %{+Q}[var(txn.host)] %[var(txn.ver)] %[var(txn.grpc)] %Tt';

const GRPC = '{ req.hdr(content-type) -m reg ^application/grpc(\\+|;|$) }';

export function renderHaproxyConfig(o: HaproxyConfigOptions): string {
  const map = (f: string): string => `${o.dir}/${f}`;
  const binds =
    o.upstream === undefined ? [`  bind 0.0.0.0:${o.port} transparent`] : [`  bind 127.0.0.1:${o.port}`];
  if (o.ipv6)
    binds.push(
      o.upstream === undefined ? `  bind [::]:${o.port} transparent v6only` : `  bind [::1]:${o.port}`,
    );
  const server =
    o.upstream === undefined
      ? `0.0.0.0 source 0.0.0.0:${UPSTREAM_PORTS.from}-${UPSTREAM_PORTS.to} usesrc clientip`
      : o.upstream;
  const policy =
    o.mode === 'bare'
      ? ['  http-request set-var(txn.o) str(a.0)']
      : [
          `  http-request set-var-fmt(txn.pair) "%[dst]:%[dst_port]/%[src]"`,
          `  http-request set-var(txn.t) var(txn.pair),map_str(${map(MAP_FILES.pairs)})`,
          // A wide port range has one table under `*` (node-l7.ts PORTS_PER_RANGE).
          `  http-request set-var-fmt(txn.pair) "%[dst]:*/%[src]" unless { var(txn.t) -m found }`,
          `  http-request set-var(txn.t) var(txn.pair),map_str(${map(MAP_FILES.pairs)}) unless { var(txn.t) -m found }`,
          `  http-request set-var(txn.o) str(${'u.0'}) unless { var(txn.t) -m found }`,
          ...(['E', 'I'] as const).flatMap((d) => {
            const v = d === 'E' ? 'txn.oe' : 'txn.oi';
            const k = d === 'E' ? 'txn.ke' : 'txn.ki';
            const f = d === 'E' ? 'txn.fe' : 'txn.fi';
            const dir = d === 'E' ? 'Egress' : 'Ingress';
            // The table id's first letter says how egress is decided, its second ingress (node-l7.ts).
            const is = (kind: string): string => `{ var(txn.t) -m reg ^${d === 'E' ? '' : '.'}${kind} }`;
            const exactKey = (method: string, path: string): string =>
              `"%[var(txn.t)]/${d}/${method}/${path}"`;
            const lookup = (method: string, path: string, cond: string): string[] => [
              `  http-request set-var-fmt(txn.kx) ${exactKey(method, path)} if ${cond} !{ var(${v}) -m found }`,
              `  http-request set-var(${v}) var(txn.kx),map_str(${map(MAP_FILES.exact)}) if ${cond} !{ var(${v}) -m found }`,
            ];
            return [
              `  http-request set-var-fmt(${k}) "${keyFormat(dir)}" if ${is('r')}`,
              `  http-request set-var(${v}) var(${k}),map_reg(${map(MAP_FILES.rules)}) if ${is('r')}`,
              // Exact cells (exact-table.ts): the request's own cell is the first of these keys present.
              `  http-request set-var(${f}) pathq if ${is('q')}`,
              `  http-request set-var(${f}) path if ${is('p')}`,
              ...lookup('%[method]', `%[var(${f})]`, `{ var(${f}) -m found }`),
              ...lookup('', `%[var(${f})]`, `{ var(${f}) -m found }`),
              ...lookup('%[method]', '', `{ var(${f}) -m found }`),
              `  http-request set-var-fmt(txn.fb) "%[var(txn.t)]:${d}" if { var(txn.t) -m found } !{ var(${v}) -m found }`,
              `  http-request set-var(${v}) var(txn.fb),map_str(${map(MAP_FILES.fallbacks)},u.0) if { var(txn.t) -m found } !{ var(${v}) -m found }`,
            ];
          }),
          // The egress layer answers first when it denies; else the ingress layer's outcome stands.
          '  http-request set-var(txn.o) var(txn.oi) if { var(txn.t) -m found }',
          '  http-request set-var(txn.o) var(txn.oe) if { var(txn.t) -m found } !{ var(txn.oe) -m beg a. }',
          // A trailers-only gRPC answer: content-type needs a payload to be sent, hence the empty lf-string.
          `  http-request return status 200 content-type application/grpc lf-string "%[str()]" hdr grpc-status 7 hdr grpc-message "denied by policy" if { var(txn.o) -m beg f. u. } ${GRPC}`,
          '  http-request return status 403 content-type text/plain lf-string "Access denied\\n" if { var(txn.o) -m beg f. u. }',
          '  http-request reject if { var(txn.o) -m beg r. }',
        ];
  return [
    '# Generated by palisade (src/l7/haproxy-config.ts); policy lives in the maps, changed at run time.',
    'global',
    `  stats socket ${o.dir}/${ADMIN_SOCKET} mode 600 level admin expose-fd listeners`,
    '  log stdout format raw local0 info',
    '  hard-stop-after 30s',
    // Two sockets per connection must fit the usual 20000 open files limit of a service.
    '  maxconn 8000',
    'defaults',
    '  mode http',
    '  log global',
    '  option http-keep-alive',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-request 10s',
    '  timeout http-keep-alive 60s',
    'frontend pal_l7',
    ...binds,
    `  log-format "${LOG_FORMAT}"`,
    '  http-request set-var(txn.pq) pathq',
    '  http-request set-var(txn.host) req.hdr(host)',
    '  http-request set-var(txn.hostonly) req.hdr(host),lower,regsub(:[0-9]*$,)',
    '  http-request set-var(txn.ver) req.ver',
    `  http-request set-var(txn.grpc) str(grpc) if ${GRPC}`,
    ...policy,
    '  use_backend pal_h2 if { req.ver 2.0 }',
    '  default_backend pal_h1',
    'backend pal_h1',
    `  server orig ${server}`,
    'backend pal_h2',
    `  server orig ${server.replace(/^(\S+)/, '$1 proto h2')}`,
    '',
  ].join('\n');
}
