/**
 * Palisade's own fields of the plugin configuration, validated into a plain object. Unknown fields are
 * ignored (the spec lets plugins do either; runtimes pass fields for other plugins of the list), but a
 * known field with a wrong value is code 2 naming the field and value, or 7 for an inconsistent config.
 */
import { InvalidConfigError, UnsupportedFieldError } from './errors.js';
import type { RequestConfig } from './spec.js';

export type Mode = 'routed' | 'policy-only';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export const DEFAULT_STATE_DIR = '/run/palisade/cni';
export const DEFAULT_MTU = 1500;
export const DEFAULT_AGENT_TIMEOUT_MS = 5000;
/** Type of the in-process IPAM (host-local semantics); any other ipam.type is executed from CNI_PATH. */
export const BUILTIN_IPAM = 'palisade';

export interface PalisadeConfig {
  readonly mode: Mode;
  readonly mtu: number;
  /** Where endpoint records live (endpoints.ts); the enforcement reads them. */
  readonly stateDir: string;
  /** Unix socket of the node's agent; absent: ADD records the endpoint and says so in a debug log. */
  readonly agentSocket?: string;
  /** With an agent socket: an unreachable agent fails ADD (code 11) rather than attach unenforced. */
  readonly failClosed: boolean;
  readonly agentTimeoutMs: number;
  readonly logLevel: LogLevel;
  /** The raw `ipam` object (routed mode only), interpreted by ipam/config.ts or a delegate. */
  readonly ipam?: Readonly<Record<string, unknown>>;
}

function field<T>(
  raw: Readonly<Record<string, unknown>>,
  key: string,
  ok: (v: unknown) => v is T,
  why: string,
): T | undefined {
  const v = raw[key];
  if (v === undefined) return undefined;
  if (!ok(v)) throw new UnsupportedFieldError(key, v, why);
  return v;
}

const isString = (v: unknown): v is string => typeof v === 'string' && v !== '';
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function parsePalisadeConfig(conf: RequestConfig): PalisadeConfig {
  const raw = conf.raw;
  const mode = field(
    raw,
    'mode',
    (v): v is Mode => v === 'routed' || v === 'policy-only',
    'routed|policy-only',
  );
  const mtu = field(
    raw,
    'mtu',
    (v): v is number => Number.isInteger(v) && (v as number) >= 576 && (v as number) <= 65535,
    'an integer from 576 to 65535',
  );
  const stateDir = field(raw, 'stateDir', isString, 'an absolute path');
  if (stateDir !== undefined && !stateDir.startsWith('/')) {
    throw new UnsupportedFieldError('stateDir', stateDir, 'an absolute path');
  }
  const agentSocket = field(raw, 'agentSocket', isString, 'the path of a unix socket');
  const failClosed = field(raw, 'failClosed', isBool, 'true or false');
  const agentTimeoutMs = field(
    raw,
    'agentTimeoutMs',
    (v): v is number => Number.isInteger(v) && (v as number) > 0,
    'a positive integer',
  );
  const logLevel = field(
    raw,
    'logLevel',
    (v): v is LogLevel => v === 'debug' || v === 'info' || v === 'warn' || v === 'error',
    'debug|info|warn|error',
  );
  const ipam = field(raw, 'ipam', isObject, 'an object with a type');
  const effectiveMode = mode ?? 'routed';
  if (effectiveMode === 'routed' && (ipam === undefined || !isString(ipam['type']))) {
    throw new InvalidConfigError('routed mode needs an ipam section with a type', `network ${conf.name}`);
  }
  if (failClosed === true && agentSocket === undefined) {
    throw new InvalidConfigError('failClosed needs an agentSocket to fail closed on');
  }
  return {
    mode: effectiveMode,
    mtu: mtu ?? DEFAULT_MTU,
    stateDir: stateDir ?? DEFAULT_STATE_DIR,
    ...(agentSocket === undefined ? {} : { agentSocket }),
    failClosed: failClosed ?? false,
    agentTimeoutMs: agentTimeoutMs ?? DEFAULT_AGENT_TIMEOUT_MS,
    logLevel: logLevel ?? 'info',
    ...(ipam === undefined || effectiveMode === 'policy-only' ? {} : { ipam }),
  };
}

/** Pod identity from CNI_ARGS, as kubelet's runtimes pass it (K8S_POD_NAMESPACE, K8S_POD_NAME). */
export function podIdentity(args: readonly (readonly [string, string])[]): {
  readonly namespace?: string;
  readonly name?: string;
} {
  const get = (k: string): string | undefined => args.find(([key]) => key === k)?.[1];
  const namespace = get('K8S_POD_NAMESPACE');
  const name = get('K8S_POD_NAME');
  return {
    ...(namespace === undefined || namespace === '' ? {} : { namespace }),
    ...(name === undefined || name === '' ? {} : { name }),
  };
}
