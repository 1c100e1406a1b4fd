/**
 * The traffic tools the datapath benchmark drives, and where to get them. They are Debian packages that
 * nothing else in Palisade needs, so they are not installed by scripts/setup.sh: the verb checks for them
 * and names the one command that installs them (scripts/bench-setup.sh), and the tests that need them
 * skip with that reason.
 */
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Connection-rate clients in order of preference: ab is one small C process, hey a Go runtime that
 * needs more of a 2-core box's CPU for the same rate. */
export type HttpClient = 'ab' | 'hey';

export interface BenchTools {
  readonly iperf3: string;
  readonly nginx: string;
  readonly httpClient: { readonly kind: HttpClient; readonly path: string };
}

export type ToolCheck =
  | { readonly ok: true; readonly tools: BenchTools }
  | { readonly ok: false; readonly missing: readonly string[]; readonly fix: string };

/** scripts/bench-setup.sh of this checkout (dist/src/lab/bench/ → repository root). */
export function setupScript(): string {
  return fileURLToPath(new URL('../../../../scripts/bench-setup.sh', import.meta.url));
}

export async function which(name: string): Promise<string | undefined> {
  // nginx lives in /usr/sbin, which a non-login root shell's PATH may lack.
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  for (const dir of dirs.filter((d) => d !== '')) {
    const path = join(dir, name);
    const found = await access(path, constants.X_OK).then(
      () => true,
      () => false,
    );
    if (found) return path;
  }
  return undefined;
}

/** Finds the tools; `prefer` picks the HTTP client when both are there. */
export async function checkTools(prefer: HttpClient = 'ab'): Promise<ToolCheck> {
  const [iperf3, nginx, ab, hey] = await Promise.all(['iperf3', 'nginx', 'ab', 'hey'].map(which));
  const missing: string[] = [];
  if (iperf3 === undefined) missing.push('iperf3 (package iperf3)');
  if (nginx === undefined) missing.push('nginx (package nginx-light)');
  if (ab === undefined && hey === undefined) missing.push('ab or hey (package apache2-utils or hey)');
  if (iperf3 === undefined || nginx === undefined || (ab === undefined && hey === undefined)) {
    return { ok: false, missing, fix: `sudo ${setupScript()}` };
  }
  const order: HttpClient[] = prefer === 'ab' ? ['ab', 'hey'] : ['hey', 'ab'];
  const paths: Record<HttpClient, string | undefined> = { ab, hey };
  const kind = order.find((k) => paths[k] !== undefined) ?? 'ab';
  return { ok: true, tools: { iperf3, nginx, httpClient: { kind, path: paths[kind] ?? kind } } };
}
