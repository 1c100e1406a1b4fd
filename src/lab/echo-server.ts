/**
 * What every lab pod answers on its declared TCP ports, like upstream's agnhost netexec: HTTP/1.1 and h2c
 * (prior knowledge) on the same port, served by Node's own `http` and `http2` modules.
 *
 * - any path: 200 with a JSON echo {method, path, host, headers, clientIP, pod} (EchoBody), where
 *   `clientIP` is the peer address as the server sees it: it proves a proxy on the way is transparent;
 * - `/hostname`: the pod's name; `/clientip`: the client's `ip:port`;
 * - PROBE_PATH: the pod's `namespace/name`, which the L3/L4 TCP probe (native/pal-probe) asks for;
 * - a gRPC call (HTTP/2 with `content-type: application/grpc…`): OK, i.e. 200, an empty message and the
 *   trailer `grpc-status: 0`.
 *
 * Which protocol a connection speaks is told by its first bytes: the HTTP/2 connection preface
 * (RFC 9113 §3.4) goes to the http2 server, anything else to the http server. That is dispatch on a fixed
 * prefix, not parsing: the servers parse.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import type { Server as NetServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttp2Server } from 'node:http2';
import type { IncomingHttpHeaders as Http2Headers, ServerHttp2Stream } from 'node:http2';

/** The path the L3/L4 TCP probe requests (`GET /pal-probe HTTP/1.0`); the answer is the pod's key. */
export const PROBE_PATH = '/pal-probe';

/**
 * Every answer names the pod that gave it in this header, whatever the path or protocol (the body of
 * `/hostname` or of a gRPC call does not): `lab probe --http` tells a forwarded request from a proxy's
 * own answer by it.
 */
export const POD_HEADER = 'x-palisade-pod';

/** The JSON every other path answers with. */
export interface EchoBody {
  readonly method: string;
  /** The request target as received, query included. */
  readonly path: string;
  /** `Host` (HTTP/1.1) or `:authority` (HTTP/2); '' when the request had none. */
  readonly host: string;
  /** Header fields as received, names in lower case, without HTTP/2 pseudo-headers. */
  readonly headers: Readonly<Record<string, string>>;
  /** The peer's address as this server sees it. */
  readonly clientIP: string;
  /** `namespace/name` of the pod that answered. */
  readonly pod: string;
}

export interface EchoPod {
  readonly namespace: string;
  readonly name: string;
}

/** What a request gets, decided from plain data (no sockets), so it can be tested as a table. */
export interface EchoAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

export interface EchoRequest {
  readonly method: string;
  readonly path: string;
  readonly host: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly clientIP: string;
  readonly clientPort: number;
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n');

/** gRPC is HTTP/2 with `content-type: application/grpc[+proto|…]` (grpc PROTOCOL-HTTP2.md). */
export function isGrpcContentType(value: string | undefined): boolean {
  return /^application\/grpc(\+|;|$)/i.test(value ?? '');
}

/** The answer to a (non-gRPC) request on `pod`. */
export function echoAnswer(pod: EchoPod, req: EchoRequest): EchoAnswer {
  const key = `${pod.namespace}/${pod.name}`;
  const pathOnly = req.path.split('?')[0];
  const text = (body: string): EchoAnswer => ({ status: 200, contentType: 'text/plain', body });
  if (pathOnly === '/hostname') return text(pod.name);
  if (pathOnly === '/clientip') return text(`${req.clientIP}:${req.clientPort}`);
  if (pathOnly === PROBE_PATH) return text(key);
  const echo: EchoBody = {
    method: req.method,
    path: req.path,
    host: req.host,
    headers: req.headers,
    clientIP: req.clientIP,
    pod: key,
  };
  return { status: 200, contentType: 'application/json', body: `${JSON.stringify(echo)}\n` };
}

/** `::ffff:10.0.0.1` → `10.0.0.1`: a dual-stack socket's view of an IPv4 peer. */
function plainIp(address: string | undefined): string {
  const a = address ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

function h1Headers(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function h2Headers(h: Http2Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith(':') || v === undefined) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

/**
 * The connection with the bytes the sniffer already read put back in front: the http server consumes a
 * net.Socket's handle natively (bytes unshifted in JS would be lost), so it gets a plain Duplex, which
 * Node's http server accepts as a connection. The http2 server reads bytes left in a socket's buffer
 * itself, so it gets the socket.
 */
function withHead(sock: Socket, head: Buffer): Duplex {
  const d = new Duplex({
    read() {
      sock.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      sock.write(chunk, cb);
    },
    final(cb) {
      sock.end();
      cb();
    },
    destroy(err, cb) {
      sock.destroy(err ?? undefined);
      cb(err);
    },
  });
  d.push(head);
  sock.on('data', (c: Buffer) => {
    if (!d.push(c)) sock.pause();
  });
  sock.on('end', () => d.push(null));
  sock.on('error', (e) => d.destroy(e));
  sock.on('close', () => d.destroy());
  return d;
}

/** A server for one pod: listen on it with `listen({ fd })` or any address. */
export function createEchoServer(pod: EchoPod): NetServer {
  const key = `${pod.namespace}/${pod.name}`;
  const peers = new WeakMap<object, Socket>();

  const h1 = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const sock = peers.get(req.socket) ?? req.socket;
    req.resume();
    req.on('end', () => {
      const a = echoAnswer(pod, {
        method: req.method ?? '',
        path: req.url ?? '',
        host: req.headers.host ?? '',
        headers: h1Headers(req.headers),
        clientIP: plainIp(sock.remoteAddress),
        clientPort: sock.remotePort ?? 0,
      });
      res.writeHead(a.status, {
        'content-type': a.contentType,
        'content-length': Buffer.byteLength(a.body),
        [POD_HEADER]: key,
      });
      res.end(a.body);
    });
  });
  h1.on('clientError', (_err, socket) => socket.destroy());

  const h2 = createHttp2Server();
  h2.on('stream', (stream: ServerHttp2Stream, headers: Http2Headers) => {
    stream.on('error', () => undefined);
    stream.resume();
    stream.on('end', () => {
      if (stream.destroyed) return;
      if (isGrpcContentType(headers['content-type'])) {
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', [POD_HEADER]: key },
          { waitForTrailers: true },
        );
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        // One empty message: not compressed, length 0 (grpc PROTOCOL-HTTP2.md, Length-Prefixed-Message).
        stream.end(Buffer.alloc(5));
        return;
      }
      const sock = stream.session?.socket;
      const a = echoAnswer(pod, {
        method: String(headers[':method'] ?? ''),
        path: String(headers[':path'] ?? ''),
        host: String(headers[':authority'] ?? headers.host ?? ''),
        headers: h2Headers(headers),
        clientIP: plainIp(sock?.remoteAddress),
        clientPort: sock?.remotePort ?? 0,
      });
      stream.respond({ ':status': a.status, 'content-type': a.contentType, [POD_HEADER]: key });
      stream.end(a.body);
    });
  });
  h2.on('sessionError', () => undefined);

  return createNetServer((sock) => {
    sock.on('error', () => sock.destroy());
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const n = Math.min(head.length, PREFACE.length);
      const maybeH2 = head.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (maybeH2 && head.length < PREFACE.length) return; // too short to tell yet
      sock.off('data', onData);
      sock.pause();
      if (maybeH2) {
        sock.unshift(head);
        h2.emit('connection', sock);
      } else {
        const d = withHead(sock, head);
        peers.set(d, sock);
        h1.emit('connection', d);
      }
    };
    sock.on('data', onData);
  });
}
