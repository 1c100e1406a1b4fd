/**
 * One DNS exchange with a server, over UDP or TCP, the message relayed as the client wrote it (EDNS,
 * DNSSEC bits and all). Each UDP exchange has its own socket, so its source port is random (RFC 5452)
 * and an answer can only be confused with another's by a spoofer who also guesses the id and question;
 * `accept` rejects datagrams that are not the answer, and the wait goes on.
 */
import { createSocket } from 'node:dgram';
import { connect, isIPv6 } from 'node:net';
import { FrameReader, frame } from './transport.js';

export interface UpstreamAddress {
  readonly host: string;
  readonly port: number;
}

export class UpstreamError extends Error {
  constructor(
    readonly kind: 'timeout' | 'aborted' | 'network',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UpstreamError';
  }
}

/**
 * The one way an exchange ends: the first call of the returned `finish` detaches from `signal`, closes
 * the socket and settles; later calls do nothing. An abort of `signal` finishes with its reason.
 */
function settleOnce(
  signal: AbortSignal,
  close: () => void,
  reject: (err: unknown) => void,
): (settle: () => void) => void {
  let done = false;
  const finish = (settle: () => void): void => {
    if (done) return;
    done = true;
    signal.removeEventListener('abort', onAbort);
    close();
    settle();
  };
  const onAbort = (): void => finish(() => reject(abortError(signal)));
  signal.addEventListener('abort', onAbort);
  return finish;
}

/** Settles with the first datagram `accept` takes, or rejects on `signal` (timeout or shutdown). */
export function exchangeUdp(
  upstream: UpstreamAddress,
  message: Buffer,
  accept: (answer: Buffer) => boolean,
  signal: AbortSignal,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal));
      return;
    }
    const socket = createSocket({ type: isIPv6(upstream.host) ? 'udp6' : 'udp4' });
    const finish = settleOnce(signal, () => socket.close(), reject);
    socket.on('error', (err) =>
      finish(() => reject(new UpstreamError('network', err.message, { cause: err }))),
    );
    socket.on('message', (answer) => {
      if (accept(answer)) finish(() => resolve(answer));
    });
    socket.connect(upstream.port, upstream.host, () => {
      socket.send(message, (err) => {
        if (err) finish(() => reject(new UpstreamError('network', err.message, { cause: err })));
      });
    });
  });
}

/** One query on a fresh TCP connection (RFC 7766); the first message `accept` takes is the answer. */
export function exchangeTcp(
  upstream: UpstreamAddress,
  message: Buffer,
  accept: (answer: Buffer) => boolean,
  signal: AbortSignal,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal));
      return;
    }
    const socket = connect({ host: upstream.host, port: upstream.port });
    const reader = new FrameReader();
    const finish = settleOnce(signal, () => socket.destroy(), reject);
    socket.on('error', (err) =>
      finish(() => reject(new UpstreamError('network', err.message, { cause: err }))),
    );
    socket.on('close', () =>
      finish(() => reject(new UpstreamError('network', 'connection closed before an answer'))),
    );
    socket.on('connect', () => socket.write(frame(message)));
    socket.on('data', (chunk) => {
      for (const answer of reader.push(chunk)) {
        if (accept(answer)) {
          finish(() => resolve(answer));
          return;
        }
      }
    });
  });
}

function abortError(signal: AbortSignal): UpstreamError {
  const reason: unknown = signal.reason;
  const timeout = reason instanceof DOMException && reason.name === 'TimeoutError';
  return new UpstreamError(timeout ? 'timeout' : 'aborted', timeout ? 'upstream timed out' : 'aborted', {
    cause: reason,
  });
}
