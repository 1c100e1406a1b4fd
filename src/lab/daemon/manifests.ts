/**
 * The lab's desired state as the node agents read it: a `dir:` datastore of one object per file, named as
 * `palisade apply --datastore dir:` names them (so a user's own apply into the same directory replaces the
 * same files). Cluster objects (Namespaces, Nodes, Pods with spec.nodeName and status.podIP) are rendered
 * from the daemon's desired cluster at the lab's addresses; policies and tiers are kept as the user wrote
 * them, so that every agent parses exactly what `analyze` parses.
 *
 * `ManifestsDir` writes a set of files with temp + rename (an agent never reads half a file), removes the
 * files it wrote that are no longer wanted, and then bumps the revision marker the dir source reads
 * (DIR_REVISION_FILE): an agent reporting that revision has applied every file written before it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dirFileName } from '../../agent/datastore.js';
import { DIR_REVISION_FILE } from '../../agent/sources/dir.js';
import { extractObjects } from '../../agent/writer.js';
import type { Obj, Source } from '../../dialects/index.js';
import type { Cluster, ContainerPort, Endpoint } from '../../ir/endpoint.js';
import type { Tier } from '../../ir/tier.js';

/** File name → object, for the objects the user wrote (policies, tiers, anything but the cluster's). */
export type PolicyObjects = ReadonlyMap<string, Obj>;

/** Kinds the daemon renders itself from its desired cluster (their labels may be edited by `lab label`). */
const CLUSTER_KINDS = new Set(['Pod', 'Namespace', 'Node']);

const fileOf = (kind: string, namespace: string, name: string): string =>
  dirFileName({ kind, namespace, name });

/** The non-cluster objects of `sources`, by file name; later ones replace earlier ones, as the loader does. */
export function policyObjectsOf(sources: readonly Source[]): Map<string, Obj> {
  const out = new Map<string, Obj>();
  const r = extractObjects(sources, false);
  if (!r.ok) return out; // the daemon loads sources with parseSources first; nothing to add here
  for (const o of r.objects)
    if (!CLUSTER_KINDS.has(o.kind)) out.set(fileOf(o.kind, o.namespace, o.name), o.object);
  return out;
}

export function withApplied(current: PolicyObjects, sources: readonly Source[]): Map<string, Obj> {
  const out = new Map(current);
  for (const [file, obj] of policyObjectsOf(sources)) {
    out.delete(file); // re-inserted at the end, as the loader orders a later duplicate
    out.set(file, obj);
  }
  return out;
}

/**
 * Removes the objects `sources` name. A tier object stays while `tiers` (the desired tiers after the
 * delete) still has it, as deleteLoaded keeps a tier its remaining policies use.
 */
export function withDeleted(
  current: PolicyObjects,
  sources: readonly Source[],
  tiers: readonly Tier[],
): Map<string, Obj> {
  const out = new Map(current);
  const kept = new Set(tiers.map((t) => t.name));
  const r = extractObjects(sources, false);
  if (!r.ok) return out;
  for (const o of r.objects) {
    if (CLUSTER_KINDS.has(o.kind)) continue;
    if (o.kind.split('.')[0] === 'Tier' && kept.has(o.name)) continue;
    out.delete(fileOf(o.kind, o.namespace, o.name));
  }
  return out;
}

function portObject(p: ContainerPort): Obj {
  return { ...(p.name === undefined ? {} : { name: p.name }), containerPort: p.port, protocol: p.protocol };
}

function podObject(e: Endpoint): Obj {
  const [first] = e.ips;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: e.name, namespace: e.namespace, labels: { ...e.labels } },
    spec: {
      ...(e.node === undefined ? {} : { nodeName: e.node }),
      ...(e.hostNetwork ? { hostNetwork: true } : {}),
      ...(e.serviceAccount === undefined ? {} : { serviceAccountName: e.serviceAccount }),
      // One container per port: port names need only be unique within a container.
      containers:
        e.ports.length === 0
          ? [{ name: 'c0', image: 'lab' }]
          : e.ports.map((p, i) => ({ name: `c${i}`, image: 'lab', ports: [portObject(p)] })),
    },
    ...(first === undefined ? {} : { status: { podIP: first, podIPs: e.ips.map((ip) => ({ ip })) } }),
  };
}

/** The cluster's Namespaces, Nodes and Pods as v1 objects, by file name. Pure. */
export function clusterObjects(cluster: Cluster): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const ns of cluster.namespaces)
    out.set(fileOf('Namespace', '_', ns.name), {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns.name, labels: { ...ns.labels } },
    });
  for (const n of cluster.nodes)
    out.set(fileOf('Node', '_', n.name), {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: n.name, labels: { ...n.labels } },
      spec: { ...(n.podCIDRs[0] === undefined ? {} : { podCIDR: n.podCIDRs[0] }), podCIDRs: [...n.podCIDRs] },
      status: { addresses: n.ips.map((address) => ({ type: 'InternalIP', address })) },
    });
  for (const e of cluster.endpoints) out.set(fileOf('Pod', e.namespace, e.name), podObject(e));
  return out;
}

/** Every file of the datastore: file name → text. Pure. */
export function renderManifests(cluster: Cluster, policies: PolicyObjects): Map<string, string> {
  const out = new Map<string, string>();
  for (const [file, obj] of [...clusterObjects(cluster), ...policies])
    out.set(file, `${JSON.stringify(obj, null, 2)}\n`);
  return out;
}

export class ManifestsDir {
  readonly path: string;
  /** What this writer last put in each file it owns. */
  #written = new Map<string, string>();
  #revision = 0;

  constructor(path: string) {
    this.path = path;
  }

  get revision(): number {
    return this.#revision;
  }

  /**
   * Makes the files this writer owns equal `files` and returns the new revision. Files someone else wrote
   * into the directory are left alone.
   */
  async write(files: ReadonlyMap<string, string>): Promise<number> {
    await mkdir(this.path, { recursive: true });
    const tag = randomBytes(4).toString('hex');
    for (const [file, text] of files) {
      if (this.#written.get(file) === text) continue;
      await this.#atomic(file, text, tag);
      this.#written.set(file, text);
    }
    for (const file of [...this.#written.keys()]) {
      if (files.has(file)) continue;
      await unlink(join(this.path, file)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
      this.#written.delete(file);
    }
    // Written last, after every object: see the dir source's reading order.
    this.#revision += 1;
    await this.#atomic(DIR_REVISION_FILE, `${this.#revision}\n`, tag);
    return this.#revision;
  }

  async #atomic(file: string, text: string, tag: string): Promise<void> {
    const path = join(this.path, file);
    // A dot-name without a manifest suffix: the agents' scan never takes a temp file for an object.
    const tmp = join(this.path, `.${file}.${tag}.tmp`);
    await writeFile(tmp, text);
    await rename(tmp, path);
  }
}
