/**
 * What the server node's HAProxy counted while the churn check ran (its runtime API `show stat` and
 * `show info`): which side a failed request broke on — a client abort, a server connection error, a
 * worker that changed — so the report says why requests failed, not only how many.
 */
import { adminCommand } from '../../l7/proxy.js';

/** Counters of `show stat` summed over the frontend and backends (HAProxy management guide §9.1). */
const FIELDS = ['ereq', 'econ', 'eresp', 'cli_abrt', 'srv_abrt', 'wretr', 'wredis', 'hrsp_4xx', 'hrsp_5xx'];

export type ProxyCounters = Readonly<Record<string, number>>;

/** `show stat` CSV to summed counters, plus the worker's pid (`show info`). */
export function parseProxyCounters(stat: string, info: string): ProxyCounters {
  const lines = stat.split('\n').filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').replace(/^# /, '').split(',');
  const out: Record<string, number> = Object.fromEntries(FIELDS.map((f) => [f, 0]));
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    // FRONTEND and BACKEND rows already sum their servers.
    if (cells[1] !== 'FRONTEND' && cells[1] !== 'BACKEND') continue;
    for (const f of FIELDS) {
      const v = Number(cells[header.indexOf(f)]);
      if (Number.isFinite(v)) out[f] = (out[f] ?? 0) + v;
    }
  }
  const pid = /^Pid: (\d+)$/m.exec(info)?.[1];
  if (pid !== undefined) out['pid'] = Number(pid);
  return out;
}

/** The proxy's counters now, or undefined when it does not answer. */
export async function proxyCounters(socket: string): Promise<ProxyCounters | undefined> {
  try {
    return parseProxyCounters(
      await adminCommand(socket, 'show stat'),
      await adminCommand(socket, 'show info'),
    );
  } catch {
    return undefined;
  }
}

/**
 * Counters gained between two snapshots; `worker_changed` when the worker answering is another process
 * (a reload or a restart, after which the counters start again from zero and the delta is the new one's).
 */
export function counterDelta(
  before: ProxyCounters | undefined,
  after: ProxyCounters | undefined,
): Readonly<Record<string, number>> | null {
  if (before === undefined || after === undefined) return null;
  const changed = before['pid'] !== after['pid'];
  const out: Record<string, number> = { worker_changed: changed ? 1 : 0 };
  for (const f of FIELDS) out[f] = (after[f] ?? 0) - (changed ? 0 : (before[f] ?? 0));
  return out;
}
