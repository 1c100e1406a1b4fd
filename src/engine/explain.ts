/**
 * Why a flow got its verdict, as data (for `-o json`) plus one formatter for humans. Built from the same
 * pipeline run as `evaluate`, observed rule by rule, so the explanation cannot disagree with the verdict.
 */
import type { DirectionVerdict, Flow, RuleRef, Verdict } from '../ir/flow.js';
import type { Peer, PortMatch } from '../ir/peer.js';
import type { Action, Direction, Policy, PolicyRef, Rule } from '../ir/policy.js';
import { policyId } from '../ir/policy.js';
import type { Protocol } from '../ir/endpoint.js';
import { evaluateDetailed } from './evaluate.js';
import { evaluateHttp, isGrpc } from './l7.js';
import { evaluateDnsQuery } from './dns.js';
import type { DnsDecision, DnsQueryOptions, DnsResponse } from './dns.js';
import type { HttpRequest, L7Decision, L7Response } from './l7.js';
import type { DirectionDetail } from './evaluate.js';
import { fqdnHits, ruleMatches } from './match.js';
import type { RuleCheck } from './match.js';
import type { PolicyModel } from './model.js';
import { PROFILES, rulesOf } from './pipeline.js';
import type { SemanticsProfile, Stage, StageStep } from './pipeline.js';
import { peerMisses } from './peer-miss.js';
import { sideOfFlowPeer } from './side.js';
import type { Side } from './side.js';

export type RuleOutcome =
  | 'decided'
  | 'logged'
  | 'passed'
  /** Allowed by the Kubernetes gate of a CNI profile: the rest of the pipeline decides. */
  | 'admitted'
  /** Matched, but an earlier decision or a deny elsewhere made it irrelevant. */
  | 'matched'
  /** Peers and ports matched, but a notPeers/notPorts entry excluded the flow. */
  | 'excluded'
  | 'peer-mismatch'
  | 'port-mismatch'
  | 'peer-and-port-mismatch'
  | 'not-reached';

export interface RuleExplanation {
  readonly index: number;
  readonly name?: string;
  readonly action: Action;
  readonly outcome: RuleOutcome;
  /** Present when the pipeline checked the rule. */
  readonly check?: RuleCheck;
  /** For a pass: the tier the walk continued at ('default' when no stage was left). */
  readonly passedTo?: string;
  readonly notes: readonly string[];
}

export interface PolicyExplanation {
  /** The tier of the stage that ran the policy (the gate's for Kubernetes policy under a CNI profile). */
  readonly tier: string;
  readonly policy: PolicyRef;
  /** Whether the policy makes the subject default-deny in this direction. */
  readonly isolates: boolean;
  readonly rules: readonly RuleExplanation[];
}

export interface DirectionExplanation {
  readonly direction: Direction;
  /** The side whose pipeline this is (source for egress, destination for ingress). */
  readonly subject: string;
  /** The other side, as rules see it. */
  readonly peer: string;
  readonly verdict: DirectionVerdict;
  /** Tier whose stage decided; absent when a fixed rule or the default decided. */
  readonly decidedIn?: string;
  /** Stages that decided, passed (and where to) or admitted, in order. */
  readonly steps: readonly StageStep[];
  /** Policies selecting the subject in this direction, in evaluation order. */
  readonly policies: readonly PolicyExplanation[];
}

export interface Explanation {
  readonly flow: {
    readonly src: string;
    readonly dst: string;
    readonly protocol: Protocol;
    readonly port: number;
  };
  readonly semantics: SemanticsProfile;
  readonly verdict: Verdict;
  readonly egress: DirectionExplanation;
  readonly ingress: DirectionExplanation;
}

function sameRef(a: RuleRef, tier: string, policy: PolicyRef, index: number, action: Action): boolean {
  return (
    a.tier === tier && policyId(a.policy) === policyId(policy) && a.rule === index && a.action === action
  );
}

function describePeer(p: Peer): string {
  switch (p.kind) {
    case 'endpoints': {
      const ns = p.namespaces.kind === 'names' ? `namespaces ${p.namespaces.names.join(',')}` : 'namespaces';
      return `pods in ${ns} matching a selector`;
    }
    case 'cidr':
      return p.except.length > 0 ? `${p.cidr} except ${p.except.join(',')}` : p.cidr;
    case 'entity':
      return `entity ${p.entity}`;
    case 'nodes':
      return 'nodes matching a selector';
    case 'fqdn':
      return `fqdn ${p.pattern}`;
  }
}

function describePort(pm: PortMatch): string {
  switch (pm.kind) {
    case 'protocol':
      return pm.protocol;
    case 'icmp':
      return `ICMPv${pm.family === 4 ? 4 : 6}`;
    case 'range':
      return pm.from === pm.to ? `${pm.protocol}/${pm.from}` : `${pm.protocol}/${pm.from}-${pm.to}`;
    case 'named':
      return `${pm.protocol}/${pm.name}`;
  }
}

/** The note saying which negation excluded the flow, if one did. */
function exclusion(rule: Rule, check: RuleCheck | undefined): string | undefined {
  if (check?.notPeer !== undefined) {
    const p = rule.notPeers?.[check.notPeer];
    return `excluded by notPeers[${check.notPeer}]${p ? ` (${describePeer(p)})` : ''}`;
  }
  if (check?.notPort !== undefined) {
    const pm = rule.notPorts?.[check.notPort];
    return `excluded by notPorts[${check.notPort}]${pm ? ` (${describePort(pm)})` : ''}`;
  }
  return undefined;
}

export const L7_NOTE =
  'L7: HTTP rules are decided per request by the node proxy (nftables datapath; iptables leaves them out) — see --http';

export const FQDN_NOTE =
  "FQDN peers cover the addresses the node's DNS proxy learnt for a name they select; none are given " +
  'here (model resolutions with --dns NAME=IP)';

export const DNS_NOTE =
  'L7: DNS rules decide which queries are answered (see --dns-query); enforced offline only, the ' +
  'datapath does not filter DNS yet';

function ruleNotes(rule: Rule, check: RuleCheck | undefined, model: PolicyModel, other: Side): string[] {
  const notes: string[] = [];
  if (check && !check.peers && rule.peers !== 'any') notes.push(...peerMisses(model, rule.peers, other));
  const peers = [...(rule.peers === 'any' ? [] : rule.peers), ...(rule.notPeers ?? [])];
  const fqdns = peers.filter((p): p is Extract<Peer, { kind: 'fqdn' }> => p.kind === 'fqdn');
  if (fqdns.length > 0 && model.dns.size === 0) notes.push(FQDN_NOTE);
  if (check?.peers === true)
    for (const p of fqdns)
      for (const h of fqdnHits(model, p, other.ips))
        notes.push(`fqdn ${p.pattern} admits ${h.ip}: learnt for ${h.name || '.'}`);
  if (peers.some((p) => p.kind === 'entity' && p.entity === 'kube-apiserver'))
    notes.push('the kube-apiserver entity is not modelled and never matches');
  const excluded = exclusion(rule, check);
  if (excluded !== undefined) notes.push(excluded);
  if (rule.l7 && check && ruleMatches(check))
    notes.push(
      rule.l7.kind === 'http'
        ? L7_NOTE
        : rule.l7.kind === 'dns'
          ? DNS_NOTE
          : `L7: ${rule.l7.kind} rules are parsed, not enforced: the rule allows its ports at L3/L4`,
    );
  return notes;
}

function outcomeOf(
  check: RuleCheck | undefined,
  detail: DirectionDetail,
  tier: string,
  policy: Policy,
  rule: Rule,
): { outcome: RuleOutcome; passedTo?: string } {
  if (!check) return { outcome: 'not-reached' };
  if (!check.peers) return { outcome: check.ports ? 'peer-mismatch' : 'peer-and-port-mismatch' };
  if (!check.ports) return { outcome: 'port-mismatch' };
  if (!ruleMatches(check)) return { outcome: 'excluded' };
  const is = (r: RuleRef | undefined): boolean =>
    r !== undefined && sameRef(r, tier, policy.ref, rule.index, rule.action);
  const v = detail.verdict;
  if (is(v.decidedBy)) return { outcome: 'decided' };
  const step = detail.steps.find((s) => is(s.by));
  if (step?.decision === 'pass') return { outcome: 'passed', passedTo: step.continuedAt ?? 'default' };
  if (step?.decision === 'next') return { outcome: 'admitted' };
  if (v.trail.some(is)) return { outcome: rule.action === 'Pass' ? 'passed' : 'logged' };
  return { outcome: 'matched' };
}

function explainPolicies(
  stages: readonly Stage[],
  detail: DirectionDetail,
  checks: ReadonlyMap<Rule, RuleCheck>,
  model: PolicyModel,
  other: Side,
): PolicyExplanation[] {
  const { query } = detail;
  if (query === undefined) return [];
  const d = query.direction;
  return stages.flatMap((stage) =>
    stage.policies(query).map((p): PolicyExplanation => ({
      tier: stage.tier.name,
      policy: p.ref,
      isolates: p.isolates.includes(d),
      rules: rulesOf(p, d).map((rule) => {
        const check = checks.get(rule);
        const { outcome, passedTo } = outcomeOf(check, detail, stage.tier.name, p, rule);
        return {
          index: rule.index,
          ...(rule.name === undefined ? {} : { name: rule.name }),
          action: rule.action,
          outcome,
          ...(check ? { check } : {}),
          ...(passedTo === undefined ? {} : { passedTo }),
          notes: ruleNotes(rule, check, model, other),
        };
      }),
    })),
  );
}

export function explain(model: PolicyModel, flow: Flow): Explanation {
  const checks = { Ingress: new Map<Rule, RuleCheck>(), Egress: new Map<Rule, RuleCheck>() };
  const detail = evaluateDetailed(model, flow, (direction, _tier, _policy, rule, check) => {
    checks[direction].set(rule, check);
  });
  const src = sideOfFlowPeer(model, flow.src);
  const dst = sideOfFlowPeer(model, flow.dst);

  const direction = (d: Direction): DirectionExplanation => {
    const [subject, peer] = d === 'Egress' ? [src, dst] : [dst, src];
    const dd = d === 'Egress' ? detail.egress : detail.ingress;
    return {
      direction: d,
      subject: subject.label,
      peer: peer.label,
      verdict: dd.verdict,
      ...(dd.tier === undefined ? {} : { decidedIn: dd.tier }),
      steps: dd.steps,
      policies: explainPolicies(detail.stages, dd, checks[d], model, peer),
    };
  };

  return {
    flow: { src: src.label, dst: dst.label, protocol: flow.protocol, port: flow.port },
    semantics: model.semantics,
    verdict: detail.verdict,
    egress: direction('Egress'),
    ingress: direction('Ingress'),
  };
}

/** "kubernetes NetworkPolicy ns/name": dialect, kind, namespace/name. */
function policyName(ref: PolicyRef): string {
  return `${ref.dialect} ${ref.kind} ${ref.namespace === undefined ? '' : `${ref.namespace}/`}${ref.name}`;
}

/** The written name of the rule a ref points at, looked up among the explained policies. */
function nameOf(e: DirectionExplanation, ref: RuleRef): string | undefined {
  const p = e.policies.find((x) => x.tier === ref.tier && policyId(x.policy) === policyId(ref.policy));
  return p?.rules.find((r) => r.index === ref.rule && r.action === ref.action)?.name;
}

/** Dialect, tier, policy, rule index and name: everything attribution needs. */
function ruleName(e: DirectionExplanation, ref: RuleRef): string {
  const name = nameOf(e, ref);
  const rule = `rule ${ref.rule}${name === undefined ? '' : ` "${name}"`} (${ref.action})`;
  return `${rule} of ${policyName(ref.policy)} in tier ${ref.tier}`;
}

const OUTCOME_TEXT: Record<RuleOutcome, string> = {
  decided: 'matched, decided',
  logged: 'matched, logged',
  passed: 'matched, passed',
  admitted: 'matched, allowed through the Kubernetes gate (the rest of the pipeline decides)',
  matched: 'matched',
  excluded: 'matched, but excluded by a negation',
  'peer-mismatch': 'peer does not match',
  'port-mismatch': 'port does not match',
  'peer-and-port-mismatch': 'neither peer nor port matches',
  'not-reached': 'not reached',
};

function outcomeText(r: RuleExplanation): string {
  if (r.outcome !== 'passed' || r.passedTo === undefined) return OUTCOME_TEXT[r.outcome];
  return r.passedTo === 'default'
    ? 'matched, passed (no tier left: default verdict)'
    : `matched, passed to tier ${r.passedTo}`;
}

function headline(e: DirectionExplanation, flow: Explanation['flow']): string {
  const v = e.verdict;
  const what = `${flow.protocol}/${flow.port}`;
  const toward = e.direction === 'Egress' ? `to ${e.peer}` : `from ${e.peer}`;
  const result = v.allowed ? 'allowed' : v.decidedBy?.action === 'Reject' ? 'REJECTED' : 'DENIED';
  const selected = `selected by ${v.selectedBy.map((r) => policyName(r)).join(', ')} (${e.direction})`;
  const head = `${e.direction.toLowerCase()} ${e.subject}:`;
  switch (v.reason) {
    case 'not-subject':
      return `${head} not a pod, no policy applies → allowed`;
    case 'host-network':
      return `${head} host-network pod, not subject to network policy → allowed`;
    case 'loopback':
      return `${head} traffic to itself (loopback) → allowed`;
    case 'node-local':
      return `${head} from its own node, which policy cannot block → allowed`;
    case 'no-policy':
      return `${head} not isolated (no policy selects it) → allowed`;
    case 'isolated':
      return `${head} ${selected}; isolated in tier ${e.decidedIn ?? '?'} and no rule allows ${what} ${toward} → ${result}`;
    case 'default':
      return `${head} ${selected}; no rule decided ${what} ${toward} → allowed by default`;
    case 'rule':
      return v.decidedBy
        ? `${head} ${selected}; ${ruleName(e, v.decidedBy)} matches ${what} ${toward} → ${result}`
        : `${head} ${selected} → ${result}`;
  }
}

function stepLine(e: DirectionExplanation, s: StageStep): string | undefined {
  if (s.by === undefined) return undefined;
  if (s.decision === 'next') return `  gate: ${ruleName(e, s.by)} allows; the rest of the pipeline decides`;
  if (s.decision !== 'pass') return undefined;
  const to = s.continuedAt === undefined ? 'the default verdict' : `tier ${s.continuedAt}`;
  const asked =
    s.requested === undefined
      ? ''
      : s.requested === s.continuedAt
        ? ` (passTo ${s.requested})`
        : ` (passTo ${s.requested} is not a later tier: next tier)`;
  const skipped = s.skipped && s.skipped.length > 0 ? `, skipping ${s.skipped.join(', ')}` : '';
  return `  pass: ${ruleName(e, s.by)} → continues at ${to}${asked}${skipped}`;
}

function formatDirection(e: DirectionExplanation, flow: Explanation['flow']): string[] {
  const lines = [headline(e, flow)];
  for (const s of e.steps) {
    const line = stepLine(e, s);
    if (line !== undefined) lines.push(line);
  }
  for (const p of e.policies) {
    lines.push(`  [tier ${p.tier}] ${policyName(p.policy)}${p.isolates ? ' (isolates)' : ''}`);
    if (p.rules.length === 0) lines.push('    no rules');
    for (const r of p.rules) {
      const label = `rule ${r.index}${r.name === undefined ? '' : ` "${r.name}"`} ${r.action}`;
      lines.push(`    ${label}: ${outcomeText(r)}`);
      for (const note of r.notes) lines.push(`      note: ${note}`);
    }
  }
  return lines;
}

export function formatExplanation(e: Explanation | HttpExplanation | DnsExplanation): string {
  const v = e.verdict;
  const result = v.allowed ? 'ALLOWED' : v.action === 'Reject' ? 'REJECTED' : 'DENIED';
  const profile =
    e.semantics === 'kubernetes' ? [] : [`semantics ${e.semantics}: ${PROFILES[e.semantics].summary}`];
  const l7 = 'http' in e ? formatHttp(e) : 'dns' in e ? formatDns(e) : [];
  const atL7 =
    ('http' in e || 'dns' in e) && e.verdict.l4Allowed && !v.allowed
      ? ' (allowed at L3/L4, denied at L7)'
      : '';
  return [
    `${e.flow.protocol}/${e.flow.port} ${e.flow.src} → ${e.flow.dst}: ${result}${atL7}`,
    ...profile,
    ...l7,
    ...formatDirection(e.egress, e.flow),
    ...formatDirection(e.ingress, e.flow),
  ].join('\n');
}

/** An explanation of one HTTP request on the flow: the L3/L4 explanation plus the L7 layer's say. */
export interface HttpExplanation extends Explanation {
  /**
   * `allowed` is the end result (L3/L4 and L7); `l4Allowed` the L3/L4 verdict alone; `response` what the
   * client observes (ARCHITECTURE.md contract).
   */
  readonly verdict: Verdict & { readonly l4Allowed: boolean; readonly response: L7Response };
  readonly http: {
    readonly method: string;
    readonly path: string;
    readonly host: string;
    readonly grpc: boolean;
    /** The L7 decisions, egress before ingress; empty when no L7 rule had a say. */
    readonly l7: readonly L7Decision[];
  };
}

export function explainHttp(model: PolicyModel, flow: Flow, req: HttpRequest): HttpExplanation {
  const e = explain(model, flow);
  const h = evaluateHttp(model, flow, req);
  const host = Object.entries(req.headers).find(([k]) => k.toLowerCase() === 'host')?.[1] ?? '';
  return {
    ...e,
    verdict: { ...e.verdict, allowed: h.allowed, l4Allowed: h.l4.allowed, response: h.response },
    http: { method: req.method, path: req.path, host, grpc: isGrpc(req), l7: h.l7 },
  };
}

const WHY_TEXT: Record<L7Decision['why'], string> = {
  matched: 'matched',
  'l4-wildcard': 'allows the port without L7 rules, which wildcards the L7 rules there',
  'no-match': 'no HTTP rule matched',
};

function formatHttp(e: HttpExplanation): string[] {
  const h = e.http;
  const lines = [
    `${h.grpc ? 'gRPC' : 'HTTP'} ${h.method} ${h.path} (host ${h.host || '-'}): ${e.verdict.response}`,
  ];
  if (h.l7.length === 0 && e.verdict.l4Allowed) lines.push('  L7: no L7 rule applies to this flow');
  for (const d of h.l7) {
    const side = d.direction === 'Egress' ? e.egress : e.ingress;
    const entry = d.entry === undefined ? '' : ` (HTTP rule ${d.entry})`;
    const actions = (d.headerActions ?? []).map((a) => ` header ${a.name}: ${a.mismatch ?? ''}`).join(',');
    lines.push(
      `  L7 ${d.direction.toLowerCase()} [${d.semantics}]: ${ruleName(side, d.by)}${entry}: ${WHY_TEXT[d.why]}${actions}`,
    );
  }
  lines.push(`  note: ${L7_NOTE}`);
  return lines;
}

/** An explanation of one DNS query on the flow to a DNS server: the L3/L4 explanation plus the DNS rules' say. */
export interface DnsExplanation extends Explanation {
  /** As HttpExplanation's: end result, L3/L4 alone, and what the client observes. */
  readonly verdict: Verdict & { readonly l4Allowed: boolean; readonly response: DnsResponse };
  readonly dns: {
    /** The name asked, canonical. */
    readonly query: string;
    /** Absent when no DNS rule had a say. */
    readonly decision?: DnsDecision;
    /** What a forwarded query is modelled to get: the addresses learnt for the name (--dns). */
    readonly answers: readonly string[];
  };
}

export function explainDnsQuery(
  model: PolicyModel,
  flow: Flow,
  name: string,
  options: DnsQueryOptions = {},
): DnsExplanation {
  const e = explain(model, flow);
  const q = evaluateDnsQuery(model, flow, name, options);
  return {
    ...e,
    verdict: { ...e.verdict, allowed: q.allowed, l4Allowed: q.l4.allowed, response: q.response },
    dns: { query: q.name, ...(q.dns === undefined ? {} : { decision: q.dns }), answers: q.answers },
  };
}

const DNS_WHY_TEXT: Record<DnsDecision['why'], string> = {
  matched: 'selects the name',
  'l4-wildcard': 'allows the port without DNS rules, which wildcards the DNS rules there',
  'no-match': 'no DNS rule selects the name',
};

function formatDns(e: DnsExplanation): string[] {
  const d = e.dns;
  const lines = [`DNS query ${d.query || '.'}: ${e.verdict.response}`];
  if (d.decision === undefined && e.verdict.l4Allowed)
    lines.push('  DNS: no DNS rule applies to this query (FQDN peers do no DNS filtering)');
  if (d.decision !== undefined) {
    const x = d.decision;
    const entry = x.pattern === undefined ? '' : ` (pattern ${x.entry ?? '?'} "${x.pattern}")`;
    lines.push(`  DNS egress [${x.semantics}]: ${ruleName(e.egress, x.by)}${entry}: ${DNS_WHY_TEXT[x.why]}`);
  }
  if (e.verdict.response === 'forwarded')
    lines.push(
      d.answers.length === 0
        ? '  answer: not modelled (no --dns resolution for this name)'
        : `  answer (as --dns models it): ${d.answers.join(', ')}`,
    );
  lines.push(`  note: ${DNS_NOTE}`);
  return lines;
}
