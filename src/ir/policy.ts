import type { Selector } from './labels.js';
import type { FqdnSemantics, NamespaceScope, PortMatch, Peer } from './peer.js';

export type Direction = 'Ingress' | 'Egress';
export type Action = 'Allow' | 'Deny' | 'Reject' | 'Pass' | 'Log';

/**
 * One header condition of an HTTP rule (Cilium `headers` and `headerMatches`, pkg/policy/api/http.go):
 * the header must be present, and equal `value` when one is given. `mismatch` (headerMatches only) keeps
 * the rule matching when the header is absent or different and says what the proxy does instead: LOG
 * records it, ADD appends the value, DELETE removes the header, REPLACE sets it (adding it if missing).
 */
export interface HttpHeaderMatch {
  /** Header name as written; compared case-insensitively (HTTP field names are). */
  readonly name: string;
  readonly value?: string;
  readonly mismatch?: 'LOG' | 'ADD' | 'DELETE' | 'REPLACE';
}

/** One HTTP rule: every field present must match; an absent field matches anything. */
export interface HttpRule {
  readonly method?: string;
  readonly path?: string;
  readonly host?: string;
  readonly headers?: readonly HttpHeaderMatch[];
}

/**
 * Whose meaning an HTTP match has. The dialects differ on purpose, and the engine must keep each one's
 * meaning without knowing dialects, so the dialect states it here (src/engine/l7.ts evaluates it):
 * - `envoy-regex` (the default when absent; Cilium, Documentation/security/policy/layer7.rst): method,
 *   path and host are regular expressions matched in full against `:method`, `:path` (with its query)
 *   and `:authority`; L7 rules of every allow that matches the flow on that port are a union, and an
 *   allow without L7 rules on that port wildcards them; a denied request gets 403 (gRPC: status 7).
 * - `calico-alp` (Calico application layer policy, felix/app-policy/checker): the HTTP match is part of
 *   the rule's match, so a request it misses falls through to the next rule; methods are exact (`*` is
 *   any), paths are anchored regexes made from exact/prefix, matched against the path without query and
 *   fragment; a denied request gets 403 from Envoy's ext_authz (gRPC: status 7).
 * - `antrea-suricata` (Antrea, docs/antrea-l7-network-policy.md and pkg/agent/controller/networkpolicy/
 *   l7engine/reconciler.go): path and host are globs with `*` only at either end, path against the
 *   request URI with its query, host without port; the rule the L3/L4 walk chose decides alone; a denied
 *   request is rejected by Suricata with a TCP reset.
 */
export type HttpSemantics = 'envoy-regex' | 'calico-alp' | 'antrea-suricata';

/**
 * Application-layer match: HTTP is decided by src/engine/l7.ts and enforced per request by the node's L7
 * proxy (src/l7); DNS is decided per query by src/engine/dns.ts (which queries a pod may send, with
 * `patterns` read as `semantics` says, default `cilium`), offline only for now; Kafka and other protocols
 * are parsed and reported, not enforced.
 */
export type L7Match =
  | {
      readonly kind: 'http';
      readonly semantics?: HttpSemantics;
      readonly rules: readonly HttpRule[];
    }
  | { readonly kind: 'dns'; readonly semantics?: FqdnSemantics; readonly patterns: readonly string[] }
  | { readonly kind: 'kafka'; readonly rules: readonly { topic?: string; role?: string }[] }
  | { readonly kind: 'other'; readonly protocol: string };

/**
 * Which policy a rule belongs to and where its object was written, for explanations, flow logs and lint
 * (ARCHITECTURE.md contract).
 */
export interface PolicyRef {
  readonly dialect: Dialect;
  readonly kind: string;
  readonly namespace?: string;
  /**
   * Unique per dialect, kind and namespace (`policyId`), as explanations and flow logs show it: the
   * object's metadata.name, or for a piece of an object written as several policies that name with the
   * piece's suffix (`name[i]` for Cilium's `specs[i]`, `name#i` for Antrea's appliedTo pieces). Never
   * parse it: `part` says what the piece is.
   */
  readonly name: string;
  /** File the object was read from ('-' for stdin). */
  readonly file?: string;
  /** 0-based YAML document of `file`. */
  readonly doc?: number;
  /** Set on each piece of an object written as several policies (see `name`). */
  readonly part?: PolicyPart;
}

/** Which piece of its written object a policy is. */
export interface PolicyPart {
  /** The object's metadata.name, as written. */
  readonly name: string;
  /** Path of the spec the piece came from, relative to the object: `spec`, or Cilium's `specs[2]`. */
  readonly spec: string;
  /** 0-based position of the piece among the pieces of its object. */
  readonly index: number;
}

export type Dialect =
  'kubernetes' | 'cluster-network-policy' | 'admin-network-policy' | 'calico' | 'cilium' | 'antrea';

/**
 * One rule. `peers: 'any'` and `ports: 'any'` are the explicit "no restriction" (Kubernetes' missing or
 * empty `from`/`to`/`ports`); an empty list matches nothing.
 */
export interface Rule {
  readonly action: Action;
  readonly peers: 'any' | readonly Peer[];
  readonly ports: 'any' | readonly PortMatch[];
  readonly l7?: L7Match;
  /**
   * Negative matches (Calico notNets/notSelector/notPorts/notProtocol): the rule matches only when the
   * peer matches none of `notPeers` and the port none of `notPorts`. Absent means no exclusion.
   */
  readonly notPeers?: readonly Peer[];
  readonly notPorts?: readonly PortMatch[];
  /**
   * Where a Pass continues: the named tier (Antrea and AdminNetworkPolicy pass straight to the Kubernetes
   * NetworkPolicy stage). Absent: the next tier.
   */
  readonly passTo?: string;
  /** Position in the policy's written list for its direction, for attribution. */
  readonly index: number;
  readonly name?: string;
}

/** Endpoints a policy applies to: namespaces × pod selector (AND). */
export interface Subject {
  readonly namespaces: NamespaceScope;
  readonly pods: Selector;
}

/**
 * A policy placed in a tier. `isolates` lists the directions in which a selected endpoint becomes
 * default-deny when no rule allows (Kubernetes policyTypes); first-match tiers leave it empty.
 */
export interface Policy {
  readonly ref: PolicyRef;
  readonly tier: string;
  /** Lower runs first inside the tier; ties break on name. */
  readonly priority: number;
  readonly subject: Subject;
  readonly isolates: readonly Direction[];
  readonly ingress: readonly Rule[];
  readonly egress: readonly Rule[];
  /**
   * Where the object is written in `ref.file`: the 1-based line of the object itself ('') and of each of
   * its mapping keys and list entries, by path relative to the object (`spec.ingress[0].ports[1]`, the
   * paths diagnostics and lint findings use). Filled by the loader; absent for policies built in code.
   * Kept off the ref, which explanations print and the datapath fingerprints whole.
   */
  readonly lines?: Readonly<Record<string, number>>;
}

export function policyId(ref: PolicyRef): string {
  return `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

/**
 * The 1-based line of `path` (relative to the policy's object) in its file, or of its nearest written
 * ancestor, or of the object itself; undefined when the policy records no lines.
 */
export function lineOf(policy: Policy, path: string): number | undefined {
  const { lines } = policy;
  if (lines === undefined) return undefined;
  // `spec.ingress[0].ports` → 'spec', 'spec.ingress', 'spec.ingress[0]', 'spec.ingress[0].ports'.
  const prefixes: string[] = [];
  for (const m of path.matchAll(/\[\d+\]|[^.[\]]+/g)) {
    const last = prefixes[prefixes.length - 1];
    const segment = m[0];
    prefixes.push(
      last === undefined ? segment : segment.startsWith('[') ? last + segment : `${last}.${segment}`,
    );
  }
  for (const p of prefixes.reverse()) {
    const line = lines[p];
    if (line !== undefined) return line;
  }
  return lines[''];
}
