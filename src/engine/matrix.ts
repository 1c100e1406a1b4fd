/**
 * Reachability between every ordered pair of pods. Pods that no selector, peer or port can tell apart
 * form one class; the pipeline runs once per class pair and target, and pair-specific platform rules
 * (loopback, ingress from the pod's own node) are applied per pod pair when expanding.
 */
import type { Cluster, Endpoint, Protocol } from '../ir/endpoint.js';
import type { Labels } from '../ir/labels.js';
import { endpointKey } from '../ir/endpoint.js';
import type { Peer } from '../ir/peer.js';
import type { Direction, Policy } from '../ir/policy.js';
import { isNodeLocal } from './evaluate.js';
import { checkRule, isSubjectRelative, peerMatches, portMatches, rulePeers, rulePorts } from './match.js';
import type { PolicyModel } from './model.js';
import { participates, pipelineFor, runPipeline } from './pipeline.js';
import type { DirectionQuery, Stage } from './pipeline.js';
import { scopeMatches, selectorMatches } from '../ir/label-match.js';
import { sideOfEndpoint } from './side.js';
import type { Side } from './side.js';

export interface MatrixCell {
  from: string;
  to: string;
  port: number;
  protocol: Protocol;
  allowed: boolean;
}

export interface Matrix {
  pods: string[];
  results: MatrixCell[];
}

export interface Target {
  readonly port: number;
  readonly protocol: Protocol;
}

/** The cells between pods of `namespace` only. */
export function matrixOfNamespace(matrix: Matrix, namespace: string): Matrix {
  const keep = new Set(matrix.pods.filter((p) => p.startsWith(`${namespace}/`)));
  return {
    pods: matrix.pods.filter((p) => keep.has(p)),
    results: matrix.results.filter((r) => keep.has(r.from) && keep.has(r.to)),
  };
}

/** A computed matrix that answers per cell without materialising n² cells. */
export interface Reachability {
  /** Pod keys, sorted by namespace then name; indices below refer to this list. */
  readonly pods: readonly string[];
  readonly targets: readonly Target[];
  /** Number of equivalence classes the pods fell into. */
  readonly classes: number;
  allowed(target: number, from: number, to: number): boolean;
}

interface PodClass {
  readonly rep: Endpoint;
  readonly side: Side;
  /** Ids of subject-independent peers this class matches. */
  readonly peers: ReadonlySet<number>;
  /** Participating policies per tier, per direction (empty for host-network classes). */
  readonly policies: Readonly<Record<Direction, readonly (readonly Policy[])[]>>;
  readonly selected: Readonly<Record<Direction, boolean>>;
  /** Small integer naming the class's named container ports, equal for equal port sets. */
  readonly portSignature: number;
  /** Small integer naming the node a subject-relative peer would see (0: none). */
  readonly nodeSignature: number;
}

function labelsKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function comparePods(a: Endpoint, b: Endpoint): number {
  return a.namespace < b.namespace
    ? -1
    : a.namespace > b.namespace
      ? 1
      : a.name < b.name
        ? -1
        : a.name > b.name
          ? 1
          : 0;
}

/** Pods sharing namespace, namespace labels and labels: every selector sees them alike. */
interface Identity {
  readonly namespace: string;
  readonly namespaceLabels: Labels;
  readonly labels: Labels;
  readonly endpointPeers: number[];
  readonly policies: Record<Direction, number[]>;
}

interface PeerIndex {
  readonly ids: ReadonlyMap<Peer, number>;
  readonly endpointPeers: readonly { id: number; peer: Extract<Peer, { kind: 'endpoints' }> }[];
  readonly otherPeers: readonly { id: number; peer: Peer }[];
  readonly relative: boolean;
}

function indexPeers(policies: readonly Policy[]): PeerIndex {
  const byText = new Map<string, number>();
  const ids = new Map<Peer, number>();
  const endpointPeers: { id: number; peer: Extract<Peer, { kind: 'endpoints' }> }[] = [];
  const otherPeers: { id: number; peer: Peer }[] = [];
  let relative = false;
  for (const p of policies) {
    for (const rule of [...p.ingress, ...p.egress]) {
      for (const peer of rulePeers(rule)) {
        if (isSubjectRelative(peer)) {
          relative = true;
          continue;
        }
        const text = JSON.stringify(peer);
        let id = byText.get(text);
        if (id === undefined) {
          id = byText.size;
          byText.set(text, id);
          if (peer.kind === 'endpoints') endpointPeers.push({ id, peer });
          else otherPeers.push({ id, peer });
        }
        ids.set(peer, id);
      }
    }
  }
  return { ids, endpointPeers, otherPeers, relative };
}

/** Candidates for a namespace scope: only the named namespaces' identities when it names them. */
function candidates(
  scope: Extract<Peer, { kind: 'endpoints' }>['namespaces'],
  byNamespace: ReadonlyMap<string, readonly Identity[]>,
  all: readonly Identity[],
): readonly Identity[] {
  return scope.kind === 'names' ? [...new Set(scope.names)].flatMap((n) => byNamespace.get(n) ?? []) : all;
}

function identities(
  model: PolicyModel,
  pods: readonly Endpoint[],
  peers: PeerIndex,
): Map<Endpoint, Identity> {
  const byKey = new Map<string, Identity>();
  const of = new Map<Endpoint, Identity>();
  for (const e of pods) {
    if (e.hostNetwork) continue;
    const key = `${e.namespace}\n${labelsKey(e.namespaceLabels)}\n${labelsKey(e.labels)}`;
    let id = byKey.get(key);
    if (!id) {
      id = {
        namespace: e.namespace,
        namespaceLabels: e.namespaceLabels,
        labels: e.labels,
        endpointPeers: [],
        policies: { Ingress: [], Egress: [] },
      };
      byKey.set(key, id);
    }
    of.set(e, id);
  }
  const all = [...byKey.values()];
  const byNamespace = new Map<string, Identity[]>();
  for (const id of all) {
    const list = byNamespace.get(id.namespace);
    if (list) list.push(id);
    else byNamespace.set(id.namespace, [id]);
  }
  const covers =
    (scope: Extract<Peer, { kind: 'endpoints' }>['namespaces'], pods: Policy['subject']['pods']) =>
    (id: Identity) =>
      scopeMatches(scope, id.namespace, id.namespaceLabels) && selectorMatches(pods, id.labels);

  for (const { id: peerId, peer } of peers.endpointPeers) {
    for (const id of candidates(peer.namespaces, byNamespace, all).filter(
      covers(peer.namespaces, peer.pods),
    )) {
      id.endpointPeers.push(peerId);
    }
  }
  let policyId = 0;
  for (const tier of model.tiers) {
    for (const p of tier.policies) {
      const selected = candidates(p.subject.namespaces, byNamespace, all).filter(
        covers(p.subject.namespaces, p.subject.pods),
      );
      for (const direction of ['Ingress', 'Egress'] as const) {
        if (!participates(tier.tier, p, direction)) continue;
        for (const id of selected) id.policies[direction].push(policyId);
      }
      policyId++;
    }
  }
  return of;
}

/** Names of named ports some rule mentions; other container ports are invisible to policy. */
function referencedPortNames(policies: readonly Policy[]): Set<string> {
  const names = new Set<string>();
  for (const p of policies) {
    for (const rule of [...p.ingress, ...p.egress]) {
      for (const pm of rulePorts(rule)) if (pm.kind === 'named') names.add(pm.name);
    }
  }
  return names;
}

interface Classification {
  readonly classes: readonly PodClass[];
  readonly classOf: Int32Array;
  readonly peerIds: ReadonlyMap<Peer, number>;
}

function classify(model: PolicyModel, pods: readonly Endpoint[]): Classification {
  const flat = model.tiers.flatMap((t, tier) => t.policies.map((policy) => ({ tier, policy })));
  const policies = flat.map((f) => f.policy);
  const peers = indexPeers(policies);
  const portNames = referencedPortNames(policies);
  const idOf = identities(model, pods, peers);
  const keys = new Map<string, number>();
  const portSignatures = new Map<string, number>();
  const nodeSignatures = new Map<string, number>();
  const intern = (m: Map<string, number>, k: string): number => {
    const v = m.get(k);
    if (v !== undefined) return v;
    m.set(k, m.size + 1);
    return m.size;
  };
  const classes: PodClass[] = [];
  const classOf = new Int32Array(pods.length);
  pods.forEach((e, i) => {
    const side = sideOfEndpoint(model, e);
    const id = idOf.get(e);
    const other = peers.otherPeers
      .filter(({ peer }) => peerMatches(model, peer, side, e))
      .map(({ id: n }) => n);
    const ports = e.ports
      .filter((p) => p.name !== undefined && portNames.has(p.name))
      .map((p) => `${p.name}/${p.protocol}/${p.port}`)
      .sort();
    const key = JSON.stringify([
      e.hostNetwork,
      // Who is "host" or "remote-node" depends on both nodes; host-network pods are seen as their node.
      peers.relative || e.hostNetwork ? (e.node ?? null) : null,
      id?.policies.Ingress ?? [],
      id?.policies.Egress ?? [],
      id?.endpointPeers ?? [],
      other,
      ports,
    ]);
    let c = keys.get(key);
    if (c === undefined) {
      c = classes.length;
      keys.set(key, c);
      const perTier = (ids: readonly number[]): Policy[][] => {
        const out = model.tiers.map((): Policy[] => []);
        for (const n of ids) {
          const at = flat[n];
          if (at) out[at.tier]?.push(at.policy);
        }
        return out;
      };
      const ingress = perTier(id?.policies.Ingress ?? []);
      const egress = perTier(id?.policies.Egress ?? []);
      classes.push({
        rep: e,
        side,
        peers: new Set([...(id?.endpointPeers ?? []), ...other]),
        policies: { Ingress: ingress, Egress: egress },
        selected: {
          Ingress: ingress.some((ps) => ps.length > 0),
          Egress: egress.some((ps) => ps.length > 0),
        },
        portSignature: intern(portSignatures, ports.join(',')),
        nodeSignature: side.node === undefined ? 0 : intern(nodeSignatures, side.node),
      });
    }
    classOf[i] = c;
  });
  return { classes, classOf, peerIds: peers.ids };
}

/** The query for `subject`'s class talking to `other`'s class; `dst` names the destination's ports. */
function classQuery(
  model: PolicyModel,
  peerIds: ReadonlyMap<Peer, number>,
  direction: Direction,
  subject: PodClass,
  other: PodClass,
  dst: PodClass,
  target: Target,
): DirectionQuery {
  const tiers = subject.policies[direction];
  const peerMatch = (peer: Peer): boolean =>
    isSubjectRelative(peer)
      ? peerMatches(model, peer, other.side, subject.rep)
      : other.peers.has(peerIds.get(peer) ?? -1);
  return {
    direction,
    policies: (i) => tiers[i] ?? [],
    check: (_policy, rule) =>
      checkRule(rule, peerMatch, (pm) => portMatches(pm, target.protocol, target.port, dst.rep)),
  };
}

const EGRESS = 1;
const INGRESS = 2;

/** What of the other side a subject's rules in one direction can observe. */
interface Observed {
  readonly peers: readonly number[];
  readonly relative: boolean;
  readonly namedPorts: boolean;
}

function observed(subject: PodClass, direction: Direction, peerIds: ReadonlyMap<Peer, number>): Observed {
  const peers = new Set<number>();
  let relative = false;
  let namedPorts = false;
  for (const policies of subject.policies[direction]) {
    for (const p of policies) {
      for (const rule of direction === 'Ingress' ? p.ingress : p.egress) {
        if (rulePorts(rule).some((pm) => pm.kind === 'named')) namedPorts = true;
        for (const peer of rulePeers(rule)) {
          const id = peerIds.get(peer);
          if (id === undefined) relative = true;
          else peers.add(id);
        }
      }
    }
  }
  return { peers: [...peers], relative, namedPorts };
}

/**
 * The part of `other` that `subject`'s rules can see: which of their peers it matches, plus its node
 * (for host/remote-node peers) and, on egress, its named ports. Equal projections get equal answers.
 */
function projection(o: Observed, other: PodClass, direction: Direction): string {
  let key = '';
  for (const id of o.peers) key += other.peers.has(id) ? '1' : '0';
  if (o.relative) key += `|n${other.nodeSignature}`;
  if (o.namedPorts && direction === 'Egress') key += `|p${other.portSignature}`;
  return key;
}

/**
 * Per class pair (from * n + to), which directions allow, ignoring loopback and node-local (they depend
 * on the pods, not the classes). Each subject class runs the pipeline once per distinct projection of the
 * other classes onto what its rules observe.
 */
function classPairs(
  model: PolicyModel,
  stages: readonly Stage[],
  c: Classification,
  target: Target,
): Uint8Array {
  const { classes, peerIds } = c;
  const n = classes.length;
  const out = new Uint8Array(n * n);
  classes.forEach((subject, s) => {
    for (const direction of ['Egress', 'Ingress'] as const) {
      const bit = direction === 'Egress' ? EGRESS : INGRESS;
      const cell = (o: number): number => (direction === 'Egress' ? s * n + o : o * n + s);
      if (subject.rep.hostNetwork || !subject.selected[direction]) {
        for (let o = 0; o < n; o++) out[cell(o)] = (out[cell(o)] ?? 0) | bit;
        continue;
      }
      const seen = observed(subject, direction, peerIds);
      const memo = new Map<string, boolean>();
      classes.forEach((other, o) => {
        const key = projection(seen, other, direction);
        let allowed = memo.get(key);
        if (allowed === undefined) {
          const dst = direction === 'Egress' ? other : subject;
          allowed = runPipeline(
            stages,
            classQuery(model, peerIds, direction, subject, other, dst, target),
          ).allowed;
          memo.set(key, allowed);
        }
        if (allowed) out[cell(o)] = (out[cell(o)] ?? 0) | bit;
      });
    }
  });
  return out;
}

export function computeReachability(model: PolicyModel, targets: readonly Target[]): Reachability {
  const endpoints = [...model.cluster.endpoints].sort(comparePods);
  const c = classify(model, endpoints);
  const stages = pipelineFor(model);
  const perTarget = targets.map((t) => classPairs(model, stages, c, t));
  const sides = endpoints.map((e) => sideOfEndpoint(model, e));
  const n = c.classes.length;
  return {
    pods: endpoints.map(endpointKey),
    targets,
    classes: n,
    allowed(t, from, to) {
      if (from === to) return true;
      const a = c.classOf[from] ?? 0;
      const b = c.classOf[to] ?? 0;
      const bits = perTarget[t]?.[a * n + b] ?? 0;
      if (!(bits & EGRESS)) return false;
      if (bits & INGRESS) return true;
      const src = sides[from];
      const dst = endpoints[to];
      return src !== undefined && dst !== undefined && isNodeLocal(src, dst);
    },
  };
}

/** Every ordered pod pair (self included) per target; results by target, then from, then to. */
export function computeMatrix(model: PolicyModel, targets: readonly Target[]): Matrix {
  const r = computeReachability(model, targets);
  const results: MatrixCell[] = [];
  targets.forEach((t, ti) => {
    r.pods.forEach((from, i) => {
      r.pods.forEach((to, j) => {
        results.push({ from, to, port: t.port, protocol: t.protocol, allowed: r.allowed(ti, i, j) });
      });
    });
  });
  return { pods: [...r.pods], results };
}

export interface MatrixCounts {
  readonly cells: number;
  readonly allowed: number;
  readonly classes: number;
}

/** Totals only, for clusters whose full cell list would not fit in memory. */
export function computeMatrixCounts(model: PolicyModel, targets: readonly Target[]): MatrixCounts {
  const r = computeReachability(model, targets);
  const n = r.pods.length;
  let allowed = 0;
  for (let t = 0; t < targets.length; t++) {
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (r.allowed(t, i, j)) allowed++;
  }
  return { cells: n * n * targets.length, allowed, classes: r.classes };
}

/** The union of declared container ports, by port then protocol. */
export function defaultTargets(cluster: Cluster): Target[] {
  const seen = new Map<string, Target>();
  for (const e of cluster.endpoints) {
    for (const p of e.ports) seen.set(`${p.protocol}/${p.port}`, { port: p.port, protocol: p.protocol });
  }
  return [...seen.values()].sort(
    (a, b) => a.port - b.port || (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0),
  );
}

/**
 * What a matrix or a probe checks (`analyze matrix`, `lab probe`). Neither list: the declared container
 * ports. Ports alone: those ports over TCP (or over `protocols`). Protocols alone: the declared ports of
 * those protocols.
 */
export function chooseTargets(
  cluster: Cluster,
  ports: readonly number[] | undefined,
  protocols: readonly Protocol[] | undefined,
): Target[] {
  if (ports) {
    const ps = protocols ?? ['TCP'];
    return ps.flatMap((protocol) => ports.map((port) => ({ port, protocol })));
  }
  const declared = defaultTargets(cluster);
  return protocols ? declared.filter((t) => protocols.includes(t.protocol)) : declared;
}
