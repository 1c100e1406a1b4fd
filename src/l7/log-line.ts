/**
 * The proxy's log line (haproxy-config.ts LOG_FORMAT) read back, and what the client observed, in the
 * response vocabulary (ARCHITECTURE.md "Contracts").
 */
import type { L7Response } from '../engine/index.js';

export interface L7LogLine {
  readonly clientIp: string;
  readonly clientPort: number;
  readonly serverIp: string;
  readonly serverPort: number;
  /** HTTP status sent to the client; -1 when none was (a reset). */
  readonly status: number;
  /** HAProxy's termination state (`--` normal, `PR` denied by a rule, …). */
  readonly termination: string;
  /** Outcome values (node-l7.ts): egress layer, ingress layer, the one that answered; `-` when unset. */
  readonly egress: string;
  readonly ingress: string;
  readonly outcome: string;
  readonly method: string;
  readonly path: string;
  readonly host: string;
  /** `1.1` or `2.0`. */
  readonly version: string;
  readonly grpc: boolean;
  readonly totalMs: number;
}

/** Splits on spaces, keeping `"…"` fields whole (HAProxy's `+Q` escapes `"` and `\` inside them). */
function fields(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line))
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? ''));
  return out;
}

export function parseL7LogLine(line: string): L7LogLine | undefined {
  const f = fields(line);
  if (f[0] !== 'L7' || f.length < 16) return undefined;
  const num = (s: string | undefined): number => (s === undefined || s === '-' ? -1 : Number(s));
  return {
    clientIp: f[1] ?? '',
    clientPort: num(f[2]),
    serverIp: f[3] ?? '',
    serverPort: num(f[4]),
    status: num(f[5]),
    termination: f[6] ?? '',
    egress: f[7] ?? '-',
    ingress: f[8] ?? '-',
    outcome: f[9] ?? '-',
    method: f[10] ?? '',
    path: f[11] ?? '',
    host: f[12] ?? '',
    version: f[13] ?? '',
    grpc: f[14] === 'grpc',
    totalMs: num(f[15]),
  };
}

/** What the client observed: forwarded when the policy let the request through, else the proxy's answer. */
export function observedResponse(l: L7LogLine): L7Response {
  const kind = l.outcome.split('.')[0];
  if (kind === 'r') return 'reset';
  if (kind === 'f' || kind === 'u') return l.grpc ? 'grpc:7' : `http:${l.status}`;
  return 'forwarded';
}
