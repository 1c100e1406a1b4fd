/**
 * What one node's L7 proxy enforces, as data (pure): for every flow that the node steers to its proxy
 * (a local server's port with ingress HTTP rules, a local client's port with egress HTTP rules), the
 * engine's decision table (src/engine/l7-table.ts), flattened into the three HAProxy maps the proxy's
 * configuration consults (haproxy-config.ts):
 *
 * - `pairs`:     `<server ip>:<port>/<client ip>` → table id (map_str). Tables are named by a hash of their
 *                content, so the many clients that share one get one id, and an id never changes meaning;
 * - `rules`:     one PCRE per table entry, in table order (map_reg: the first that matches wins) → outcome;
 * - `exact`:     for a direction whose entries are all literals, one key per (method, path) cell instead
 *                (map_str; exact-table.ts), so its cost does not grow with its rule count;
 * - `fallbacks`: `<table>:E|I` → outcome of a request no entry matched (`a.0` where the direction has no
 *                L7 rule), for every table: a missing one fails closed.
 *
 * An outcome is `<a|f|r>.<hash>`: allowed, forbidden (403, or grpc-status 7 for gRPC) or reset, and the
 * key of its attribution in `outcomes` (which rule of which policy decided), which the agent joins to the
 * proxy's log lines. `a.0` is "no L7 rule has a say in that direction". A client or server the node knows no
 * table for gets `u.0` — fail closed — from the configuration itself.
 */
import { createHash } from 'node:crypto';
import type { Endpoint, Flow } from '../ir/index.js';
import { endpointKey } from '../ir/index.js';
import type { L7Decision, PolicyModel } from '../engine/index.js';
import { httpDecisionTable } from '../engine/index.js';
import type { HttpDecisionTable } from '../engine/index.js';
import type { PortRange } from '../datapath/index.js';
import { exactDirection, exactKey } from './exact-table.js';
import { entryPattern } from './request-key.js';

/** The ports one local endpoint has steered to the proxy (the datapath's NodeRules `l7`). */
export interface SteeredEndpoint {
  /** "namespace/name" of a pod of this node. */
  readonly endpoint: string;
  /** TCP ports of its ingress HTTP rules (it is the server). */
  readonly ingress: readonly PortRange[];
  /** TCP destination ports of its egress HTTP rules (it is the client). */
  readonly egress: readonly PortRange[];
}

/**
 * Ranges up to this many ports get one table per port; a wider one (`ports: any` is 1-65535) gets the
 * table of its first port under a wildcard key, `<server ip>:*\/<client ip>`, looked up when no port's
 * key is there: exact where the rules treat the range's ports alike, which a rule naming one port of it
 * breaks — such ports are listed one by one when the model names them (`namedPorts`).
 */
export const PORTS_PER_RANGE = 64;

export type OutcomeKind = 'a' | 'f' | 'r' | 'u';

/** Who decided an outcome (absent for `a.0` and `u.0`). */
export interface OutcomeInfo {
  readonly kind: OutcomeKind;
  readonly decision?: L7Decision;
}

/** A flow whose table is not exact (L7Decision combinations a first-match proxy cannot express). */
export interface InexactFlow {
  readonly client: string;
  readonly server: string;
  readonly port: number;
}

export interface NodeL7 {
  readonly pairs: readonly (readonly [string, string])[];
  readonly rules: readonly (readonly [string, string])[];
  readonly exact: readonly (readonly [string, string])[];
  readonly fallbacks: readonly (readonly [string, string])[];
  /** Outcome value (`a.3`) → attribution. */
  readonly outcomes: ReadonlyMap<string, OutcomeInfo>;
  readonly inexact: readonly InexactFlow[];
  /** Whether any steered address is IPv6 (the proxy then binds `[::]` too: a configuration shape). */
  readonly ipv6: boolean;
}

export const NO_SAY = 'a.0';
export const UNKNOWN = 'u.0';

function hashOf(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

function kindOf(d: L7Decision): OutcomeKind {
  if (d.allowed) return 'a';
  return d.semantics === 'antrea-suricata' ? 'r' : 'f';
}

const cmp = (a: readonly [string, string], b: readonly [string, string]): number =>
  a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;

/** Compiles the node's maps. `steered` comes from the datapath's resolved rules of the node. */
export function compileNodeL7(model: PolicyModel, steered: readonly SteeredEndpoint[]): NodeL7 {
  const endpoints = model.cluster.endpoints.filter((e) => e.ips.length > 0);
  const byKey = new Map(endpoints.map((e) => [endpointKey(e), e]));
  const outcomes = new Map<string, OutcomeInfo>([
    [NO_SAY, { kind: 'a' }],
    [UNKNOWN, { kind: 'u' }],
  ]);
  // Named by content, as tables are: a log line written just before a change still finds its meaning.
  const outcome = (d: L7Decision): string => {
    const v = `${kindOf(d)}.${hashOf(JSON.stringify(d))}`;
    if (!outcomes.has(v)) outcomes.set(v, { kind: kindOf(d), decision: d });
    return v;
  };
  const tables = new Map<string, string>(); // table content → id
  const rules: [string, string][] = [];
  const exact: [string, string][] = [];
  const fallbacks: [string, string][] = [];
  const pairs = new Map<string, string>();
  const inexact: InexactFlow[] = [];
  let ipv6 = false;

  const tableId = (t: HttpDecisionTable): string => {
    const text = JSON.stringify(t.directions);
    let id = tables.get(text);
    if (id !== undefined) return id;
    const tagged = (['Egress', 'Ingress'] as const).map((direction) => {
      const d = t.directions.find((x) => x.direction === direction);
      const cells = d === undefined || d.entries.length === 0 ? undefined : exactDirection(d.entries);
      return { tag: direction === 'Egress' ? 'E' : 'I', d, cells } as const;
    });
    // The id says how the proxy decides each direction (haproxy-config.ts): n no entries (fallback only),
    // r regex entries, q/p exact cells keyed by `pathq`/`path`.
    const kind = ({ d, cells }: (typeof tagged)[number]): string => {
      if (cells !== undefined) return cells.field === 'pathq' ? 'q' : 'p';
      return d === undefined || d.entries.length === 0 ? 'n' : 'r';
    };
    id = tagged.map(kind).join('') + hashOf(text);
    tables.set(text, id);
    for (const { tag, d, cells } of tagged) {
      // Every table names both fallbacks, `a.0` where no L7 rule has a say: a table id the fallbacks lack
      // (a race with a map change) then fails closed in the proxy instead of passing.
      if (d === undefined) {
        fallbacks.push([`${id}:${tag}`, NO_SAY]);
        continue;
      }
      if (cells === undefined) {
        for (const e of d.entries)
          rules.push([entryPattern(id, d.direction, e.semantics, e.rule), outcome(e.decision)]);
        fallbacks.push([`${id}:${tag}`, outcome(d.fallback)]);
        continue;
      }
      const decide = (entry: number): string => outcome(d.entries[entry]?.decision ?? d.fallback);
      for (const c of cells.cells) {
        // The (⊥, ⊥) cell is the fallback: what a request of none of the table's methods and paths gets.
        if (c.method === '' && c.value === '') fallbacks.push([`${id}:${tag}`, decide(c.entry)]);
        else exact.push([exactKey(id, tag, c.method, c.value), decide(c.entry)]);
      }
    }
    return id;
  };

  const addFlow = (client: Endpoint, server: Endpoint, port: number, key = String(port)): void => {
    // A pod talking to itself never leaves its netns, so never meets the proxy.
    if (client === server) return;
    const flow: Flow = {
      src: { kind: 'endpoint', endpoint: client },
      dst: { kind: 'endpoint', endpoint: server },
      protocol: 'TCP',
      port,
    };
    const table = httpDecisionTable(model, flow);
    if (!table.directions.every((d) => d.exact))
      inexact.push({ client: endpointKey(client), server: endpointKey(server), port });
    const id = tableId(table);
    for (const s of server.ips) {
      for (const c of client.ips) {
        if (s.includes(':') !== c.includes(':')) continue;
        if (s.includes(':')) ipv6 = true;
        pairs.set(`${s}:${key}/${c}`, id);
      }
    }
  };

  const named = mentionedPorts(model);
  const each = (ranges: readonly PortRange[], f: (port: number, key?: string) => void): void => {
    for (const r of ranges) {
      if (r.to - r.from < PORTS_PER_RANGE) {
        for (let p = r.from; p <= r.to; p++) f(p);
        continue;
      }
      f(r.from, '*');
      for (const p of named) if (p >= r.from && p <= r.to) f(p);
    }
  };
  for (const st of steered) {
    const local = byKey.get(st.endpoint);
    if (local === undefined) continue;
    each(st.ingress, (port, key) => {
      for (const client of endpoints) addFlow(client, local, port, key);
    });
    each(st.egress, (port, key) => {
      for (const server of endpoints) addFlow(local, server, port, key);
    });
  }
  return {
    pairs: [...pairs].sort(cmp),
    rules,
    exact: exact.sort(cmp),
    fallbacks: fallbacks.sort(cmp),
    outcomes,
    inexact,
    ipv6,
  };
}

/** Every single TCP port a rule of the model or a pod's declared port names. */
function mentionedPorts(model: PolicyModel): number[] {
  const out = new Set<number>();
  for (const p of [...model.tiers.flatMap((t) => t.policies), ...model.untiered]) {
    for (const r of [...p.ingress, ...p.egress]) {
      if (r.ports === 'any') continue;
      for (const m of r.ports) if (m.kind === 'range' && m.from === m.to) out.add(m.from);
    }
  }
  for (const e of model.cluster.endpoints) for (const n of e.ports) if (n.protocol === 'TCP') out.add(n.port);
  return [...out].sort((a, b) => a - b);
}
