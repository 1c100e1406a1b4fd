/**
 * Which protocol/ports a probe measures. The same rule as `analyze matrix` (src/cli/targets.ts), restated
 * here because the lab may not import the CLI: neither list, the declared containerPorts; ports alone,
 * those ports over TCP (or the given protocols); protocols alone, the declared ports of those protocols.
 */
import { defaultTargets } from '../../engine/index.js';
import type { Cluster, Protocol } from '../../ir/endpoint.js';
import type { MatrixTarget } from '../probe.js';

export function computeTargets(
  cluster: Cluster,
  ports: readonly number[] | undefined,
  protocols: readonly Protocol[] | undefined,
): MatrixTarget[] {
  if (ports) {
    const ps = protocols ?? ['TCP'];
    return ps.flatMap((protocol) => ports.map((port) => ({ port, protocol })));
  }
  const declared = defaultTargets(cluster);
  return protocols ? declared.filter((t) => protocols.includes(t.protocol)) : declared;
}
