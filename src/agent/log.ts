/**
 * Structured log lines for the agent: one JSON object per line on stderr (time, level, msg, fields), the
 * shape log collectors expect. Written by hand rather than with pino: the agent logs a few lines per sync,
 * so a dependency buys nothing here.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

export function jsonLogger(write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  return (level, msg, fields) => {
    write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
  };
}

export const silentLogger: Logger = () => undefined;
