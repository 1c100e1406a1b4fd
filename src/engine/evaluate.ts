import type { Endpoint, Protocol } from '../ir/endpoint.js';
import type { DirectionReason, DirectionVerdict, Flow, Verdict } from '../ir/flow.js';
import type { Direction, Policy, PolicyRef, Rule } from '../ir/policy.js';
import type { Tier } from '../ir/tier.js';
import { peersMatch, portsMatch } from './match.js';
import type { RuleCheck } from './match.js';
import type { PolicyModel } from './model.js';
import { participants, pipelineFor, runPipeline } from './pipeline.js';
import type { DirectionQuery, RuleObserver, Stage } from './pipeline.js';
import { subjectSelects } from './selector.js';
import { sameEndpoint, sideOfFlowPeer } from './side.js';
import type { Side } from './side.js';

/** Sees every rule checked while evaluating one flow, with the direction it was checked in. */
export type FlowObserver = (
  direction: Direction,
  tier: Tier,
  policy: Policy,
  rule: Rule,
  check: RuleCheck,
) => void;

/** A direction's query for a pod-network subject talking to `other`; the destination names ports. */
export function directQuery(
  model: PolicyModel,
  direction: Direction,
  subject: Endpoint,
  other: Side,
  dst: Endpoint | undefined,
  protocol: Protocol,
  port: number,
): DirectionQuery {
  const byTier = model.tiers.map((t) =>
    participants(t, direction, (p) => subjectSelects(p.subject, subject)),
  );
  return {
    direction,
    policies: (i) => byTier[i] ?? [],
    check: (_policy, rule) => ({
      peers: peersMatch(model, rule, other, subject),
      ports: portsMatch(rule, protocol, port, dst),
    }),
  };
}

function selectedBy(model: PolicyModel, query: DirectionQuery): PolicyRef[] {
  return model.tiers.flatMap((_, i) => query.policies(i).map((p) => p.ref));
}

function fixed(
  direction: Direction,
  reason: DirectionReason,
  selected: readonly PolicyRef[] = [],
): DirectionVerdict {
  return { direction, allowed: true, reason, selectedBy: selected, trail: [] };
}

/** Ingress from the destination's own node is always allowed (Kubernetes cannot block it). */
export function isNodeLocal(src: Side, dst: Endpoint): boolean {
  return src.node !== undefined && src.node === dst.node;
}

function directionVerdict(
  model: PolicyModel,
  stages: readonly Stage[],
  direction: Direction,
  src: Side,
  dst: Side,
  protocol: Protocol,
  port: number,
  observe: FlowObserver | undefined,
): DirectionVerdict {
  const [subjectSide, other] = direction === 'Egress' ? [src, dst] : [dst, src];
  const subject = subjectSide.endpoint;
  if (subject === undefined) return fixed(direction, 'not-subject');
  if (subject.hostNetwork) return fixed(direction, 'host-network');
  const query = directQuery(model, direction, subject, other, dst.endpoint, protocol, port);
  const selected = selectedBy(model, query);
  if (sameEndpoint(src, dst)) return fixed(direction, 'loopback', selected);
  if (direction === 'Ingress' && isNodeLocal(src, subject)) return fixed(direction, 'node-local', selected);
  const onRule: RuleObserver | undefined = observe && ((...args) => observe(direction, ...args));
  const r = runPipeline(stages, query, onRule);
  const base = { direction, allowed: r.allowed, reason: r.reason, selectedBy: selected, trail: r.trail };
  return r.decidedBy ? { ...base, decidedBy: r.decidedBy } : base;
}

/** The action of a denied direction: Reject only when a Reject rule decided. */
function denialAction(v: DirectionVerdict): 'Deny' | 'Reject' {
  return v.decidedBy?.action === 'Reject' ? 'Reject' : 'Deny';
}

/**
 * Like `evaluate`, reporting every rule it checks to `observe`. The egress denial, when there is one, names
 * the action: the packet never reaches the destination's ingress.
 */
export function evaluateObserved(model: PolicyModel, flow: Flow, observe?: FlowObserver): Verdict {
  const stages = pipelineFor(model);
  const src = sideOfFlowPeer(model, flow.src);
  const dst = sideOfFlowPeer(model, flow.dst);
  const egress = directionVerdict(model, stages, 'Egress', src, dst, flow.protocol, flow.port, observe);
  const ingress = directionVerdict(model, stages, 'Ingress', src, dst, flow.protocol, flow.port, observe);
  const denied = !egress.allowed ? egress : !ingress.allowed ? ingress : undefined;
  return {
    allowed: denied === undefined,
    action: denied === undefined ? 'Allow' : denialAction(denied),
    egress,
    ingress,
  };
}

/** Whether src may open a connection to dst: src's egress and dst's ingress must both allow. */
export function evaluate(model: PolicyModel, flow: Flow): Verdict {
  return evaluateObserved(model, flow);
}
