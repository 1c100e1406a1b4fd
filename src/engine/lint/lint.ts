/**
 * `lint(input, target)`: every construct of the input the target cannot enforce, or enforces differently,
 * with what that does to traffic. Pure: reads IR policies (their `ref` says dialect, kind, file, doc and
 * which piece of a written object a policy is; their `lines` where each field is) and the capability
 * table; no I/O.
 */
import type { Direction, Endpoint, L7Match, Peer, Policy, PortMatch, Rule, Subject } from '../../ir/index.js';
import {
  KUBERNETES_TIER,
  TIER_ORDER,
  cidrContainsIp,
  cidrWithin,
  lineOf,
  parseCidr,
  parseIp,
} from '../../ir/index.js';
import { subjectSelects } from '../selector.js';
import { capabilitiesOf, kindFact, type Capabilities, type Fact, type L7Kind } from './capabilities.js';
import type { LintCode, LintFinding, LintInput, LintSeverity, LocatedFinding, Target } from './types.js';

const DIRECTIONS: readonly Direction[] = ['Ingress', 'Egress'];

interface Context {
  readonly target: Target;
  readonly caps: Capabilities;
  readonly input: LintInput;
  readonly endpoints: readonly Endpoint[];
  readonly out: LocatedFinding[];
}

interface Draft {
  readonly code: LintCode;
  readonly severity: LintSeverity;
  readonly path: string;
  readonly rule?: number;
  readonly message: string;
  readonly consequence: string;
  readonly source: string;
}

function add(ctx: Context, policy: Policy, d: Draft): void {
  const finding: LintFinding = {
    code: d.code,
    severity: d.severity,
    target: ctx.target,
    file: policy.ref.file ?? '',
    doc: policy.ref.doc ?? 0,
    path: d.path,
    policy: policyLabel(policy),
    ...(d.rule === undefined ? {} : { rule: d.rule }),
    message: d.message,
    consequence: d.consequence,
    source: d.source,
  };
  const line = lineOf(policy, d.path);
  ctx.out.push(line === undefined ? { finding } : { finding, line });
}

// ---------------------------------------------------------------------------------------------------------
// Where a finding points: paths relative to the written object. The IR keeps each rule's index in its
// written list and, for a piece of an object, which spec it came from; the rest is each dialect's field
// names.

/** `Kind namespace/name` of the written object, as the user knows it. */
function policyLabel(policy: Policy): string {
  const { kind, namespace, name, part } = policy.ref;
  return `${kind} ${namespace === undefined ? '' : `${namespace}/`}${part?.name ?? name}`;
}

/** Path of the policy's spec: `spec`, or `specs[i]` for one of a Cilium object's specs. */
function specPath(policy: Policy): string {
  return policy.ref.part?.spec ?? 'spec';
}

/** `spec.ingress[2]`; Cilium deny rules live in `ingressDeny` / `egressDeny`. */
function rulePath(policy: Policy, direction: Direction, rule: Rule): string {
  const list = direction === 'Ingress' ? 'ingress' : 'egress';
  const deny = policy.ref.dialect === 'cilium' && rule.action === 'Deny' ? 'Deny' : '';
  return `${specPath(policy)}.${list}${deny}[${rule.index}]`;
}

/**
 * The field holding a rule's ports. Only Kubernetes NetworkPolicy keeps one IR port per written port, in
 * order, so only there is `index` meaningful.
 */
function portsPath(policy: Policy, direction: Direction, rule: Rule, index?: number): string {
  const base = rulePath(policy, direction, rule);
  switch (policy.ref.dialect) {
    case 'kubernetes':
      return index === undefined ? `${base}.ports` : `${base}.ports[${index}]`;
    case 'calico':
      return `${base}.destination.ports`;
    case 'cilium':
      return `${base}.toPorts`;
    case 'cluster-network-policy':
      return `${base}.protocols`;
    default:
      return `${base}.ports`;
  }
}

/** The field holding a rule's peers; `index` as for `portsPath`. */
function peersPath(policy: Policy, direction: Direction, rule: Rule, index?: number): string {
  const base = rulePath(policy, direction, rule);
  const key = direction === 'Ingress' ? 'from' : 'to';
  switch (policy.ref.dialect) {
    case 'kubernetes':
      return index === undefined ? `${base}.${key}` : `${base}.${key}[${index}]`;
    case 'calico':
      return `${base}.${direction === 'Ingress' ? 'source' : 'destination'}`;
    case 'cilium':
      return base;
    default:
      return `${base}.${key}`;
  }
}

/** `spec.egress` when egress rules were written, else `spec.policyTypes` (isolation without rules). */
function directionPath(policy: Policy, direction: Direction): string {
  const rules = direction === 'Ingress' ? policy.ingress : policy.egress;
  const list = direction === 'Ingress' ? 'ingress' : 'egress';
  if (rules.length > 0) return `${specPath(policy)}.${list}`;
  return policy.ref.dialect === 'kubernetes' ? `${specPath(policy)}.policyTypes` : specPath(policy);
}

function rulesOf(policy: Policy, direction: Direction): readonly Rule[] {
  return direction === 'Ingress' ? policy.ingress : policy.egress;
}

function allRules(policy: Policy): { direction: Direction; rule: Rule }[] {
  return DIRECTIONS.flatMap((direction) => rulesOf(policy, direction).map((rule) => ({ direction, rule })));
}

function isRead(ctx: Context, policy: Policy): boolean {
  return kindFact(ctx.caps, policy.ref.dialect, policy.ref.kind).support !== 'no';
}

function condition(fact: Fact): string {
  return fact.note === undefined ? '' : ` (${fact.note})`;
}

/** Severity of a fact that does not hold as written: certain (no) or depending on version/settings. */
function severityOf(fact: Fact): LintSeverity {
  return fact.support === 'no' ? 'error' : 'warning';
}

const RANK: Readonly<Record<LintSeverity, number>> = { info: 0, warning: 1, error: 2 };

function worst(levels: readonly LintSeverity[]): LintSeverity {
  return levels.reduce((a, b) => (RANK[b] > RANK[a] ? b : a), 'info');
}

type Overlap = 'yes' | 'maybe' | 'no';

/**
 * Whether two subjects select a common pod: decided on the cluster's pods when the input has any,
 * otherwise only disjoint namespace lists rule it out.
 */
function overlap(a: Subject, b: Subject, endpoints: readonly Endpoint[]): Overlap {
  const managed = endpoints.filter((e) => !e.hostNetwork);
  if (managed.length > 0)
    return managed.some((e) => subjectSelects(a, e) && subjectSelects(b, e)) ? 'yes' : 'no';
  if (a.namespaces.kind === 'names' && b.namespaces.kind === 'names') {
    const names = b.namespaces.names;
    if (!a.namespaces.names.some((n) => names.includes(n))) return 'no';
  }
  return 'maybe';
}

/** Policies the target reads that isolate pods of `subject` in `direction`, with how sure that is. */
function readIsolators(
  ctx: Context,
  subject: Subject,
  direction: Direction,
  only?: (p: Policy) => boolean,
): { policy: Policy; overlap: Overlap }[] {
  return ctx.input.policies
    .filter((p) => p.isolates.includes(direction) && isRead(ctx, p) && (only === undefined || only(p)))
    .map((policy) => ({ policy, overlap: overlap(subject, policy.subject, ctx.endpoints) }))
    .filter((x) => x.overlap !== 'no');
}

function names(policies: readonly Policy[]): string {
  const labels = [...new Set(policies.map(policyLabel))];
  return labels.length <= 3
    ? labels.join(', ')
    : `${labels.slice(0, 3).join(', ')} and ${labels.length - 3} more`;
}

// ---------------------------------------------------------------------------------------------------------
// Flannel: nothing is enforced.

function checkNoEnforcement(ctx: Context, policy: Policy): void {
  add(ctx, policy, {
    code: 'no-policy-enforcement',
    severity: 'error',
    path: specPath(policy),
    message: `${ctx.caps.title} enforces no network policy; ${policy.ref.kind} is accepted by the API server and ignored`,
    consequence: 'no policy is enforced at all: every connection is allowed',
    source: ctx.caps.enforcement.source,
  });
}

// ---------------------------------------------------------------------------------------------------------
// Kinds the target does not read (or reads only from some version or with a feature gate).

function checkKind(ctx: Context, policy: Policy): void {
  const fact = kindFact(ctx.caps, policy.ref.dialect, policy.ref.kind);
  if (fact.support === 'yes') return;
  const parts: string[] = [];
  const levels: LintSeverity[] = ['info'];
  for (const d of DIRECTIONS) {
    const rules = rulesOf(policy, d);
    const dir = d.toLowerCase();
    // Whether pods stay isolated by a policy the target does read decides which way traffic changes.
    const others = readIsolators(ctx, policy.subject, d, (p) => p !== policy);
    const sure = others.filter((x) => x.overlap === 'yes').map((x) => x.policy);
    const maybe = others.map((x) => x.policy);
    if (rules.some((r) => r.action === 'Deny' || r.action === 'Reject')) {
      parts.push(
        `${dir}: the Deny is not enforced: traffic it denies is allowed` +
          (maybe.length > 0
            ? ` unless a policy the target reads denies it too (${names(maybe)} isolates the same pods)`
            : ''),
      );
      levels.push('error');
    }
    const allows = rules.some((r) => r.action === 'Allow');
    const isolates = policy.isolates.includes(d);
    if (!allows && !isolates) continue;
    if (sure.length > 0) {
      if (allows) {
        parts.push(
          `${dir}: the allow is silently ignored: traffic only it allows stays denied by isolation (${names(sure)} selects the same pods)`,
        );
        levels.push('error');
      }
    } else if (maybe.length > 0) {
      if (isolates) {
        parts.push(
          `${dir}: its default deny is not applied: traffic its rules do not allow is allowed, except where ` +
            `${names(maybe)} isolates the same pods`,
        );
        levels.push('error');
      }
      if (allows) {
        parts.push(
          `${dir}: the allow is silently ignored where ${names(maybe)} isolates the same pods: traffic only it allows stays denied`,
        );
        levels.push('warning');
      }
    } else if (isolates) {
      parts.push(`${dir}: its default deny is not applied: traffic its rules do not allow is allowed`);
      levels.push('error');
    } else {
      parts.push(`${dir}: its allows change nothing, as no policy the target reads isolates these pods`);
    }
  }
  if (parts.length === 0) parts.push('the policy has no effect on this target');
  const severity = worst(levels);
  const conditional = fact.support === 'conditional';
  add(ctx, policy, {
    code: conditional ? 'kind-conditional' : 'kind-not-read',
    // A kind read only from some version on: what happens otherwise is likely, not certain.
    severity: conditional ? (severity === 'error' ? 'warning' : severity) : severity,
    path: 'kind',
    message: conditional
      ? `${ctx.caps.title} reads ${policy.ref.kind} only with: ${fact.note ?? ''}`
      : `${ctx.caps.title} does not read ${policy.ref.kind}${condition(fact)}`,
    consequence: `${conditional ? 'otherwise ' : ''}${parts.join('; ')}`,
    source: fact.source,
  });
}

// ---------------------------------------------------------------------------------------------------------
// Kubernetes NetworkPolicy features.

function isRange(p: PortMatch): p is Extract<PortMatch, { kind: 'range' }> {
  return p.kind === 'range' && p.to > p.from;
}

function checkNetworkPolicy(ctx: Context, policy: Policy): void {
  const { caps } = ctx;
  if (policy.isolates.includes('Egress') && caps.egress.support !== 'yes') {
    add(ctx, policy, {
      code: 'egress-conditional',
      severity: severityOf(caps.egress),
      path: directionPath(policy, 'Egress'),
      message: `egress isolation needs a recent ${caps.title}${condition(caps.egress)}`,
      consequence:
        'on older releases the Egress part is not (fully) enforced: egress the policy does not allow is allowed',
      source: caps.egress.source,
    });
  }
  for (const direction of DIRECTIONS) {
    for (const rule of rulesOf(policy, direction)) checkNetworkPolicyRule(ctx, policy, direction, rule);
  }
}

function checkNetworkPolicyRule(ctx: Context, policy: Policy, direction: Direction, rule: Rule): void {
  const { caps } = ctx;
  const ports = rule.ports === 'any' ? [] : rule.ports;
  ports.forEach((port, i) => {
    const path = portsPath(policy, direction, rule, i);
    if (isRange(port) && caps.endPort.support !== 'yes') {
      const lost = port.to === port.from + 1 ? `port ${port.to}` : `ports ${port.from + 1}-${port.to}`;
      add(ctx, policy, {
        code: 'end-port',
        severity: severityOf(caps.endPort),
        path: `${path}.endPort`,
        rule: rule.index,
        message: `endPort ${port.to} is not enforced by ${caps.title}${condition(caps.endPort)}`,
        consequence:
          `${caps.endPort.support === 'no' ? '' : 'where unsupported, '}only port ${port.from} is allowed: ` +
          `${lost} stay denied by isolation`,
        source: caps.endPort.source,
      });
    }
    if (port.kind === 'named' && caps.namedPorts.support !== 'yes') {
      const rejected = caps.target === 'weave';
      add(ctx, policy, {
        code: 'named-port',
        severity: severityOf(caps.namedPorts),
        path: `${path}.port`,
        rule: rule.index,
        message: `named port "${port.name}" is not supported by ${caps.title}${condition(caps.namedPorts)}`,
        consequence: rejected
          ? 'the whole policy is dropped: its isolation and allows are not applied, so traffic to and from the pods it selects is allowed unless another policy isolates them'
          : 'where unsupported, the named-port allow matches nothing: that traffic stays denied by isolation',
        source: caps.namedPorts.source,
      });
    }
    if (port.kind !== 'icmp' && port.protocol === 'SCTP' && caps.sctp.support !== 'yes') {
      add(ctx, policy, {
        code: 'sctp',
        severity: severityOf(caps.sctp),
        path: `${path}.protocol`,
        rule: rule.index,
        message: `SCTP rules need ${caps.title} support${condition(caps.sctp)}`,
        consequence:
          'where unsupported, the SCTP allow is not enforced: SCTP traffic stays denied by isolation',
        source: caps.sctp.source,
      });
    }
  });
  if (rule.peers !== 'any' && caps.ipBlockMatchesPods.support !== 'yes') {
    rule.peers.forEach((peer, j) => {
      if (peer.kind === 'cidr' && peer.matchesPods) checkIpBlock(ctx, policy, direction, rule, peer, j);
    });
  }
}

/** Pods whose IPs lie in the block, outside its holes. */
function podsIn(peer: Extract<Peer, { kind: 'cidr' }>, endpoints: readonly Endpoint[]): Endpoint[] {
  const block = parseCidr(peer.cidr);
  if (block === undefined) return [];
  const holes = peer.except.flatMap((e) => parseCidr(e) ?? []);
  return endpoints.filter(
    (e) =>
      !e.hostNetwork &&
      e.ips.some((text) => {
        const ip = parseIp(text);
        return ip !== undefined && cidrContainsIp(block, ip) && !holes.some((h) => cidrContainsIp(h, ip));
      }),
  );
}

function podCidrsIn(ctx: Context, peer: Extract<Peer, { kind: 'cidr' }>): string[] {
  const block = parseCidr(peer.cidr);
  if (block === undefined) return [];
  return (ctx.input.cluster?.nodes ?? []).flatMap((n) =>
    n.podCIDRs.filter((text) => {
      const c = parseCidr(text);
      return c !== undefined && (cidrWithin(c, block) || cidrWithin(block, c));
    }),
  );
}

function checkIpBlock(
  ctx: Context,
  policy: Policy,
  direction: Direction,
  rule: Rule,
  peer: Extract<Peer, { kind: 'cidr' }>,
  index: number,
): void {
  const { caps } = ctx;
  const pods = podsIn(peer, ctx.endpoints);
  const podCidrs = podCidrsIn(ctx, peer);
  const known = ctx.endpoints.length > 0;
  if (known && pods.length === 0 && podCidrs.length === 0) return;
  const which =
    pods.length > 0
      ? `pods ${pods
          .slice(0, 3)
          .map((e) => `${e.namespace}/${e.name}`)
          .join(', ')}${pods.length > 3 ? ` and ${pods.length - 3} more` : ''}`
      : podCidrs.length > 0
        ? `pod CIDRs ${podCidrs.join(', ')}`
        : 'any pod IPs';
  add(ctx, policy, {
    code: 'ipblock-pods',
    severity: pods.length > 0 ? 'error' : 'warning',
    path: `${peersPath(policy, direction, rule, index)}.ipBlock`,
    rule: rule.index,
    message:
      `${caps.title} does not match pods (or nodes) with ipBlock ${peer.cidr}` +
      `${pods.length > 0 || podCidrs.length > 0 ? `, which covers ${which}` : ', if it covers pod IPs'}` +
      '; select them with podSelector/namespaceSelector instead',
    consequence: `the allow does not cover ${which === 'any pod IPs' ? 'pods in the range' : which}: their traffic stays denied by isolation`,
    source: caps.ipBlockMatchesPods.source,
  });
}

// ---------------------------------------------------------------------------------------------------------
// The target's own dialect: L7 and tiers that need a version, edition or feature gate.

const OWN_DIALECT: Partial<Record<Target, string>> = { calico: 'calico', cilium: 'cilium', antrea: 'antrea' };

function l7Kind(l7: L7Match): L7Kind {
  return l7.kind;
}

/** A leading run of two or more stars and a dot, before more of the name (`**.` alone matches all names). */
const MULTI_LABEL_PREFIX = /^\*{2,}\.(?!$)/;

/** Cilium name patterns of a rule (toFQDNs peers and DNS rules) that start with `**.`. */
function multiLabelPatterns(rule: Rule): string[] {
  const peers = rule.peers === 'any' ? [] : rule.peers;
  const patterns = [
    ...peers.flatMap((p) => (p.kind === 'fqdn' && p.semantics === 'cilium' ? [p.pattern] : [])),
    ...(rule.l7?.kind === 'dns' && (rule.l7.semantics ?? 'cilium') === 'cilium' ? rule.l7.patterns : []),
  ];
  return patterns.filter((p) => MULTI_LABEL_PREFIX.test(p.trim()));
}

function checkOwnDialect(ctx: Context, policy: Policy): void {
  const { caps } = ctx;
  const prefix = caps.fqdnMultiLabelPrefix;
  for (const { direction, rule } of allRules(policy)) {
    const multi = prefix === undefined || prefix.support === 'yes' ? [] : multiLabelPatterns(rule);
    if (prefix !== undefined && multi.length > 0)
      add(ctx, policy, {
        code: 'fqdn-conditional',
        severity: severityOf(prefix),
        path: rulePath(policy, direction, rule),
        rule: rule.index,
        message: `${multi.map((p) => `"${p}"`).join(', ')} spans several labels only on ${prefix.note ?? 'recent releases'}`,
        consequence:
          'on older releases names two or more labels below the suffix are not selected: their traffic stays ' +
          'denied (and their DNS queries refused)',
        source: prefix.source,
      });
    if (rule.l7 === undefined) continue;
    const fact = caps.l7[l7Kind(rule.l7)];
    if (fact.support === 'yes') continue;
    add(ctx, policy, {
      code: 'l7-conditional',
      severity: severityOf(fact),
      path: rulePath(policy, direction, rule),
      rule: rule.index,
      message: `L7 ${rule.l7.kind.toUpperCase()} rules are enforced by ${caps.title} only with ${fact.note ?? 'extra support'}`,
      consequence:
        'otherwise the application-layer match is not enforced as written: requests it should refuse may be allowed, or the policy is refused',
      source: fact.source,
    });
  }
  if (
    policy.ref.dialect === 'calico' &&
    ![KUBERNETES_TIER, 'admin', 'baseline'].includes(policy.tier) &&
    caps.tiers.support !== 'yes'
  ) {
    add(ctx, policy, {
      code: 'tier-conditional',
      severity: severityOf(caps.tiers),
      path: `${specPath(policy)}.tier`,
      message: `tier "${policy.tier.replace(/^calico:/, '')}" needs ${caps.tiers.note ?? 'tier support'}`,
      consequence: 'on older releases the policy is refused: none of its rules apply',
      source: caps.tiers.source,
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Kim et al. 2025 §IV-D: Kubernetes NetworkPolicy observed to be enforced before the CNI's own policy.

function beforeKubernetes(ctx: Context, tier: string): boolean {
  if (tier === 'admin') return true;
  const t = ctx.input.tiers?.find((x) => x.name === tier);
  return t !== undefined && t.order < TIER_ORDER.kubernetes;
}

function checkKubernetesFirst(ctx: Context, policy: Policy): void {
  const { caps } = ctx;
  if (caps.kubernetesFirst.support !== 'yes' || !beforeKubernetes(ctx, policy.tier)) return;
  for (const { direction, rule } of allRules(policy)) {
    if (rule.action !== 'Allow') continue;
    const isolating = readIsolators(ctx, policy.subject, direction, (p) => p.ref.dialect === 'kubernetes');
    if (isolating.length === 0) continue;
    const sure = isolating.some((x) => x.overlap === 'yes');
    add(ctx, policy, {
      code: 'kubernetes-first',
      severity: 'warning',
      path: rulePath(policy, direction, rule),
      rule: rule.index,
      message:
        `this ${direction.toLowerCase()} Allow sits in a tier documented to run before Kubernetes NetworkPolicy, but ` +
        `${caps.title} was observed enforcing NetworkPolicy first; ${names(isolating.map((x) => x.policy))} ` +
        `${sure ? 'isolates' : 'may isolate'} the same pods`,
      consequence:
        'the allow is silently ignored: traffic stays denied by isolation unless a NetworkPolicy rule also allows it',
      source: caps.kubernetesFirst.source,
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// A policy the target does not read: what a rewrite for the target could not express.

const ORDERED_DIALECTS = ['calico', 'antrea', 'admin-network-policy', 'cluster-network-policy'];

function checkRewrite(ctx: Context, policy: Policy): void {
  const { caps } = ctx;
  const rewrite = `if rewritten for ${caps.title}`;
  for (const { direction, rule } of allRules(policy)) {
    const path = rulePath(policy, direction, rule);
    const base = { path, rule: rule.index };
    // Without any deny rule the Deny note below says it all.
    if (rule.action === 'Reject' && caps.reject.support !== 'yes' && caps.deny.support === 'yes') {
      add(ctx, policy, {
        ...base,
        code: 'no-equivalent-action',
        severity: 'info',
        message: `${caps.title} has no Reject action`,
        consequence: `${rewrite}, the rule can only drop: clients wait for a timeout instead of getting a TCP RST or ICMP error`,
        source: caps.reject.source,
      });
    }
    if ((rule.action === 'Deny' || rule.action === 'Reject') && caps.deny.support !== 'yes') {
      add(ctx, policy, {
        ...base,
        code: 'no-equivalent-action',
        severity: 'info',
        message: `${caps.title} has no deny rule (NetworkPolicy only allows; isolation denies the rest)`,
        consequence: `${rewrite}, this traffic is denied only by leaving it out of every allow of an isolating policy, which also denies everything else those allows omit`,
        source: caps.deny.source,
      });
    }
    if (rule.action === 'Pass' && caps.pass.support !== 'yes') {
      add(ctx, policy, {
        ...base,
        code: 'no-equivalent-action',
        severity: 'info',
        message: `${caps.title} has no Pass action`,
        consequence: `${rewrite}, the rule must allow or deny outright instead of deferring to lower tiers or NetworkPolicy`,
        source: caps.pass.source,
      });
    }
    if (rule.l7 !== undefined) {
      const fact = caps.l7[l7Kind(rule.l7)];
      if (fact.support !== 'yes') {
        add(ctx, policy, {
          ...base,
          code: 'no-equivalent-l7',
          severity: 'info',
          message: `${caps.title} has no L7 ${rule.l7.kind.toUpperCase()} rules${condition(fact)}`,
          consequence: `${rewrite}, the rule can only allow the whole port: every request on it is allowed`,
          source: fact.source,
        });
      }
    }
    const peers = rule.peers === 'any' ? [] : rule.peers;
    if (peers.some((p) => p.kind === 'fqdn') && caps.fqdn.support !== 'yes') {
      add(ctx, policy, {
        ...base,
        path: peersPath(policy, direction, rule),
        code: 'no-equivalent-fqdn',
        severity: 'info',
        message: `${caps.title} cannot match domain names${condition(caps.fqdn)}`,
        consequence: `${rewrite}, the destinations' CIDRs must be listed by hand; without them the allow matches nothing and the traffic stays denied`,
        source: caps.fqdn.source,
      });
    }
  }
  if (ORDERED_DIALECTS.includes(policy.ref.dialect) && caps.ordering.support !== 'yes') {
    const denyWins = caps.deny.support === 'yes';
    add(ctx, policy, {
      code: 'no-equivalent-order',
      severity: 'info',
      path: specPath(policy),
      message: `${caps.title} has no policy priorities or tiers${denyWins ? '; a deny always wins over an allow' : ''}`,
      consequence: denyWins
        ? `${rewrite}, an earlier Allow no longer overrides a later or lower-priority Deny: traffic matching both is denied`
        : `${rewrite}, allows become a union and the order of these rules (and of this policy among others) is lost`,
      source: caps.ordering.source,
    });
  }
}

// ---------------------------------------------------------------------------------------------------------

function compareFindings(a: LintFinding, b: LintFinding): number {
  return (
    a.file.localeCompare(b.file) ||
    a.doc - b.doc ||
    a.path.localeCompare(b.path, undefined, { numeric: true }) ||
    a.code.localeCompare(b.code)
  );
}

/** Findings for every policy of the input on `target`, sorted by file, document and path, without repeats. */
export function lint(input: LintInput, target: Target): LintFinding[] {
  return lintLocated(input, target).map((x) => x.finding);
}

/** `lint`, each finding with the line its path is written on when the policy records lines. */
export function lintLocated(input: LintInput, target: Target): LocatedFinding[] {
  const ctx: Context = {
    target,
    caps: capabilitiesOf(target),
    input,
    endpoints: input.cluster?.endpoints ?? [],
    out: [],
  };
  for (const policy of input.policies) {
    if (ctx.caps.enforcement.support === 'no') {
      checkNoEnforcement(ctx, policy);
      continue;
    }
    checkKind(ctx, policy);
    if (!isRead(ctx, policy)) {
      checkRewrite(ctx, policy);
      continue;
    }
    if (policy.ref.dialect === 'kubernetes') checkNetworkPolicy(ctx, policy);
    if (OWN_DIALECT[target] === policy.ref.dialect) checkOwnDialect(ctx, policy);
    checkKubernetesFirst(ctx, policy);
  }
  // One written object can be several IR policies (Antrea appliedTo pieces, Cilium L7 splits).
  const seen = new Set<string>();
  const unique = ctx.out.filter(({ finding: f }) => {
    const key = JSON.stringify([f.code, f.file, f.doc, f.path, f.message]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return unique.sort((a, b) => compareFindings(a.finding, b.finding));
}

export function hasErrorFindings(findings: readonly LintFinding[]): boolean {
  return findings.some((f) => f.severity === 'error');
}
