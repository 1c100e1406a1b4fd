/**
 * One request the node's L7 proxy decided (its log line, src/l7/log-line.ts) as a flow-log record: both
 * pods, the request, what the client observed, and the L7 rule that decided — or, when the request was
 * let through because no L7 rule had a say, that sentence.
 */
import type { PolicyModel } from '../../engine/index.js';
import type { L7LogLine } from '../../l7/log-line.js';
import { observedResponse } from '../../l7/log-line.js';
import type { OutcomeInfo } from '../../l7/node-l7.js';
import { endpointOf, ruleAttribution, ruleText } from './attribute.js';
import type { FlowRecord } from './record.js';

function why(info: OutcomeInfo | undefined, model: PolicyModel | undefined, response: string): string {
  const d = info?.decision;
  if (info?.kind === 'u')
    return `${response}: the proxy has no L7 table for this client and server (fail closed)`;
  if (d === undefined || model === undefined) return `${response}: no L7 rule has a say on this port`;
  const rule = ruleText(model, d.by);
  const dir = d.direction.toLowerCase();
  switch (d.why) {
    case 'matched':
      return `${response}: HTTP entry ${d.entry ?? 0} of ${rule} matched (${dir})`;
    case 'l4-wildcard':
      return `${response}: ${rule} allows the port without L7 rules, which wildcards them (${dir})`;
    case 'no-match':
      return `${response}: no HTTP entry matched; ${rule} decided (${dir})`;
  }
}

export function l7FlowRecord(
  line: L7LogLine,
  info: OutcomeInfo | undefined,
  model: PolicyModel | undefined,
  node: string,
  time: string,
): FlowRecord {
  const response = observedResponse(line);
  const d = info?.decision;
  const allowed = response === 'forwarded';
  return {
    time,
    node,
    verdict: allowed ? 'allowed' : 'denied',
    ...(allowed ? {} : { action: response === 'reset' ? ('Reject' as const) : ('Deny' as const) }),
    type: 'l7',
    ...(d === undefined
      ? {}
      : { direction: d.direction === 'Ingress' ? ('ingress' as const) : ('egress' as const) }),
    source: endpointOf(model, line.clientIp, line.clientPort),
    destination: endpointOf(model, line.serverIp, line.serverPort),
    protocol: 'TCP',
    ...(d === undefined || model === undefined ? {} : { policy: ruleAttribution(model, d.by) }),
    reason: why(info, model, response),
    attribution: d === undefined ? 'none' : 'engine',
    kernel: { source: 'l7-proxy' },
    l7: {
      method: line.method,
      path: line.path,
      host: line.host,
      protocol: line.version === '2.0' ? 'HTTP/2' : `HTTP/${line.version}`,
      grpc: line.grpc,
      status: line.status,
      response,
      ...(d?.entry === undefined ? {} : { entry: d.entry }),
    },
  };
}
