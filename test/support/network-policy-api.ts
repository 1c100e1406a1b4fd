/**
 * The conformance material of kubernetes-sigs/network-policy-api (copied to /work/shared/peer-data), made
 * loadable: the Go-template holes filled, the base manifests' StatefulSets expanded into the Pods the
 * upstream suite would get, and upstream's in-test patches (rule swaps, action and priority changes,
 * deletions) replayable on the YAML. The dialect tests and the lab conformance test both read it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { Source } from '../../src/dialects/index.js';
import type { Protocol } from '../../src/ir/index.js';

export const PEER_DATA = '/work/shared/peer-data/network-policy-api';

/**
 * Upstream's default host-network port range starts here (conformance/utils/suite/suite.go, Setup), so the
 * filled-in manifests are the ones a default conformance run applies.
 */
export const HOST_NETWORK_PORT_BASE = 34345;
export const hostNetworkPort = (i: number): number => HOST_NETWORK_PORT_BASE + i;

/** Fills the suite's Go-template holes (`{{ index .HostNetworkPorts N }}`) as the suite's defaults do. */
export const templated = (text: string): string =>
  text.replace(/\{\{\s*index \.HostNetworkPorts (\d)\s*\}\}/g, (_, i: string) =>
    String(hostNetworkPort(Number(i))),
  );

/** Every .yaml/.yml file under `dir`, depth first, sorted. */
export function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return yamlFiles(path);
      return /\.ya?ml$/.test(name) ? [path] : [];
    });
}

/** The namespaces of the base manifests carry this prefix; tables below write `gryffindor/harry-potter-0`. */
export const NS_PREFIX = 'network-policy-conformance-';
/** `gryffindor/harry-potter-0` → `network-policy-conformance-gryffindor/harry-potter-0`. */
export const podKey = (short: string): string => NS_PREFIX + short;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const objAt = (o: unknown, ...path: string[]): Obj => {
  let cur: unknown = o;
  for (const k of path) cur = isObj(cur) ? cur[k] : undefined;
  return isObj(cur) ? cur : {};
};
const listAt = (o: unknown, ...path: string[]): unknown[] => {
  const last = path[path.length - 1] ?? '';
  const v = objAt(o, ...path.slice(0, -1))[last];
  return Array.isArray(v) ? v : [];
};

const text = (v: unknown, fallback = ''): string =>
  typeof v === 'string' || typeof v === 'number' ? String(v) : fallback;

export function readDocs(text: string): Obj[] {
  return parseAllDocuments(text).flatMap((d) => {
    if (Array.isArray(d)) return [];
    const js: unknown = d.toJS();
    return isObj(js) ? [js] : [];
  });
}

export const writeDocs = (docs: readonly Obj[]): string => docs.map((d) => stringify(d)).join('---\n');

export interface ServedPort {
  readonly port: number;
  readonly protocol: Protocol;
}

export interface ConformanceClusterOptions {
  readonly nodes: number;
  /** Served by every pod in addition to what it declares (unnamed, so named-port resolution is unchanged). */
  readonly extraPorts: readonly ServedPort[];
}

/**
 * The base manifests (manifests.yaml of a version) as a cluster the lab can build: Node objects
 * `node-1…node-N` (label kubernetes.io/os=linux, which the `nodes` peers of the egress-selector tests
 * select), the Namespaces as written, and `replicas` Pods per StatefulSet named `<set>-<i>` as a
 * StatefulSet names them, with the template's labels, hostNetwork and declared containerPorts. Pod i of
 * the s-th set goes to node (s + i) mod N, so every set spans two nodes, some pairs share a node and the
 * two host-network `centaur` pods sit on different nodes, as their identical host ports force upstream.
 */
export function conformanceCluster(version: string, opts: ConformanceClusterOptions): Source {
  const file = join(PEER_DATA, version, 'conformance', 'base', 'manifests.yaml');
  const docs = readDocs(templated(readFileSync(file, 'utf8')));
  const nodeName = (i: number) => `node-${i + 1}`;
  const nodeIp = (i: number) => `10.255.0.${i + 1}`;
  const out: Obj[] = [];
  for (let i = 0; i < opts.nodes; i++) {
    out.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: nodeName(i),
        labels: { 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': nodeName(i) },
      },
      spec: { podCIDR: `10.244.${i + 1}.0/24` },
      status: { addresses: [{ type: 'InternalIP', address: nodeIp(i) }] },
    });
  }
  out.push(...docs.filter((d) => d['kind'] === 'Namespace'));
  docs
    .filter((d) => d['kind'] === 'StatefulSet')
    .forEach((set, s) => {
      const meta = objAt(set, 'metadata');
      const template = objAt(set, 'spec', 'template');
      const hostNetwork = objAt(template, 'spec')['hostNetwork'] === true;
      const declared = listAt(template, 'spec', 'containers').flatMap((c) => listAt(c, 'ports'));
      const seen = new Set(
        declared.map((p) => `${text(objAt(p)['protocol'], 'TCP')}/${text(objAt(p)['containerPort'])}`),
      );
      const extra = opts.extraPorts
        .filter((p) => !seen.has(`${p.protocol}/${p.port}`))
        .map((p) => ({ containerPort: p.port, protocol: p.protocol }));
      const replicas = Number(objAt(set, 'spec')['replicas'] ?? 1);
      for (let i = 0; i < replicas; i++) {
        const node = (s + i) % opts.nodes;
        const name = `${text(meta['name'])}-${i}`;
        out.push({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name,
            namespace: meta['namespace'],
            labels: { ...objAt(template, 'metadata', 'labels'), 'statefulset.kubernetes.io/pod-name': name },
          },
          spec: {
            nodeName: nodeName(node),
            hostNetwork,
            containers: [{ name: 'serve', image: 'agnhost', ports: [...declared, ...extra] }],
          },
          // A host-network pod has its node's address; the lab allocates the others'.
          ...(hostNetwork ? { status: { podIP: nodeIp(node) } } : {}),
        });
      }
    });
  return { file: `${version}/conformance/base/manifests.yaml (expanded)`, text: writeDocs(out) };
}

/** The policy manifests of a version (everything under conformance/base but manifests.yaml). */
export function conformancePolicyFiles(version: string): { name: string; source: Source }[] {
  const base = join(PEER_DATA, version, 'conformance', 'base');
  return yamlFiles(base)
    .filter((f) => !f.endsWith('/manifests.yaml'))
    .map((f) => ({
      name: f.slice(base.length + 1),
      source: { file: f, text: templated(readFileSync(f, 'utf8')) },
    }));
}

/** One in-test patch an upstream conformance test applies to the objects of its manifest. */
export type Patch =
  | { readonly swap: readonly [name: string, dir: 'ingress' | 'egress', i: number, j: number] }
  | { readonly action: readonly [name: string, dir: 'ingress' | 'egress', i: number, action: string] }
  | { readonly priority: readonly [name: string, priority: number] }
  | { readonly delete: readonly [kind: string, namespace: string, name: string] };

const named =
  (name: string, kind?: string, namespace?: string) =>
  (d: Obj): boolean => {
    const m = objAt(d, 'metadata');
    return (
      m['name'] === name &&
      (kind === undefined || d['kind'] === kind) &&
      (namespace === undefined || m['namespace'] === namespace)
    );
  };

/** `docs` with `patch` applied, as a copy; throws when the patch names nothing (a mistyped table). */
export function applyPatch(docs: readonly Obj[], patch: Patch): Obj[] {
  const copy = structuredClone(docs) as Obj[];
  const one = (name: string): Obj => {
    const hits = copy.filter(named(name));
    const hit = hits[0];
    if (hits.length !== 1 || !hit) throw new Error(`patch: ${hits.length} objects named ${name}`);
    return hit;
  };
  const rules = (name: string, dir: string): unknown[] => {
    const list = listAt(one(name), 'spec', dir);
    if (list.length === 0) throw new Error(`patch: ${name} has no ${dir} rules`);
    return list;
  };
  if ('swap' in patch) {
    const [name, dir, i, j] = patch.swap;
    const list = rules(name, dir);
    [list[i], list[j]] = [list[j], list[i]];
  } else if ('action' in patch) {
    const [name, dir, i, action] = patch.action;
    const rule = rules(name, dir)[i];
    if (!isObj(rule)) throw new Error(`patch: ${name} has no ${dir} rule ${i}`);
    rule['action'] = action;
  } else if ('priority' in patch) {
    const [name, priority] = patch.priority;
    objAt(one(name), 'spec')['priority'] = priority;
  } else {
    const [kind, namespace, name] = patch.delete;
    const at = copy.findIndex(named(name, kind, namespace));
    if (at < 0) throw new Error(`patch: no ${kind} ${namespace}/${name}`);
    copy.splice(at, 1);
  }
  return copy;
}
