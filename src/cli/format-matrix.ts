import type { Protocol } from '../ir/index.js';

/** The shape both `analyze matrix` and `lab probe` print (ARCHITECTURE.md contract); extra fields ride along. */
export interface MatrixLike {
  readonly pods: readonly string[];
  readonly results: readonly {
    readonly from: string;
    readonly to: string;
    readonly port: number;
    readonly protocol: Protocol;
    readonly allowed: boolean;
    /** With `--http`: what the client observes (ARCHITECTURE.md contract vocabulary). */
    readonly response?: string;
  }[];
}

/** A cell as the tables print it: `.` allowed (forwarded), `X` denied, else the response (`http:403`). */
function cellText(r: MatrixLike['results'][number]): string {
  if (r.response === undefined || r.response === 'forwarded') return r.allowed ? '.' : 'X';
  return r.response;
}

/**
 * Truth tables in the layout of the upstream Kubernetes e2e suite: one per protocol/port, rows are sources,
 * columns destinations, `.` allowed and `X` denied.
 */
export function formatMatrixTables(m: MatrixLike): string {
  const groups = new Map<string, Map<string, string>>();
  for (const r of m.results) {
    const key = `${r.protocol}/${r.port}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = new Map<string, string>()));
    g.set(`${r.from}\u0000${r.to}`, cellText(r));
  }
  const texts = [...groups.values()].flatMap((g) => [...g.values()]);
  const width = Math.max(1, ...m.pods.map((p) => p.length), ...texts.map((t) => t.length));
  const pad = (s: string): string => s.padEnd(width);
  const out: string[] = [];
  for (const [key, cells] of groups) {
    out.push(`${key}:`);
    out.push([pad('-'), ...m.pods.map(pad)].join(' ').trimEnd());
    for (const from of m.pods) {
      const row = m.pods.map((to) => {
        const v = cells.get(`${from}\u0000${to}`);
        return pad(v ?? '?');
      });
      out.push([pad(from), ...row].join(' ').trimEnd());
    }
    out.push('');
  }
  if (groups.size === 0) out.push('(no ports to check: no pod declares a containerPort; pass --ports)', '');
  return out.join('\n');
}

/** JSON exactly as the contract: pods, then results in order; nothing else at the top level. */
export function formatMatrixJson(m: MatrixLike): string {
  return `${JSON.stringify({ pods: m.pods, results: m.results }, null, 2)}\n`;
}
