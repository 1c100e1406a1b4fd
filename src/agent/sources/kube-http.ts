/**
 * The two requests the `kubernetes` datastore makes: a list (one JSON body) and a watch (a stream of
 * newline-delimited JSON events). Authentication, TLS and proxies come from the KubeConfig
 * (`applyToHTTPSOptions`), so every credential kind client-node supports works here; the requests
 * themselves are plain node:http(s), so they return the API server's JSON untouched (client-node's typed
 * API classes drop fields they do not know, which would hide a malformed object from validation) and can
 * be aborted while still connecting.
 */
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** A non-200 answer, with the API server's Status fields when the body was one. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  constructor(
    message: string,
    readonly statusCode: number,
    readonly reason: string | undefined,
  ) {
    super(message);
  }
}

export interface KubeRequest {
  readonly query?: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
  /** Fail when the connection carries nothing for this long. */
  readonly idleMs: number;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** `404 NotFound: the server could not find the requested resource`, from a Status body if there is one. */
function errorFrom(statusCode: number, body: string): KubeApiError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  if (isRecord(parsed) && parsed['kind'] === 'Status') {
    const reason = typeof parsed['reason'] === 'string' ? parsed['reason'] : undefined;
    const message = typeof parsed['message'] === 'string' ? parsed['message'] : '';
    return new KubeApiError(`${statusCode} ${reason ?? ''}: ${message}`.trim(), statusCode, reason);
  }
  const text = body.trim().slice(0, 200);
  const name = http.STATUS_CODES[statusCode] ?? 'error';
  return new KubeApiError(`${statusCode} ${name}${text === '' ? '' : `: ${text}`}`, statusCode, undefined);
}

interface Opened {
  readonly req: http.ClientRequest;
  readonly res: http.IncomingMessage;
  readonly timedOut: () => boolean;
}

/** Sends the GET and resolves once the answer is 200; any other status rejects with a KubeApiError. */
async function open(kc: KubeConfig, path: string, r: KubeRequest): Promise<Opened> {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(`${cluster.server.replace(/\/+$/, '')}${path}`);
  for (const [k, v] of Object.entries(r.query ?? {})) url.searchParams.set(k, v);
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  r.signal.throwIfAborted();
  const send = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const req = send(url, {
      ...opts,
      method: 'GET',
      headers: { ...opts.headers, Accept: 'application/json' },
      signal: r.signal,
    });
    req.setTimeout(r.idleMs, () => {
      timedOut = true;
      req.destroy(new Error(`no answer from ${url.host} for ${Math.round(r.idleMs / 1000)}s`));
    });
    req.once('error', reject);
    req.once('response', (res) => {
      if (res.statusCode === 200) {
        resolve({ req, res, timedOut: () => timedOut });
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 65_536) body += c;
      });
      res.once('end', () => reject(errorFrom(res.statusCode ?? 0, body)));
      res.once('error', reject);
    });
    req.end();
  });
}

/** One list (or any GET): the parsed JSON body. */
export async function getJson(kc: KubeConfig, path: string, r: KubeRequest): Promise<unknown> {
  const { res } = await open(kc, path, r);
  res.setEncoding('utf8');
  const chunks: string[] = [];
  for await (const c of res) chunks.push(c as string);
  const body = chunks.join('');
  try {
    return JSON.parse(body) as unknown;
  } catch {
    throw new Error(`${path}: the API server's answer is not JSON`);
  }
}

export interface WatchHandlers {
  /** The server accepted the watch (HTTP 200). */
  readonly opened: () => void;
  /** One event line; throwing ends the watch with that error. */
  readonly line: (line: string) => void;
}

/**
 * One watch connection. Resolves when it ends without an error on our side: the server closed it
 * (timeoutSeconds, a restart) or the connection dropped mid-stream, after which the caller watches again
 * from its last resourceVersion. Rejects when it never got going (refused, non-200) or fell silent for
 * `idleMs`, and with an AbortError when `signal` aborted it.
 */
export async function watchLines(
  kc: KubeConfig,
  path: string,
  r: KubeRequest,
  on: WatchHandlers,
): Promise<void> {
  const { req, res, timedOut } = await open(kc, path, r);
  on.opened();
  return new Promise((resolve, reject) => {
    let buffer = '';
    let failure: Error | undefined;
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line === '') continue;
        try {
          on.line(line);
        } catch (e) {
          failure = e instanceof Error ? e : new Error('the watch event handler failed');
          req.destroy();
          return;
        }
      }
    });
    res.once('close', () => {
      if (failure !== undefined) reject(failure);
      else if (r.signal.aborted)
        reject(r.signal.reason instanceof Error ? r.signal.reason : new Error('aborted'));
      else if (timedOut())
        reject(new Error(`the watch of ${path} fell silent for ${Math.round(r.idleMs / 1000)}s`));
      else resolve();
    });
    // A connection reset mid-stream is a dropped watch: 'close' follows and resolves.
    res.on('error', () => undefined);
  });
}
