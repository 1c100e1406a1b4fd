/**
 * A loopback HTTP/1.1 + h2c echo server and a client that reports what it observed in the response
 * vocabulary, for tests of the proxy on loopback (the lab's pods have their own echo server).
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { HttpRequest, L7Response } from '../../src/engine/index.js';

export interface EchoServer {
  readonly port: number;
  close(): Promise<void>;
}

function echo(
  method: string,
  path: string,
  headers: Record<string, unknown>,
  peer: string | undefined,
): string {
  return JSON.stringify({ method, path, headers, clientIP: peer, pod: 'echo' });
}

export async function startEcho(): Promise<EchoServer> {
  const h1 = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(echo(req.method ?? '', req.url ?? '', req.headers, req.socket.remoteAddress));
  });
  const h2 = http2.createServer();
  h2.on('stream', (stream, headers) => {
    if (String(headers['content-type'] ?? '').startsWith('application/grpc')) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    stream.end(
      echo(
        String(headers[':method']),
        String(headers[':path']),
        headers,
        stream.session?.socket.remoteAddress,
      ),
    );
  });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // A client or proxy resetting its connection is part of what the tests do.
    socket.on('error', () => undefined);
    socket.once('data', (chunk) => {
      socket.pause();
      if (!chunk.toString('latin1').startsWith('PRI * HTTP/2.0')) {
        socket.unshift(chunk);
        h1.emit('connection', socket);
        socket.resume();
        return;
      }
      // http2 reads the socket's handle directly, past anything unshifted: hand it a stream instead.
      const wrapped = new Duplex({
        read: () => socket.resume(),
        write: (data: Buffer, _enc, cb) => socket.write(data, cb),
        final: (cb) => socket.end(cb),
      });
      wrapped.push(chunk);
      socket.on('data', (d: Buffer) => {
        if (!wrapped.push(d)) socket.pause();
      });
      socket.on('end', () => wrapped.push(null));
      socket.on('close', () => wrapped.destroy());
      wrapped.on('error', () => undefined);
      h2.emit('connection', wrapped);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Sends one request (gRPC over h2c when its content-type says so) and says what came back. */
export async function observe(port: number, req: HttpRequest, timeoutMs = 3000): Promise<L7Response> {
  const grpc = /^application\/grpc/i.test(
    Object.entries(req.headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? '',
  );
  return grpc ? observeH2(port, req, timeoutMs) : observeH1(port, req, timeoutMs);
}

function observeH1(port: number, req: HttpRequest, timeoutMs: number): Promise<L7Response> {
  return new Promise((resolve) => {
    const r = http.request(
      { host: '127.0.0.1', port, method: req.method, path: req.path, headers: req.headers, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          const forwarded = res.statusCode === 200 && body.includes('"pod":"echo"');
          resolve(forwarded ? 'forwarded' : `http:${res.statusCode ?? 0}`);
        });
      },
    );
    r.setTimeout(timeoutMs, () => {
      r.destroy();
      resolve('dropped');
    });
    r.on('error', () => resolve('reset'));
    r.end();
  });
}

function observeH2(port: number, req: HttpRequest, timeoutMs: number): Promise<L7Response> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const done = (r: L7Response): void => {
      session.destroy();
      resolve(r);
    };
    session.on('error', () => done('reset'));
    const headers: Record<string, string> = { ':method': req.method, ':path': req.path };
    for (const [k, v] of Object.entries(req.headers))
      headers[k.toLowerCase() === 'host' ? ':authority' : k.toLowerCase()] = v;
    const stream = session.request(headers, { endStream: false });
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
    let status: string | undefined;
    stream.on('response', (h) => {
      if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
    });
    stream.on('trailers', (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
    });
    stream.on('data', () => undefined);
    stream.on('end', () =>
      done(status === undefined || status === '0' ? 'forwarded' : `grpc:${Number(status)}`),
    );
    stream.on('error', () => done('reset'));
    stream.setTimeout(timeoutMs, () => done('dropped'));
  });
}
