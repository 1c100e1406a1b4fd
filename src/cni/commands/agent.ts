/** The verbs' side of the agent protocol (agent-client.ts): fail closed on ADD, best effort on DEL/GC. */
import { askAgent } from '../agent-client.js';
import type { PalisadeConfig } from '../config.js';
import type { EndpointRecord } from '../endpoints.js';
import { recordPath } from '../endpoints.js';
import { AgentRefusedError, TryAgainLaterError } from '../errors.js';
import type { Logger } from './context.js';

/** Registers a ready endpoint; returns only once the agent has it (or none is configured/required). */
export async function registerEndpoint(
  pal: PalisadeConfig,
  record: EndpointRecord,
  log: Logger,
): Promise<void> {
  if (pal.agentSocket === undefined) {
    log.debug(
      `no agentSocket configured: ${record.containerId}/${record.ifname} is recorded in ` +
        `${recordPath(pal.stateDir, record.network, record.containerId, record.ifname)} only, and nothing ` +
        'enforces policy for it until an agent reads the records',
    );
    return;
  }
  const o = await askAgent(
    pal.agentSocket,
    { type: 'endpoint-added', version: 1, endpoint: record },
    pal.agentTimeoutMs,
  );
  if (o.kind === 'reply') {
    if (!o.reply.ok) throw new AgentRefusedError(o.reply.reason);
    return;
  }
  if (pal.failClosed) {
    throw new TryAgainLaterError(
      `palisade agent unreachable at ${pal.agentSocket}`,
      `${o.error}; failClosed is set, so the pod is not attached without enforcement`,
    );
  }
  log.warn(
    `palisade agent unreachable at ${pal.agentSocket} (${o.error}); attaching without confirmed ` +
      'enforcement because failClosed is false',
  );
}

export async function unregisterEndpoint(
  pal: PalisadeConfig,
  network: string,
  containerId: string,
  ifname: string,
  log: Logger,
): Promise<void> {
  if (pal.agentSocket === undefined) return;
  const o = await askAgent(
    pal.agentSocket,
    { type: 'endpoint-removed', version: 1, network, containerId, ifname },
    pal.agentTimeoutMs,
  );
  if (o.kind === 'unreachable')
    log.warn(`could not tell the agent ${containerId}/${ifname} is gone: ${o.error}`);
  else if (!o.reply.ok)
    log.warn(`the agent did not take the removal of ${containerId}/${ifname}: ${o.reply.reason}`);
}
