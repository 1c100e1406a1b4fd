/**
 * How requests reach the lab daemon and answers leave it, and in what order they run.
 *
 * Start-up runs over the process's own pipes: the build request arrives on stdin (readAll) and the outcome
 * leaves on fd 3 (reportReady). After that, one JSON request per connection on the lab's unix socket, one
 * JSON answer, then the connection closes (protocol.ts). Requests that change or measure the lab run one at
 * a time, so a probe never sees a half-applied policy; `status` does not wait for them.
 */
import { closeSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { LabInputError } from './desired.js';
import { LabRequestError, MAX_MESSAGE_BYTES, REQUEST_READ_TIMEOUT_MS, safeParseRequest } from './protocol.js';
import type { LabFailure, LabRequest, LabResponse } from './protocol.js';

/** Ready-channel fd (stdio[3] of the spawning client). */
const READY_FD = 3;

/** Reads `stream` to its end, bounded in size and time (the build request on stdin). */
export async function readAll(stream: NodeJS.ReadableStream, timeoutMs: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  const timer = setTimeout(
    () => stream.emit('error', new Error('timed out reading the build request')),
    timeoutMs,
  );
  try {
    for await (const chunk of stream) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      size += b.length;
      if (size > MAX_MESSAGE_BYTES) throw new Error(`build request larger than ${MAX_MESSAGE_BYTES} bytes`);
      chunks.push(b);
    }
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Writes the start-up outcome to fd 3 and closes it; a daemon started by hand has no fd 3. */
export function reportReady(response: LabResponse<unknown>): void {
  try {
    writeSync(READY_FD, `${JSON.stringify(response)}\n`);
    closeSync(READY_FD);
  } catch {
    // nobody is listening
  }
}

/** Answers a request with `failure` as it is (e.g. with the diagnostics of input that did not load). */
export class RequestFailed extends Error {
  override readonly name = 'RequestFailed';
  constructor(readonly failure: LabFailure) {
    super(failure.error);
  }
}

/** The request or its input is at fault: the client's to fix (exit 1), not a failure of the lab. */
const isUsage = (err: unknown): boolean => err instanceof LabRequestError || err instanceof LabInputError;

/** The answer for an error: its own failure, `usage` for the client's mistakes, else `internal`. */
export function failureOf(err: unknown): LabFailure {
  if (err instanceof RequestFailed) return err.failure;
  const message = err instanceof Error ? err.message : String(err);
  return { ok: false, error: message, kind: isUsage(err) ? 'usage' : 'internal' };
}

export interface TransportOptions {
  readonly socket: string;
  /** What a request does; its value is the answer, a thrown error becomes a failure (failureOf). */
  readonly run: (request: LabRequest) => Promise<unknown>;
  /** Called once the answer was sent (or could not be: the client left). */
  readonly answered?: (request: LabRequest, response: LabResponse<unknown>) => void;
  readonly log: (line: string) => void;
}

export class Transport {
  readonly #opts: TransportOptions;
  #queue: Promise<unknown> = Promise.resolve();
  #server: Server | undefined;

  constructor(opts: TransportOptions) {
    this.#opts = opts;
  }

  /** Listens on the socket (which must not exist). */
  listen(): Promise<void> {
    const server = createServer((sock) => this.#onConnection(sock));
    server.maxConnections = 64;
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#opts.socket, () => {
        server.removeListener('error', reject);
        server.on('error', (e) => this.#opts.log(`socket error: ${e.message}`));
        resolve();
      });
    });
  }

  /** Stops accepting connections; requests under way still get their answer. */
  close(): void {
    this.#server?.close();
  }

  #onConnection(sock: Socket): void {
    sock.on('error', () => undefined);
    sock.setTimeout(REQUEST_READ_TIMEOUT_MS, () => sock.destroy());
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const answer = (response: LabResponse<unknown>, after?: () => void): void => {
      if (sock.destroyed) {
        after?.();
        return;
      }
      sock.end(`${JSON.stringify(response)}\n`, after);
    };
    sock.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      chunks.push(chunk);
      if (size > MAX_MESSAGE_BYTES) {
        done = true;
        answer(failureOf(new LabRequestError('too-large', `request larger than ${MAX_MESSAGE_BYTES} bytes`)));
        return;
      }
      if (!chunk.includes(0x0a)) return;
      done = true;
      // Operations may take long (probes, big applies); only reading the request is bounded here.
      sock.setTimeout(0);
      const text = Buffer.concat(chunks).toString('utf8');
      const parsed = safeParseRequest(text.slice(0, text.indexOf('\n')));
      if (!parsed.ok) {
        answer(failureOf(parsed.error));
        return;
      }
      const request = parsed.value;
      void this.#handle(request).then((response) =>
        answer(response, () => this.#opts.answered?.(request, response)),
      );
    });
  }

  /** Mutating and measuring requests run one at a time; status answers at once. */
  #handle(request: LabRequest): Promise<LabResponse<unknown>> {
    const run = async (): Promise<LabResponse<unknown>> => {
      const started = Date.now();
      try {
        const value = await this.#opts.run(request);
        this.#opts.log(`${request.op}: ok in ${Date.now() - started}ms`);
        return { ok: true, value };
      } catch (err) {
        // Input that did not load is answered with its diagnostics, not logged as a failure.
        if (!(err instanceof RequestFailed))
          this.#opts.log(`${request.op}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        return failureOf(err);
      }
    };
    if (request.op === 'status') return run();
    const next = this.#queue.then(run);
    this.#queue = next;
    return next;
  }
}
