import type { Cluster, Endpoint, Namespace, Peer, Policy, Rule, Selector } from '../src/ir/index.js';
import { KUBERNETES_TIER, NAMESPACE_NAME_LABEL, SELECT_ALL } from '../src/ir/index.js';

/** Deterministic PRNG (mulberry32) so every run measures the same cluster. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const eq = (key: string, value: string): Selector => ({
  kind: 'match',
  requirements: [{ key, op: 'In', values: [value] }],
});

/**
 * A cluster shaped like a real multi-team one: 20 pods per namespace in deployments of 5, 50 apps, three tiers, and
 * NetworkPolicies mixing pod selectors, namespace selectors, ipBlocks, numeric, ranged and named ports.
 */
export function syntheticCluster(
  pods: number,
  policies: number,
  opts: { seed?: number; distinct?: boolean } = {},
): { cluster: Cluster; policies: Policy[] } {
  const seed = opts.seed ?? 1;
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const nsCount = Math.max(1, Math.floor(pods / 20));
  const apps = Array.from({ length: 50 }, (_, i) => `app-${i}`);
  const tiers = ['web', 'api', 'db'];
  const namespaces: Namespace[] = Array.from({ length: nsCount }, (_, i) => ({
    name: `ns-${i}`,
    labels: { [NAMESPACE_NAME_LABEL]: `ns-${i}`, team: `team-${i % 10}`, env: i % 3 === 0 ? 'prod' : 'dev' },
  }));
  // Pods come in deployments of five replicas that share labels, as real workloads do.
  const deployments = Array.from({ length: Math.ceil(pods / 5) }, () => ({
    app: pick(apps),
    tier: pick(tiers),
  }));
  const endpoints: Endpoint[] = Array.from({ length: pods }, (_, j) => {
    const d = Math.floor(j / 5);
    const ns = namespaces[d % nsCount] as Namespace;
    const dep = deployments[d] as { app: string; tier: string };
    return {
      namespace: ns.name,
      name: `pod-${j}`,
      labels: {
        app: dep.app,
        tier: dep.tier,
        version: `v${Math.floor(r() * 3)}`,
        // The adversarial shape: a label some selector reads that differs on every pod.
        ...(opts.distinct ? { instance: `i-${j}` } : {}),
      },
      namespaceLabels: ns.labels,
      node: `node-${j % 10}`,
      ips: [`10.${(j >> 16) & 255}.${(j >> 8) & 255}.${j & 255}`],
      ports: [
        { name: 'http', port: 80, protocol: 'TCP' },
        { name: 'dns', port: 53, protocol: 'UDP' },
      ],
      hostNetwork: false,
    };
  });
  const peer = (ns: string): Peer => {
    const k = r();
    if (opts.distinct && k < 0.1) {
      const j = Math.floor(r() * pods);
      return {
        kind: 'endpoints',
        namespaces: { kind: 'names', names: [ns] },
        pods: eq('instance', `i-${j}`),
      };
    }
    if (k < 0.5)
      return { kind: 'endpoints', namespaces: { kind: 'names', names: [ns] }, pods: eq('app', pick(apps)) };
    if (k < 0.8) {
      return {
        kind: 'endpoints',
        namespaces: { kind: 'selector', selector: eq('team', `team-${Math.floor(r() * 10)}`) },
        pods: r() < 0.5 ? SELECT_ALL : eq('tier', pick(tiers)),
      };
    }
    const b = Math.floor(r() * 4);
    return {
      kind: 'cidr',
      cidr: `10.0.${b * 4}.0/22`,
      except: [`10.0.${b * 4 + 1}.0/24`],
      matchesPods: true,
    };
  };
  const rule = (ns: string, index: number): Rule => {
    const k = r();
    const ports: Rule['ports'] =
      k < 0.4
        ? [{ kind: 'range', protocol: 'TCP', from: 80, to: 80 }]
        : k < 0.6
          ? [{ kind: 'named', protocol: 'TCP', name: 'http' }]
          : k < 0.8
            ? [{ kind: 'range', protocol: 'TCP', from: 8000, to: 8100 }]
            : 'any';
    return { action: 'Allow', index, peers: [peer(ns), peer(ns)], ports };
  };
  const podNs = (j: number): string => (namespaces[Math.floor(j / 5) % nsCount] as Namespace).name;
  const out: Policy[] = Array.from({ length: policies }, (_, k) => {
    const ns = (namespaces[Math.floor(r() * nsCount)] as Namespace).name;
    const egress = r() < 0.3;
    return {
      ref: { dialect: 'kubernetes', kind: 'NetworkPolicy', namespace: ns, name: `policy-${k}` },
      tier: KUBERNETES_TIER,
      priority: 0,
      // distinct: every policy isolates one pod by its instance label, so (almost) every pod is a class.
      subject: opts.distinct
        ? { namespaces: { kind: 'names', names: [podNs(k % pods)] }, pods: eq('instance', `i-${k % pods}`) }
        : { namespaces: { kind: 'names', names: [ns] }, pods: eq('app', pick(apps)) },
      isolates: egress ? ['Ingress', 'Egress'] : ['Ingress'],
      ingress: [rule(ns, 0), rule(ns, 1)],
      egress: egress ? [rule(ns, 0)] : [],
    };
  });
  return { cluster: { namespaces, endpoints, nodes: [] }, policies: out };
}
