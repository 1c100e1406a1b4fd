/**
 * Which API server `--datastore kubernetes[:PATH]` talks to, with kubectl's precedence: an explicit
 * kubeconfig; else $KUBECONFIG (a path list, merged, the first current-context winning); else
 * ~/.kube/config; else the pod's service account when KUBERNETES_SERVICE_HOST is set. Unlike
 * client-node's `loadFromDefault`, nothing falls back to http://localhost:8080: an agent with no
 * configuration says so instead of watching whatever answers there.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';

export class KubeConfigError extends Error {
  override readonly name = 'KubeConfigError';
}

type KubeConfigClass = new () => KubeConfig;

function fromFile(Kc: KubeConfigClass, file: string): KubeConfig {
  const kc = new Kc();
  try {
    kc.loadFromFile(file);
  } catch (e) {
    throw new KubeConfigError(`kubeconfig ${file}: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
  return kc;
}

/** Also says where the configuration came from, for the log. */
export function loadKubeConfig(
  Kc: KubeConfigClass,
  explicit: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  home: string = homedir(),
): { kc: KubeConfig; from: string } {
  let kc: KubeConfig;
  let from: string;
  const listed = (env['KUBECONFIG'] ?? '').split(delimiter).filter((f) => f !== '');
  const own = join(home, '.kube', 'config');
  if (explicit !== undefined) {
    kc = fromFile(Kc, explicit);
    from = explicit;
  } else if (listed.length > 0) {
    const [first, ...more] = listed as [string, ...string[]];
    kc = fromFile(Kc, first);
    for (const f of more) kc.mergeConfig(fromFile(Kc, f), true);
    from = `$KUBECONFIG (${listed.join(delimiter)})`;
  } else if (existsSync(own)) {
    kc = fromFile(Kc, own);
    from = own;
  } else if ((env['KUBERNETES_SERVICE_HOST'] ?? '') !== '') {
    kc = new Kc();
    kc.loadFromCluster();
    from = 'in-cluster service account';
  } else {
    throw new KubeConfigError(
      'no kubeconfig: pass kubernetes:PATH, set KUBECONFIG, create ~/.kube/config, or run in a pod',
    );
  }
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new KubeConfigError(`kubeconfig ${from}: its current-context names no cluster`);
  return { kc, from: `${from} → ${cluster.server}` };
}
