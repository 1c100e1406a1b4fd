/**
 * L7 (HTTP and gRPC) semantics, decided offline: given the model, a flow and one HTTP request, which L7
 * rule of which policy decided and what the client observes. An additional layer on top of the L3/L4
 * verdict (`evaluateDetailed`), which it never changes: L7 only acts where L3/L4 allowed on a rule that
 * carries an HTTP match. Nothing here is enforced in the datapath yet.
 *
 * Each dialect keeps its own meaning, stated by the dialect in `L7Match.semantics` (see HttpSemantics in
 * src/ir/policy.ts for the sources); this module never asks which dialect a rule came from.
 */
import type {
  Direction,
  Flow,
  HttpHeaderMatch,
  HttpRule,
  HttpSemantics,
  L7Match,
  Policy,
  Rule,
  RuleRef,
} from '../ir/index.js';
import type { Verdict } from '../ir/flow.js';
import type { Endpoint } from '../ir/endpoint.js';
import { endpointKey } from '../ir/endpoint.js';
import { computeMatrix } from './matrix.js';
import type { MatrixCell, Target } from './matrix.js';
import type { DirectionDetail } from './evaluate.js';
import { evaluateDetailed } from './evaluate.js';
import { ruleMatches } from './match.js';
import type { PolicyModel } from './model.js';
import { rulesOf, runPipeline } from './pipeline.js';
import type { DirectionQuery, Stage } from './pipeline.js';

/** What the client observes (ARCHITECTURE.md "Contracts": one vocabulary everywhere). */
export type L7Response = 'forwarded' | `http:${number}` | `grpc:${number}` | 'reset' | 'dropped';

/** One HTTP request as the client sends it. */
export interface HttpRequest {
  readonly method: string;
  /** The request target as sent: path with its query (`/a/b?x=1`). */
  readonly path: string;
  /** Header fields; names in any case (`Host` included; `content-type: application/grpc` makes it gRPC). */
  readonly headers: Readonly<Record<string, string>>;
}

/** How one direction's L7 layer decided. */
export interface L7Decision {
  readonly direction: Direction;
  readonly allowed: boolean;
  /**
   * - `matched`: entry `entry` of the HTTP rules of `by` matched;
   * - `l4-wildcard`: `by` allows the flow on that port without L7 rules, which wildcards the L7 rules of
   *   the other allows (Cilium, Documentation/security/policy/layer7.rst);
   * - `no-match`: no HTTP rule matched; `by` is the rule whose L7 rules were checked last.
   */
  readonly why: 'matched' | 'l4-wildcard' | 'no-match';
  readonly by: RuleRef;
  readonly entry?: number;
  readonly semantics: HttpSemantics;
  /** headerMatches that did not match but carry a mismatch action (the rule still matched). */
  readonly headerActions?: readonly HttpHeaderMatch[];
}

export interface HttpVerdict {
  /** The L3/L4 verdict, unchanged. */
  readonly l4: Verdict;
  /** The end result: L3/L4 allowed and no L7 layer denied. */
  readonly allowed: boolean;
  readonly response: L7Response;
  /** The L7 decisions, egress (the client's side, first on the wire) before ingress. */
  readonly l7: readonly L7Decision[];
}

/** gRPC is HTTP/2 with `content-type: application/grpc[+proto|…]` (grpc PROTOCOL-HTTP2.md). */
export function isGrpc(req: HttpRequest): boolean {
  return /^application\/grpc(\+|;|$)/i.test(header(req, 'content-type') ?? '');
}

function header(req: HttpRequest, name: string): string | undefined {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(req.headers)) if (k.toLowerCase() === want) return v;
  return undefined;
}

/**
 * What a denied request gets back. Envoy-based proxies (Cilium's, and Calico's ext_authz through Dikastes)
 * answer 403 locally (Cilium's docs, network/servicemesh/default-deny-ingress-policy, show `403 Forbidden`
 * from `server: envoy`), which Envoy turns into grpc-status 7 for a gRPC request (envoy
 * source/common/grpc/status.cc, Utility::httpToGrpcStatus: 403 → PermissionDenied). The body is not modelled. Antrea's Suricata runs a `reject` rule
 * (l7engine/reconciler.go: `reject ip any any -> any any`), which for TCP sends a reset, gRPC or not.
 */
export function deniedResponse(semantics: HttpSemantics, req: HttpRequest): L7Response {
  if (semantics === 'antrea-suricata') return 'reset';
  return isGrpc(req) ? 'grpc:7' : 'http:403';
}

// ---------------------------------------------------------------------------------------------------------
// Matching one HTTP rule

/**
 * Full match of a Cilium regex. Cilium documents POSIX ERE (pkg/policy/api/http.go), validates with Go's
 * RE2 and Envoy runs it as a safe_regex (RE2) full match; JS RegExp agrees on the common subset, and
 * differs where: POSIX bracket classes (`[[:alpha:]]`) are a plain class in JS; JS accepts
 * backreferences and lookaround, which RE2 refuses; ERE's leftmost-longest vs JS leftmost-first does not
 * change whether a full match exists. An invalid pattern matches nothing (the dialect reports it).
 */
export function fullRegexMatch(pattern: string, s: string): boolean {
  try {
    return new RegExp(`^(?:${pattern})$`).test(s);
  } catch {
    return false;
  }
}

/**
 * Antrea's glob (l7engine/reconciler.go convertContent): a leading `*` drops `startswith`, a trailing `*`
 * drops `endswith`; any other `*` is a literal character. Case-sensitive, as Suricata's `content`.
 */
export function antreaGlobMatch(pattern: string, s: string): boolean {
  const anyStart = pattern.startsWith('*');
  const body = pattern.slice(anyStart ? 1 : 0);
  const anyEnd = body.endsWith('*');
  const content = anyEnd ? body.slice(0, -1) : body;
  if (anyStart && anyEnd) return s.includes(content);
  if (anyStart) return s.endsWith(content);
  if (anyEnd) return s.startsWith(content);
  return s === content;
}

/** The path without query and fragment, as Calico's Dikastes compares it (app-policy/checker matchHTTPPaths). */
function pathOnly(target: string): string {
  return target.split('?')[0]?.split('#')[0] ?? '';
}

/** Host without port, lower-case (Suricata normalises `http.host`; the Antrea doc: "does not contain the port"). */
function hostOnly(host: string): string {
  const h = host.toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  return h.replace(/:\d*$/, '');
}

export interface EntryMatch {
  readonly matched: boolean;
  readonly headerActions: readonly HttpHeaderMatch[];
}

/** Cilium headers/headerMatches: present, and equal to `value` when given; a mismatch action keeps the match. */
function headersMatch(rule: HttpRule, req: HttpRequest): EntryMatch {
  const actions: HttpHeaderMatch[] = [];
  for (const h of rule.headers ?? []) {
    const got = header(req, h.name);
    const ok = got !== undefined && (h.value === undefined || got === h.value);
    if (ok) continue;
    if (h.mismatch === undefined) return { matched: false, headerActions: [] };
    actions.push(h);
  }
  return { matched: true, headerActions: actions };
}

const NO_ACTIONS: readonly HttpHeaderMatch[] = [];

export function httpRuleMatches(semantics: HttpSemantics, rule: HttpRule, req: HttpRequest): EntryMatch {
  const host = header(req, 'host') ?? '';
  const miss = { matched: false, headerActions: NO_ACTIONS };
  switch (semantics) {
    case 'envoy-regex': {
      // pkg/envoy/xds_server.go: method → `:method`, path → `:path` (the target with its query), host →
      // `:authority` (the Host header as sent, port included), each a full regex match; an empty field is
      // left out ("If omitted or empty, all … are allowed", pkg/policy/api/http.go).
      if (rule.method && !fullRegexMatch(rule.method, req.method)) return miss;
      if (rule.path && !fullRegexMatch(rule.path, req.path)) return miss;
      if (rule.host && !fullRegexMatch(rule.host, host)) return miss;
      return headersMatch(rule, req);
    }
    case 'calico-alp': {
      // felix/app-policy/checker matchHTTPMethods: exact, case-sensitive, `*` any; matchHTTPPaths: the
      // path without `?query` and `#fragment` (the dialect wrote exact/prefix as anchored regexes).
      if (rule.method !== undefined && rule.method !== '*' && rule.method !== req.method) return miss;
      if (rule.path !== undefined && !new RegExp(rule.path).test(pathOnly(req.path))) return miss;
      return { matched: true, headerActions: NO_ACTIONS };
    }
    case 'antrea-suricata': {
      // l7engine/reconciler.go convertProtocolHTTP: `http.uri` (the target with its query) and `http.host`
      // take the glob; `http.method; content:"GET";` has neither startswith nor endswith, so Suricata
      // looks for the method as a substring (the documented values never contain one another).
      if (rule.path !== undefined && !antreaGlobMatch(rule.path, req.path)) return miss;
      if (rule.method !== undefined && !req.method.includes(rule.method)) return miss;
      if (rule.host !== undefined && !antreaGlobMatch(rule.host, hostOnly(host))) return miss;
      return { matched: true, headerActions: NO_ACTIONS };
    }
  }
}

/**
 * Whether entry `index` of `l7` matches: the request's own matcher (`requestMatcher`), or, to tabulate a
 * flow's L7 decisions for a proxy (l7-table.ts), an oracle saying which one entry is taken to match.
 */
export type EntryMatcher = (l7: HttpL7, index: number, rule: HttpRule) => EntryMatch;

/** Matches entries against one real request, with each entry's semantics. */
export function requestMatcher(req: HttpRequest): EntryMatcher {
  return (l7, _index, rule) => httpRuleMatches(l7.semantics ?? 'envoy-regex', rule, req);
}

/** Index of the first entry of `l7` that matches, with its header actions; -1 when none does. */
function firstEntry(
  l7: HttpL7,
  match: EntryMatcher,
): { entry: number; headerActions: readonly HttpHeaderMatch[] } {
  for (const [i, r] of l7.rules.entries()) {
    const m = match(l7, i, r);
    if (m.matched) return { entry: i, headerActions: m.headerActions };
  }
  return { entry: -1, headerActions: NO_ACTIONS };
}

export type HttpL7 = Extract<L7Match, { kind: 'http' }>;

export function httpOf(rule: Rule): HttpL7 | undefined {
  return rule.l7?.kind === 'http' ? rule.l7 : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// One direction

function refOf(tier: string, policy: Policy, direction: Direction, rule: Rule): RuleRef {
  return { tier, policy: policy.ref, direction, rule: rule.index, action: rule.action };
}

/** The policy and rule a RuleRef names, found among the policies that took part in its tier. */
export function locate(
  model: PolicyModel,
  query: DirectionQuery,
  ref: RuleRef,
): { policy: Policy; rule: Rule; tierIndex: number } | undefined {
  const tierIndex = model.tiers.findIndex((t) => t.tier.name === ref.tier);
  const pools = tierIndex >= 0 ? [query.policies(tierIndex)] : model.tiers.map((_, i) => query.policies(i));
  for (const policies of pools) {
    const policy = policies.find((p) => p.ref === ref.policy);
    const rule = policy && rulesOf(policy, ref.direction).find((r) => r.index === ref.rule);
    if (policy && rule) return { policy, rule, tierIndex };
  }
  return undefined;
}

/** Every Allow of the deciding rule's tier that matches the flow at L3/L4, in evaluation order. */
export function matchingAllows(
  query: DirectionQuery,
  decided: { policy: Policy; rule: Rule; tierIndex: number },
): { policy: Policy; rule: Rule }[] {
  if (decided.tierIndex < 0) return [decided];
  return query.policies(decided.tierIndex).flatMap((policy) =>
    rulesOf(policy, query.direction)
      .filter((rule) => rule.action === 'Allow' && ruleMatches(query.check(policy, rule)))
      .map((rule) => ({ policy, rule })),
  );
}

/**
 * Cilium: the L7 rules of every allow of the deciding stage that matches the flow on that port are one
 * union ("A layer 7 request is permitted if at least one of the rules matches"), and an allow without L7
 * rules wildcards them ("If a layer 4 rule is specified in the policy, and a similar layer 4 rule with
 * layer 7 rules is also specified, then the layer 7 portions of the latter rule will have no effect"),
 * Documentation/security/policy/layer7.rst.
 */
function envoyUnion(
  query: DirectionQuery,
  decided: { policy: Policy; rule: Rule; tierIndex: number },
  by: RuleRef,
  match: EntryMatcher,
): L7Decision {
  const direction = query.direction;
  const allows = matchingAllows(query, decided);
  const tier = by.tier;
  const wildcard = allows.find((a) => httpOf(a.rule) === undefined);
  const base = { direction, semantics: 'envoy-regex' as const };
  if (wildcard)
    return {
      ...base,
      allowed: true,
      why: 'l4-wildcard',
      by: refOf(tier, wildcard.policy, direction, wildcard.rule),
    };
  for (const a of allows) {
    const l7 = httpOf(a.rule);
    if (l7 === undefined) continue;
    const { entry, headerActions } = firstEntry(l7, match);
    if (entry >= 0)
      return {
        ...base,
        allowed: true,
        why: 'matched',
        by: refOf(tier, a.policy, direction, a.rule),
        entry,
        ...(headerActions.length === 0 ? {} : { headerActions }),
      };
  }
  return { ...base, allowed: false, why: 'no-match', by };
}

/**
 * Calico: the HTTP match is part of the rule's match ("The presence of an HTTPMatch clause on a Rule will
 * cause that rule to only match HTTP traffic", HTTPMatch in the Calico policy reference), so the walk is
 * run again with HTTP rules that miss the request not matching; whatever then decides, decides.
 */
function calicoRewalk(
  stages: readonly Stage[],
  query: DirectionQuery,
  by: RuleRef,
  match: EntryMatcher,
): L7Decision {
  const direction = query.direction;
  const withHttp: DirectionQuery = {
    direction,
    policies: (i) => query.policies(i),
    check: (policy, rule) => {
      const c = query.check(policy, rule);
      const l7 = httpOf(rule);
      if (l7 === undefined || !ruleMatches(c) || firstEntry(l7, match).entry >= 0) return c;
      return { peers: c.peers, ports: false };
    },
  };
  const r = runPipeline(stages, withHttp);
  const base = { direction, semantics: 'calico-alp' as const };
  if (!r.allowed) return { ...base, allowed: false, why: 'no-match', by: r.decidedBy ?? by };
  const decided = r.decidedBy ?? by;
  const hit = r.decidedBy === undefined ? undefined : locateIn(stages, withHttp, r.decidedBy);
  const l7 = hit && httpOf(hit);
  if (l7 === undefined) return { ...base, allowed: true, why: 'l4-wildcard', by: decided };
  return { ...base, allowed: true, why: 'matched', by: decided, entry: firstEntry(l7, match).entry };
}

function locateIn(stages: readonly Stage[], query: DirectionQuery, ref: RuleRef): Rule | undefined {
  for (const s of stages) {
    const policy = s.policies(query).find((p) => p.ref === ref.policy);
    const rule = policy && rulesOf(policy, ref.direction).find((r) => r.index === ref.rule);
    if (rule) return rule;
  }
  return undefined;
}

/** The L7 decision of one direction, or undefined when no L7 rule has a say there. */
export function directionL7(
  model: PolicyModel,
  stages: readonly Stage[],
  d: DirectionDetail,
  match: EntryMatcher,
): L7Decision | undefined {
  const { verdict, query } = d;
  const by = verdict.decidedBy;
  if (!verdict.allowed || by === undefined || query === undefined) return undefined;
  const decided = locate(model, query, by);
  if (decided === undefined) return undefined;
  const l7 = httpOf(decided.rule);
  if (l7 === undefined) {
    // An L4-only allow decided; say so when it wildcards Cilium L7 rules of the same stage.
    const shadowed = matchingAllows(query, decided).some((a) => {
      const h = httpOf(a.rule);
      return h !== undefined && (h.semantics ?? 'envoy-regex') === 'envoy-regex';
    });
    return shadowed
      ? { direction: query.direction, semantics: 'envoy-regex', allowed: true, why: 'l4-wildcard', by }
      : undefined;
  }
  const semantics = l7.semantics ?? 'envoy-regex';
  switch (semantics) {
    case 'envoy-regex':
      return envoyUnion(query, decided, by, match);
    case 'calico-alp':
      return calicoRewalk(stages, query, by, match);
    case 'antrea-suricata': {
      // docs/antrea-l7-network-policy.md: traffic matching a layer 7 rule's L3/L4 criteria goes to the
      // engine, "allowed if the layer 7 criteria is also matched, otherwise it will be dropped", and "any
      // rules after a layer 7 rule will not be enforced" for it: the rule the walk chose decides alone.
      const { entry } = firstEntry(l7, match);
      return entry >= 0
        ? { direction: query.direction, semantics, allowed: true, why: 'matched', by, entry }
        : { direction: query.direction, semantics, allowed: false, why: 'no-match', by };
    }
  }
}

/**
 * Evaluates one HTTP request on a flow: the L3/L4 verdict first (a denial is `dropped`, a Reject `reset`),
 * then the client's egress L7 layer, then the server's ingress L7 layer; the first L7 layer that denies
 * answers the client.
 */
export function evaluateHttp(model: PolicyModel, flow: Flow, req: HttpRequest): HttpVerdict {
  const detail = evaluateDetailed(model, flow);
  const l4 = detail.verdict;
  if (!l4.allowed)
    return { l4, allowed: false, response: l4.action === 'Reject' ? 'reset' : 'dropped', l7: [] };
  const l7: L7Decision[] = [];
  const match = requestMatcher(req);
  for (const d of [detail.egress, detail.ingress]) {
    const decision = directionL7(model, detail.stages, d, match);
    if (decision === undefined) continue;
    l7.push(decision);
    if (!decision.allowed)
      return { l4, allowed: false, response: deniedResponse(decision.semantics, req), l7 };
  }
  return { l4, allowed: true, response: 'forwarded', l7 };
}

/** One cell of `analyze matrix --http`: the matrix contract's cell plus what the client observes. */
export interface HttpMatrixCell extends MatrixCell {
  readonly response: L7Response;
}

/**
 * The request on every ordered pair of pods, for each TCP target (HTTP needs TCP). `allowed` is the end
 * result; `requestFor` builds the request a client sends to that destination (its Host differs).
 */
export function computeHttpMatrix(
  model: PolicyModel,
  targets: readonly Target[],
  requestFor: (dst: Endpoint) => HttpRequest,
): { pods: string[]; results: HttpMatrixCell[] } {
  const tcp = targets.filter((t) => t.protocol === 'TCP');
  const base = computeMatrix(model, tcp);
  const byKey = new Map(model.cluster.endpoints.map((e) => [endpointKey(e), e]));
  const requests = new Map<Endpoint, HttpRequest>();
  const results = base.results.map((c): HttpMatrixCell => {
    const src = byKey.get(c.from);
    const dst = byKey.get(c.to);
    if (src === undefined || dst === undefined)
      throw new Error(`matrix pod ${c.from} or ${c.to} not in the model`);
    let req = requests.get(dst);
    if (req === undefined) requests.set(dst, (req = requestFor(dst)));
    const flow: Flow = {
      src: { kind: 'endpoint', endpoint: src },
      dst: { kind: 'endpoint', endpoint: dst },
      protocol: c.protocol,
      port: c.port,
    };
    const v = evaluateHttp(model, flow, req);
    return { ...c, allowed: v.allowed, response: v.response };
  });
  return { pods: base.pods, results };
}
