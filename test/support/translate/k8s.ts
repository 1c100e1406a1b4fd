/**
 * networking.k8s.io/v1 NetworkPolicy objects read into a small typed form for the translators. This is a
 * test oracle: it does its own defaulting (policyTypes) from the API reference instead of importing the
 * product's dialect, so a translation and the product's reading of the original are two separate routes.
 * Input is assumed valid (the arbitraries and fixtures only produce valid objects); anything unexpected
 * throws, so a translator never guesses.
 */
export type Obj = Record<string, unknown>;
export type Direction = 'Ingress' | 'Egress';
export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface Requirement {
  readonly key: string;
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  readonly values: readonly string[];
}

/** A LabelSelector with both halves present (possibly empty); empty selects everything. */
export interface LabelSelector {
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly matchExpressions: readonly Requirement[];
}

export type Peer =
  /** `podSelector` alone: pods of the policy's own namespace. */
  | { readonly kind: 'pods'; readonly pods: LabelSelector }
  /** `namespaceSelector` (with an optional `podSelector`, absent meaning every pod). */
  | { readonly kind: 'namespaces'; readonly namespaces: LabelSelector; readonly pods: LabelSelector }
  | { readonly kind: 'ipBlock'; readonly cidr: string; readonly except: readonly string[] };

export interface Port {
  readonly protocol: Protocol;
  /** Absent: every port of the protocol. */
  readonly port?: number | string;
  readonly endPort?: number;
}

/** `'any'`: the list was missing or empty, which Kubernetes reads as "no restriction". */
export interface NetpolRule {
  readonly peers: 'any' | readonly Peer[];
  readonly ports: 'any' | readonly Port[];
}

export interface NetworkPolicy {
  readonly namespace: string;
  readonly name: string;
  readonly podSelector: LabelSelector;
  /** The effective policyTypes after defaulting. */
  readonly isolates: readonly Direction[];
  /** Rules of isolated directions only: the API ignores the others. */
  readonly rules: Readonly<Record<Direction, readonly NetpolRule[]>>;
}

export const DIRECTIONS: readonly Direction[] = ['Ingress', 'Egress'];

export const EMPTY_SELECTOR: LabelSelector = { matchLabels: {}, matchExpressions: [] };

export class Untranslatable extends Error {}

function obj(v: unknown, what: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new Untranslatable(`${what}: not an object`);
  return v as Obj;
}

function list(v: unknown, what: string): readonly unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Untranslatable(`${what}: not a list`);
  return v as readonly unknown[];
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new Untranslatable(`${what}: not a string`);
  return v;
}

export function readSelector(v: unknown, what: string): LabelSelector {
  const o = v === undefined || v === null ? {} : obj(v, what);
  const labels = o['matchLabels'] === undefined ? {} : obj(o['matchLabels'], `${what}.matchLabels`);
  const matchLabels = Object.fromEntries(
    Object.entries(labels).map(([k, val]) => [k, str(val, `${what}.matchLabels.${k}`)]),
  );
  const matchExpressions = list(o['matchExpressions'], `${what}.matchExpressions`).map(
    (e, i): Requirement => {
      const r = obj(e, `${what}.matchExpressions[${i}]`);
      const operator = r['operator'];
      if (operator !== 'In' && operator !== 'NotIn' && operator !== 'Exists' && operator !== 'DoesNotExist')
        throw new Untranslatable(`${what}: operator ${String(operator)}`);
      const values = list(r['values'], `${what}.values`).map((x) => str(x, `${what}.values`));
      return { key: str(r['key'], `${what}.key`), operator, values };
    },
  );
  return { matchLabels, matchExpressions };
}

/** The selector as Kubernetes (and Cilium, and Antrea) write it, omitting empty halves. */
export function writeSelector(s: LabelSelector): Obj {
  return {
    ...(Object.keys(s.matchLabels).length > 0 ? { matchLabels: { ...s.matchLabels } } : {}),
    ...(s.matchExpressions.length > 0
      ? {
          matchExpressions: s.matchExpressions.map((r) => ({
            key: r.key,
            operator: r.operator,
            ...(r.operator === 'In' || r.operator === 'NotIn' ? { values: [...r.values] } : {}),
          })),
        }
      : {}),
  };
}

export function isEmptySelector(s: LabelSelector): boolean {
  return Object.keys(s.matchLabels).length === 0 && s.matchExpressions.length === 0;
}

function readPeer(v: unknown, what: string): Peer {
  const o = obj(v, what);
  if (o['ipBlock'] !== undefined) {
    const b = obj(o['ipBlock'], `${what}.ipBlock`);
    return {
      kind: 'ipBlock',
      cidr: str(b['cidr'], `${what}.ipBlock.cidr`),
      except: list(b['except'], `${what}.ipBlock.except`).map((x) => str(x, `${what}.ipBlock.except`)),
    };
  }
  const pods = readSelector(o['podSelector'], `${what}.podSelector`);
  if (o['namespaceSelector'] !== undefined)
    return { kind: 'namespaces', namespaces: readSelector(o['namespaceSelector'], what), pods };
  if (o['podSelector'] === undefined) throw new Untranslatable(`${what}: empty peer`);
  return { kind: 'pods', pods };
}

function readPort(v: unknown, what: string): Port {
  const o = obj(v, what);
  // SetDefaults_NetworkPolicy: a missing protocol is TCP.
  const protocol = o['protocol'] ?? 'TCP';
  if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP')
    throw new Untranslatable(`${what}: protocol ${JSON.stringify(protocol)}`);
  const port = o['port'];
  const endPort = o['endPort'];
  if (port !== undefined && typeof port !== 'number' && typeof port !== 'string')
    throw new Untranslatable(`${what}: port`);
  if (endPort !== undefined && typeof endPort !== 'number') throw new Untranslatable(`${what}: endPort`);
  return {
    protocol,
    ...(port === undefined ? {} : { port }),
    ...(endPort === undefined ? {} : { endPort }),
  };
}

function readRule(v: unknown, peersKey: 'from' | 'to', what: string): NetpolRule {
  const o = obj(v, what);
  const peers = list(o[peersKey], `${what}.${peersKey}`).map((p, i) =>
    readPeer(p, `${what}.${peersKey}[${i}]`),
  );
  const ports = list(o['ports'], `${what}.ports`).map((p, i) => readPort(p, `${what}.ports[${i}]`));
  return { peers: peers.length === 0 ? 'any' : peers, ports: ports.length === 0 ? 'any' : ports };
}

export function readNetworkPolicy(v: unknown): NetworkPolicy {
  const o = obj(v, 'NetworkPolicy');
  if (o['apiVersion'] !== 'networking.k8s.io/v1' || o['kind'] !== 'NetworkPolicy')
    throw new Untranslatable('not a networking.k8s.io/v1 NetworkPolicy');
  const meta = obj(o['metadata'], 'metadata');
  const spec = obj(o['spec'], 'spec');
  const ingress = list(spec['ingress'], 'spec.ingress').map((r, i) =>
    readRule(r, 'from', `spec.ingress[${i}]`),
  );
  const egress = list(spec['egress'], 'spec.egress').map((r, i) => readRule(r, 'to', `spec.egress[${i}]`));
  const written = list(spec['policyTypes'], 'spec.policyTypes').map((t) => str(t, 'spec.policyTypes'));
  // SetDefaults_NetworkPolicy: Ingress always, Egress only when there is at least one egress rule.
  const isolates = DIRECTIONS.filter((d) =>
    written.length > 0 ? written.includes(d) : d === 'Ingress' || egress.length > 0,
  );
  return {
    namespace: meta['namespace'] === undefined ? 'default' : str(meta['namespace'], 'metadata.namespace'),
    name: str(meta['name'], 'metadata.name'),
    podSelector: readSelector(spec['podSelector'], 'spec.podSelector'),
    isolates,
    rules: {
      Ingress: isolates.includes('Ingress') ? ingress : [],
      Egress: isolates.includes('Egress') ? egress : [],
    },
  };
}
