/**
 * A kernel flow event + the model the kernel's table was compiled from → a FlowRecord. Pure.
 *
 * The kernel says what happened (ct-new: allowed; nflog deny group: denied, with the rule's prefix) but
 * not which rule did it: consecutive rules are merged into one set, and allows are not logged at all. The
 * engine, run on the same model, makes the same decision and knows the rule (src/engine/evaluate.ts, the
 * pipeline `palisade analyze explain` reports). Only the directions this node enforces count: the egress
 * of a source pod hosted here, the ingress of a destination pod hosted here (a remote pod's egress ran on
 * its own node, and we would not see the packet had it denied).
 */
import type { PolicyModel } from '../../engine/index.js';
import { evaluateDetailed } from '../../engine/index.js';
import type { DirectionDetail } from '../../engine/index.js';
import type { DirectionVerdict, Endpoint, FlowPeer, Protocol, RuleRef } from '../../ir/index.js';
import { canonicalIp, endpointKey, policyId } from '../../ir/index.js';
import type { Direction, PolicyRef } from '../../ir/index.js';
import type { KernelFlow } from './reader.js';
import type {
  Attribution,
  FlowEndpoint,
  FlowRecord,
  FlowVerdict,
  KernelView,
  PolicyAttribution,
} from './record.js';

/** What attribution needs from the last apply. */
export interface AttributionContext {
  readonly node: string;
  readonly model: PolicyModel;
  /** Keys (`ns/name`) of the pods this node enforces for (NodeRules.endpoints). */
  readonly local: ReadonlySet<string>;
}

const PROTOCOL_NAMES: Readonly<Record<number, string>> = {
  1: 'ICMP',
  6: 'TCP',
  17: 'UDP',
  58: 'ICMPv6',
  132: 'SCTP',
};

export function protocolName(proto: number): string {
  return PROTOCOL_NAMES[proto] ?? `proto-${proto}`;
}

const PORT_PROTOCOLS: Readonly<Record<number, Protocol>> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

/** The kernel's tag, parsed from an nflog prefix (nftables.ts `logPrefix`). */
export interface KernelTag {
  readonly tag: 'deny' | 'reject' | 'isolated' | 'log';
  readonly direction: Direction;
  readonly tier: string;
  /** `Kind/namespace/name`, `+N` when the step merged more policies; absent for isolation. */
  readonly policy?: string;
}

const PREFIX = /^pal (deny|reject|isolated|log) ([IE]) (\S+)(?: (\S.*))?$/;

export function parseKernelPrefix(prefix: string | undefined): KernelTag | undefined {
  const m = prefix === undefined ? null : PREFIX.exec(prefix);
  if (m === null) return undefined;
  const tag = m[1] as KernelTag['tag'];
  const direction: Direction = m[2] === 'I' ? 'Ingress' : 'Egress';
  const tier = m[3] as string;
  return m[4] === undefined ? { tag, direction, tier } : { tag, direction, tier, policy: m[4] };
}

export function endpointOf(
  model: PolicyModel | undefined,
  ip: string,
  port: number | undefined,
): FlowEndpoint {
  const canonical = canonicalIp(ip) ?? ip;
  const e = model?.endpointsByIp.get(canonical);
  const base = port === undefined ? { ip: canonical } : { ip: canonical, port };
  return e === undefined ? base : { ...base, namespace: e.namespace, pod: e.name, labels: e.labels };
}

function podOf(model: PolicyModel | undefined, ip: string): Endpoint | undefined {
  const canonical = canonicalIp(ip);
  return canonical === undefined ? undefined : model?.endpointsByIp.get(canonical);
}

/** Whether a side of the flow is a pod this node enforces for: anything else was never judged here. */
export function involvesLocalPod(flow: KernelFlow, ctx: AttributionContext): boolean {
  const isLocal = (ip: string): boolean => {
    const e = podOf(ctx.model, ip);
    return e !== undefined && ctx.local.has(endpointKey(e));
  };
  return isLocal(flow.src) || isLocal(flow.dst);
}

function policyLabel(ref: PolicyRef): string {
  return `${ref.kind} ${ref.namespace === undefined ? '' : `${ref.namespace}/`}${ref.name}`;
}

/** The written name of the rule a ref points at, from the model. */
function ruleNameOf(model: PolicyModel, ref: RuleRef): string | undefined {
  const tier = model.tiers.find((t) => t.tier.name === ref.tier);
  const policy = tier?.policies.find((p) => policyId(p.ref) === policyId(ref.policy));
  const rules = ref.direction === 'Ingress' ? policy?.ingress : policy?.egress;
  return rules?.find((r) => r.index === ref.rule)?.name;
}

export function ruleAttribution(model: PolicyModel, ref: RuleRef): PolicyAttribution {
  const name = ruleNameOf(model, ref);
  return {
    tier: ref.tier,
    dialect: ref.policy.dialect,
    kind: ref.policy.kind,
    ...(ref.policy.namespace === undefined ? {} : { namespace: ref.policy.namespace }),
    name: ref.policy.name,
    rule: ref.rule,
    ...(name === undefined ? {} : { ruleName: name }),
    action: ref.action,
  };
}

/** The policies of the deciding tier that isolate the subject: who made "no rule matched" a denial. */
function isolatingPolicies(model: PolicyModel, tier: string | undefined, v: DirectionVerdict): PolicyRef[] {
  const selected = new Set(v.selectedBy.map(policyId));
  const t = model.tiers.find((x) => x.tier.name === tier);
  return (t?.policies ?? [])
    .filter((p) => selected.has(policyId(p.ref)) && p.isolates.includes(v.direction))
    .map((p) => p.ref);
}

export function ruleText(model: PolicyModel, ref: RuleRef): string {
  const name = ruleNameOf(model, ref);
  return `rule ${ref.rule}${name === undefined ? '' : ` "${name}"`} (${ref.action}) of ${policyLabel(ref.policy)} in tier ${ref.tier}`;
}

interface Decision {
  readonly direction: Direction;
  readonly allowed: boolean;
  readonly action: 'Allow' | 'Deny' | 'Reject';
  readonly policy?: PolicyAttribution;
  readonly reason: string;
}

/** One enforced direction's decision, with the sentence that explains it. */
function decide(
  model: PolicyModel,
  d: DirectionDetail,
  subject: string,
  peer: string,
  what: string,
): Decision {
  const v = d.verdict;
  const dir = v.direction;
  const toward = dir === 'Egress' ? `to ${peer}` : `from ${peer}`;
  const head = `${dir.toLowerCase()} of ${subject}`;
  const action = v.allowed ? 'Allow' : v.decidedBy?.action === 'Reject' ? 'Reject' : 'Deny';
  const result = v.allowed ? 'allowed' : 'denied';
  const base = { direction: dir, allowed: v.allowed, action } as const;
  switch (v.reason) {
    case 'rule': {
      if (v.decidedBy === undefined) return { ...base, reason: `${head}: ${result} ${what} ${toward}` };
      return {
        ...base,
        policy: ruleAttribution(model, v.decidedBy),
        reason: `${head}: ${ruleText(model, v.decidedBy)} matches ${what} ${toward} → ${result}`,
      };
    }
    case 'isolated': {
      const by = isolatingPolicies(model, d.tier, v);
      const first = by[0];
      const names = by.map(policyLabel).join(', ') || 'a policy';
      const policy: PolicyAttribution | undefined =
        first === undefined
          ? undefined
          : {
              tier: d.tier ?? '',
              dialect: first.dialect,
              kind: first.kind,
              ...(first.namespace === undefined ? {} : { namespace: first.namespace }),
              name: first.name,
              action: 'Deny',
            };
      return {
        ...base,
        ...(policy === undefined ? {} : { policy }),
        reason: `${head}: isolated by ${names} in tier ${d.tier ?? '?'} and no rule allows ${what} ${toward} → denied (default deny)`,
      };
    }
    case 'default':
      return {
        ...base,
        reason: `${head}: selected by ${v.selectedBy.map(policyLabel).join(', ')} but no rule decided ${what} ${toward} → allowed by default`,
      };
    case 'no-policy':
      return { ...base, reason: `${head}: no policy selects it (${dir}) → allowed by default` };
    case 'not-subject':
      return { ...base, reason: `${head}: not a pod, no policy applies → allowed` };
    case 'host-network':
      return { ...base, reason: `${head}: host-network pod, not subject to network policy → allowed` };
    case 'loopback':
      return { ...base, reason: `${head}: traffic to itself → allowed` };
    case 'node-local':
      return { ...base, reason: `${head}: from its own node, which policy cannot block → allowed` };
  }
}

function kernelView(flow: KernelFlow): KernelView {
  return {
    source: flow.source,
    ...(flow.group === undefined ? {} : { group: flow.group }),
    ...(flow.prefix === undefined ? {} : { prefix: flow.prefix }),
    ...(flow.in === undefined ? {} : { in: flow.in }),
    ...(flow.out === undefined ? {} : { out: flow.out }),
  };
}

/** What the kernel says: allowed (conntrack confirmed it), denied (a drop rule logged it), or a Log copy. */
function kernelVerdict(flow: KernelFlow, tag: KernelTag | undefined, denyGroup: number): FlowVerdict | 'log' {
  if (flow.source === 'ct-new') return 'allowed';
  if (tag !== undefined) return tag.tag === 'log' ? 'log' : 'denied';
  return flow.group === denyGroup ? 'denied' : 'log';
}

export interface AttributeOptions {
  /** The nflog group denials are logged to (nftables.ts DENY_NFLOG_GROUP). */
  readonly denyGroup: number;
}

interface RecordParts {
  readonly verdict: FlowVerdict;
  readonly action?: 'Deny' | 'Reject' | undefined;
  readonly type: 'verdict' | 'log';
  readonly direction?: Direction | undefined;
  readonly policy?: PolicyAttribution | undefined;
  readonly reason: string;
  readonly attribution: Attribution;
}

/** The record with its fields in one order, so lines read alike. */
function build(
  flow: KernelFlow,
  node: string,
  source: FlowEndpoint,
  destination: FlowEndpoint,
  p: RecordParts,
): FlowRecord {
  return {
    time: new Date(flow.ts).toISOString(),
    node,
    verdict: p.verdict,
    ...(p.verdict === 'denied' ? { action: p.action ?? 'Deny' } : {}),
    type: p.type,
    ...(p.direction === undefined ? {} : { direction: p.direction === 'Ingress' ? 'ingress' : 'egress' }),
    source,
    destination,
    protocol: protocolName(flow.proto),
    ...(flow.icmpType === undefined ? {} : { icmp: { type: flow.icmpType, code: flow.icmpCode ?? 0 } }),
    ...(p.policy === undefined ? {} : { policy: p.policy }),
    reason: p.reason,
    attribution: p.attribution,
    kernel: kernelView(flow),
  };
}

/** Turns one kernel event into the record the flow log writes; `ctx` undefined before the first apply. */
export function attributeFlow(
  flow: KernelFlow,
  ctx: AttributionContext | undefined,
  opts: AttributeOptions,
): FlowRecord {
  const tag = parseKernelPrefix(flow.prefix);
  const kv = kernelVerdict(flow, tag, opts.denyGroup);
  const kernelAction = tag?.tag === 'reject' ? 'Reject' : 'Deny';
  const node = ctx?.node ?? '';
  const src = endpointOf(ctx?.model, flow.src, flow.sport);
  const dst = endpointOf(ctx?.model, flow.dst, flow.dport);
  const kernelSays = flow.prefix === undefined ? '' : ` (kernel: ${flow.prefix})`;
  const kernelOnly = (reason: string): FlowRecord =>
    build(flow, node, src, dst, {
      verdict: kv === 'log' ? 'allowed' : kv,
      action: kernelAction,
      type: kv === 'log' ? 'log' : 'verdict',
      direction: tag?.direction,
      reason:
        kv === 'log' ? `${reason}; a Log rule's copy: the connection's verdict has its own line` : reason,
      attribution: 'none',
    });
  if (ctx === undefined) return kernelOnly(`no policy model applied yet${kernelSays}`);
  if (flow.fromHost === true)
    return kernelOnly(
      `opened by node ${ctx.node} itself (${src.ip}): traffic the node originates is never filtered → allowed`,
    );
  const l4 = PORT_PROTOCOLS[flow.proto];
  if (l4 === undefined || flow.dport === undefined)
    return kernelOnly(
      `${protocolName(flow.proto)}: the engine judges TCP, UDP and SCTP ports only; verdict as the kernel reported it${kernelSays}`,
    );

  const model = ctx.model;
  const peer = (ip: string): FlowPeer => {
    const e = podOf(model, ip);
    return e === undefined ? { kind: 'ip', ip: canonicalIp(ip) ?? ip } : { kind: 'endpoint', endpoint: e };
  };
  const detail = evaluateDetailed(model, {
    src: peer(flow.src),
    dst: peer(flow.dst),
    protocol: l4,
    port: flow.dport,
  });
  const label = (e: FlowEndpoint): string => (e.pod === undefined ? e.ip : `${e.namespace ?? ''}/${e.pod}`);
  const what = `${l4}/${flow.dport}`;
  const isLocal = (e: FlowEndpoint): boolean =>
    e.pod !== undefined && ctx.local.has(`${e.namespace ?? ''}/${e.pod}`);
  const decisions: Decision[] = [];
  // The kernel runs the source's egress first: a denial there is the one that dropped the packet.
  if (isLocal(src)) decisions.push(decide(model, detail.egress, label(src), label(dst), what));
  if (isLocal(dst)) decisions.push(decide(model, detail.ingress, label(dst), label(src), what));
  const last = decisions[decisions.length - 1];
  if (last === undefined)
    return kernelOnly(`neither side is a pod of node ${ctx.node}: not judged by its policy${kernelSays}`);

  const engineAllowed = decisions.every((d) => d.allowed);
  const denial = decisions.find((d) => !d.allowed);
  const inKernelDirection = decisions.find((d) => d.direction === tag?.direction);

  if (kv === 'log') {
    // A Log rule's copy: attribute it to the Log rule the engine walked past in that direction.
    const dir = tag?.direction;
    const trail = dir === 'Egress' ? detail.egress.verdict.trail : detail.ingress.verdict.trail;
    const logged = dir === undefined ? undefined : trail.find((r) => r.action === 'Log');
    const decided = denial ?? inKernelDirection ?? last;
    return build(flow, node, src, dst, {
      verdict: engineAllowed ? 'allowed' : 'denied',
      action: denial?.action === 'Reject' ? 'Reject' : 'Deny',
      type: 'log',
      direction: dir,
      policy: logged === undefined ? undefined : ruleAttribution(model, logged),
      reason:
        logged === undefined
          ? `logged by the kernel${kernelSays}, but the applied model has no Log rule matching ${what} (model changed since)`
          : `logged by ${ruleText(model, logged)}; ${decided.reason}`,
      attribution: logged === undefined ? 'stale' : 'engine',
    });
  }

  const kernelAllowed = kv === 'allowed';
  const agrees = kernelAllowed === engineAllowed;
  // Denied: the direction the kernel named, else the first denying one. Allowed: the side whose rule
  // decided, ingress first (the destination's policy is what admitted the connection).
  const chosen = kernelAllowed
    ? ([...decisions].reverse().find((d) => d.policy !== undefined) ?? last)
    : ((inKernelDirection?.allowed === false ? inKernelDirection : undefined) ??
      denial ??
      inKernelDirection ??
      last);
  const reason = agrees
    ? chosen.reason
    : `kernel ${kv}${kernelSays} but the applied model says ${engineAllowed ? 'allowed' : 'denied'}: ` +
      `${chosen.reason} (the model changed since, or the packet was not judged by the table)`;
  return build(flow, node, src, dst, {
    verdict: kv,
    action: tag === undefined ? (chosen.action === 'Reject' ? 'Reject' : 'Deny') : kernelAction,
    type: 'verdict',
    direction: chosen.direction,
    policy: agrees ? chosen.policy : undefined,
    reason,
    attribution: agrees ? 'engine' : 'stale',
  });
}
