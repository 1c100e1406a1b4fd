/**
 * What the engine's pipeline says about an ICMP packet. `evaluate` only takes TCP/UDP/SCTP flows (an ICMP
 * match never matches those), so this runs the engine's own stages (`pipelineFor`, `runPipeline`, the
 * engine's peer matching) with a port predicate that understands ICMP: an `icmp` match of the packet's
 * family whose type and code (when given) are the packet's, or `ports: any`. The fixed platform rules
 * (host network, loopback, node-local ingress) are evaluate.ts's.
 */
import type { PolicyModel } from '../../../src/engine/index.js';
import {
  checkRule,
  isNodeLocal,
  participants,
  peerMatches,
  pipelineFor,
  runPipeline,
} from '../../../src/engine/index.js';
import { subjectSelects } from '../../../src/engine/selector.js';
import { sideOfEndpoint } from '../../../src/engine/side.js';
import type { Side } from '../../../src/engine/side.js';
import type { Direction, Endpoint, PortMatch } from '../../../src/ir/index.js';
import { endpointKey } from '../../../src/ir/index.js';

export interface IcmpPacket {
  readonly family: 4 | 6;
  readonly type: number;
  readonly code: number;
}

export function icmpPortMatches(pm: PortMatch, p: IcmpPacket): boolean {
  return (
    pm.kind === 'icmp' &&
    pm.family === p.family &&
    (pm.type === undefined || pm.type === p.type) &&
    (pm.code === undefined || pm.code === p.code)
  );
}

type Outcome = 'accept' | 'drop' | 'reject';

function direction(model: PolicyModel, d: Direction, src: Side, dst: Side, p: IcmpPacket): Outcome {
  const [subjectSide, other] = d === 'Egress' ? [src, dst] : [dst, src];
  const subject = subjectSide.endpoint;
  if (subject === undefined || subject.hostNetwork) return 'accept';
  if (src.endpoint && dst.endpoint && endpointKey(src.endpoint) === endpointKey(dst.endpoint))
    return 'accept';
  if (d === 'Ingress' && isNodeLocal(src, subject)) return 'accept';
  const byTier = model.tiers.map((t) => participants(t, d, (pol) => subjectSelects(pol.subject, subject)));
  const r = runPipeline(pipelineFor(model), {
    direction: d,
    policies: (i) => byTier[i] ?? [],
    check: (_policy, rule) =>
      checkRule(
        rule,
        (peer) => peerMatches(model, peer, other, subject),
        (pm) => icmpPortMatches(pm, p),
      ),
  });
  return r.allowed ? 'accept' : r.action === 'Reject' ? 'reject' : 'drop';
}

export function icmpVerdict(model: PolicyModel, src: Endpoint, dst: Endpoint, p: IcmpPacket): Outcome {
  const s = sideOfEndpoint(model, src);
  const d = sideOfEndpoint(model, dst);
  const egress = direction(model, 'Egress', s, d, p);
  return egress !== 'accept' ? egress : direction(model, 'Ingress', s, d, p);
}
