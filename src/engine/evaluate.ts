import type { Endpoint, Protocol } from '../ir/endpoint.js';
import type { DirectionReason, DirectionVerdict, Flow, Verdict } from '../ir/flow.js';
import type { Direction, Policy, PolicyRef, Rule } from '../ir/policy.js';
import type { Tier } from '../ir/tier.js';
import { checkRule, peerMatches, portMatches } from './match.js';
import type { RuleCheck } from './match.js';
import type { PolicyModel } from './model.js';
import { participants, pipelineFor, runPipeline } from './pipeline.js';
import type { DirectionQuery, RuleObserver, Stage, StageStep } from './pipeline.js';
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
    check: (_policy, rule) =>
      checkRule(
        rule,
        (peer) => peerMatches(model, peer, other, subject),
        (pm) => portMatches(pm, protocol, port, dst),
      ),
  };
}

/** Policies selecting the subject, in the order the stages run them. */
function selectedBy(stages: readonly Stage[], query: DirectionQuery): PolicyRef[] {
  return stages.flatMap((s) => s.policies(query).map((p) => p.ref));
}

/** A direction's verdict plus what only explanations need: the stages that acted, and where it ended. */
export interface DirectionDetail {
  readonly verdict: DirectionVerdict;
  /** The query the pipeline ran with; absent when a fixed platform rule decided before any policy. */
  readonly query?: DirectionQuery;
  readonly steps: readonly StageStep[];
  /** Tier whose stage decided; absent for fixed rules and the default. */
  readonly tier?: string;
}

function fixed(
  direction: Direction,
  reason: DirectionReason,
  selected: readonly PolicyRef[] = [],
): DirectionDetail {
  return { verdict: { direction, allowed: true, reason, selectedBy: selected, trail: [] }, steps: [] };
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
): DirectionDetail {
  const [subjectSide, other] = direction === 'Egress' ? [src, dst] : [dst, src];
  const subject = subjectSide.endpoint;
  if (subject === undefined) return fixed(direction, 'not-subject');
  if (subject.hostNetwork) return fixed(direction, 'host-network');
  const query = directQuery(model, direction, subject, other, dst.endpoint, protocol, port);
  const selected = selectedBy(stages, query);
  if (sameEndpoint(src, dst)) return { ...fixed(direction, 'loopback', selected), query };
  if (direction === 'Ingress' && isNodeLocal(src, subject))
    return { ...fixed(direction, 'node-local', selected), query };
  const onRule: RuleObserver | undefined = observe && ((...args) => observe(direction, ...args));
  const r = runPipeline(stages, query, onRule);
  const base = { direction, allowed: r.allowed, reason: r.reason, selectedBy: selected, trail: r.trail };
  const verdict = r.decidedBy ? { ...base, decidedBy: r.decidedBy } : base;
  return { verdict, query, steps: r.steps, ...(r.tier === undefined ? {} : { tier: r.tier }) };
}

/** The action of a denied direction: Reject only when a Reject rule decided. */
function denialAction(v: DirectionVerdict): 'Deny' | 'Reject' {
  return v.decidedBy?.action === 'Reject' ? 'Reject' : 'Deny';
}

export interface EvaluationDetail {
  readonly verdict: Verdict;
  readonly stages: readonly Stage[];
  readonly egress: DirectionDetail;
  readonly ingress: DirectionDetail;
}

/** Like `evaluateObserved`, keeping the per-direction detail explanations are built from. */
export function evaluateDetailed(model: PolicyModel, flow: Flow, observe?: FlowObserver): EvaluationDetail {
  const stages = pipelineFor(model);
  const src = sideOfFlowPeer(model, flow.src);
  const dst = sideOfFlowPeer(model, flow.dst);
  const egress = directionVerdict(model, stages, 'Egress', src, dst, flow.protocol, flow.port, observe);
  const ingress = directionVerdict(model, stages, 'Ingress', src, dst, flow.protocol, flow.port, observe);
  const e = egress.verdict;
  const i = ingress.verdict;
  const denied = !e.allowed ? e : !i.allowed ? i : undefined;
  const verdict: Verdict = {
    allowed: denied === undefined,
    action: denied === undefined ? 'Allow' : denialAction(denied),
    egress: e,
    ingress: i,
  };
  return { verdict, stages, egress, ingress };
}

/**
 * Like `evaluate`, reporting every rule it checks to `observe`. The egress denial, when there is one, names
 * the action: the packet never reaches the destination's ingress.
 */
export function evaluateObserved(model: PolicyModel, flow: Flow, observe?: FlowObserver): Verdict {
  return evaluateDetailed(model, flow, observe).verdict;
}

/** Whether src may open a connection to dst: src's egress and dst's ingress must both allow. */
export function evaluate(model: PolicyModel, flow: Flow): Verdict {
  return evaluateObserved(model, flow);
}
