/**
 * DNS over UDP and TCP on one address and port, for any server that maps a query to an answer (the node's
 * DNS proxy, the lab's cluster DNS). The handler sees whole messages; this module owns sockets, TCP's
 * two-byte length framing (RFC 1035 §4.2.2, RFC 7766 §8 — framing, not message encoding: dns-packet has
 * no call for relaying raw messages) and the bounds: connections, queries pending per connection, idle
 * connections. A socket error never escapes: it is counted and the socket dropped.
 */
import type { Socket as UdpSocket } from 'node:dgram';
import { createSocket } from 'node:dgram';
import type { Server, Socket } from 'node:net';
import { createServer, isIPv6 } from 'node:net';

export type DnsTransport = 'udp' | 'tcp';

export interface DnsClient {
  readonly address: string;
  readonly port: number;
  readonly transport: DnsTransport;
}

/** Returns the answer to send, or undefined to send none (dropped, or the server is closing). */
export type DnsHandler = (message: Buffer, client: DnsClient) => Promise<Buffer | undefined>;

export interface DnsListenerLimits {
  /** Open TCP connections at once; more are refused by the kernel's accept path. Default 256. */
  readonly maxTcpConnections?: number;
  /** Queries one TCP connection may have unanswered; its socket is paused beyond that. Default 16. */
  readonly maxPendingPerConnection?: number;
  /** A TCP connection with nothing to say for this long is closed (RFC 7766 §6.2.3). Default 10 s. */
  readonly tcpIdleMs?: number;
}

export interface ListenAddress {
  readonly host: string;
  /** 0 picks a port free for both UDP and TCP. */
  readonly port: number;
}

/** Either frame or decode, the largest DNS message. */
const MAX_MESSAGE = 0xffff;

/** Prefixes a message with its length, as DNS over TCP carries it. */
export function frame(message: Buffer): Buffer {
  if (message.length > MAX_MESSAGE) throw new RangeError(`DNS message of ${message.length} bytes`);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(message.length);
  return Buffer.concat([head, message]);
}

/** Cuts a TCP byte stream into messages. */
export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);

  /** The whole messages `chunk` completes; a zero-length frame is returned as an empty buffer. */
  push(chunk: Buffer): Buffer[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const out: Buffer[] = [];
    while (this.buffered.length >= 2) {
      const length = this.buffered.readUInt16BE(0);
      if (this.buffered.length < 2 + length) break;
      out.push(this.buffered.subarray(2, 2 + length));
      this.buffered = this.buffered.subarray(2 + length);
    }
    return out;
  }
}

export class DnsListener {
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly connections = new Set<Socket>();
  private closed = false;
  private errorCount = 0;
  private readonly limits: Required<DnsListenerLimits>;

  constructor(
    private readonly handler: DnsHandler,
    limits: DnsListenerLimits = {},
  ) {
    this.limits = {
      maxTcpConnections: limits.maxTcpConnections ?? 256,
      maxPendingPerConnection: limits.maxPendingPerConnection ?? 16,
      tcpIdleMs: limits.tcpIdleMs ?? 10_000,
    };
  }

  /** Socket errors seen (send failures, resets): counted, never thrown. */
  get socketErrors(): number {
    return this.errorCount;
  }

  /** Binds UDP, then TCP on the same port; with port 0, tries again when TCP finds the port taken. */
  async listen(at: ListenAddress): Promise<ListenAddress> {
    if (this.udp || this.tcp) throw new Error('DnsListener: already listening');
    for (let attempt = 0; ; attempt++) {
      const udp = await this.bindUdp(at);
      const port = udp.address().port;
      try {
        this.tcp = await this.bindTcp({ host: at.host, port });
        this.udp = udp;
        return { host: at.host, port };
      } catch (err) {
        udp.close();
        const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
        if (!(inUse && at.port === 0 && attempt < 8)) throw err;
      }
    }
  }

  private bindUdp(at: ListenAddress): Promise<UdpSocket> {
    const socket = createSocket({ type: isIPv6(at.host) ? 'udp6' : 'udp4' });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(at.port, at.host, () => {
        socket.off('error', reject);
        socket.on('error', () => this.errorCount++);
        socket.on('message', (message, rinfo) => {
          const client: DnsClient = { address: rinfo.address, port: rinfo.port, transport: 'udp' };
          void this.handle(message, client, (answer) =>
            socket.send(answer, rinfo.port, rinfo.address, (err) => {
              if (err) this.errorCount++;
            }),
          );
        });
        resolve(socket);
      });
    });
  }

  private bindTcp(at: ListenAddress): Promise<Server> {
    const server = createServer((socket) => this.accept(socket));
    server.maxConnections = this.limits.maxTcpConnections;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: at.port, host: at.host, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', () => this.errorCount++);
        resolve(server);
      });
    });
  }

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.connections.add(socket);
    const reader = new FrameReader();
    const client: DnsClient = {
      address: socket.remoteAddress ?? '',
      port: socket.remotePort ?? 0,
      transport: 'tcp',
    };
    let pending = 0;
    socket.setTimeout(this.limits.tcpIdleMs, () => socket.destroy());
    socket.on('error', () => this.errorCount++);
    socket.on('close', () => this.connections.delete(socket));
    socket.on('data', (chunk) => {
      for (const message of reader.push(chunk)) {
        pending++;
        if (pending >= this.limits.maxPendingPerConnection) socket.pause();
        void this.handle(message, client, (answer) => {
          if (!socket.destroyed && socket.writable) socket.write(frame(answer));
        }).finally(() => {
          pending--;
          if (pending < this.limits.maxPendingPerConnection && !socket.destroyed) socket.resume();
        });
      }
    });
  }

  /** Runs the handler; a throwing handler is a bug, counted, and the query gets no answer. */
  private async handle(message: Buffer, client: DnsClient, send: (answer: Buffer) => void): Promise<void> {
    try {
      const answer = await this.handler(message, client);
      if (answer && !this.closed) send(answer);
    } catch {
      this.errorCount++;
    }
  }

  /** Stops listening and drops every connection; queries still being handled get no answer. */
  async close(): Promise<void> {
    this.closed = true;
    for (const socket of this.connections) socket.destroy();
    this.connections.clear();
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    await Promise.all([
      udp ? new Promise<void>((resolve) => udp.close(() => resolve())) : undefined,
      tcp ? new Promise<void>((resolve) => tcp.close(() => resolve())) : undefined,
    ]);
  }
}
