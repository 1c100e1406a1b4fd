/** What every verb gets: the parsed invocation, the negotiated version, how to run commands and log. */
import type { PalisadeConfig, LogLevel } from '../config.js';
import type { Runner } from '../../util/process.js';
import type { CniEnv, CniResult, RequestConfig } from '../spec.js';

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
}

export interface VerbContext {
  readonly env: CniEnv;
  readonly conf: RequestConfig;
  /** The config's cniVersion, already checked. */
  readonly version: string;
  readonly exec: Runner;
  /** Unstructured output for the runtime's log (the spec allows stderr for it). */
  readonly stderr: (text: string) => void;
}

/** A verb returns the result to print (ADD) or nothing (the others print nothing on success). */
export type Verb = (ctx: VerbContext) => Promise<Omit<CniResult, 'cniVersion'> | undefined>;

const LEVELS: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function logger(ctx: VerbContext, pal: Pick<PalisadeConfig, 'logLevel'>): Logger {
  const at =
    (level: LogLevel) =>
    (msg: string): void => {
      if (LEVELS[level] >= LEVELS[pal.logLevel]) ctx.stderr(`palisade-cni ${level}: ${msg}\n`);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn') };
}
