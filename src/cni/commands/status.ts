/**
 * STATUS: can ADD be served? Not when a fail-closed config's agent is unreachable (ADD would refuse),
 * nor when IPAM has no free address (or its delegate says so). Code 50 in both cases.
 */
import { askAgent } from '../agent-client.js';
import { parsePalisadeConfig } from '../config.js';
import { PluginNotAvailableError } from '../errors.js';
import { createIpam } from '../ipam/index.js';
import type { Verb } from './context.js';
import { logger } from './context.js';

export const status: Verb = async (ctx) => {
  const pal = parsePalisadeConfig(ctx.conf);
  if (pal.agentSocket !== undefined) {
    const o = await askAgent(pal.agentSocket, { type: 'ping', version: 1 }, pal.agentTimeoutMs);
    if (o.kind === 'unreachable') {
      if (pal.failClosed) {
        throw new PluginNotAvailableError(`palisade agent unreachable at ${pal.agentSocket}`, o.error);
      }
      logger(ctx, pal).warn(`palisade agent unreachable at ${pal.agentSocket}: ADD would attach unenforced`);
    }
  }
  if (pal.mode === 'routed') {
    await createIpam({ env: ctx.env, conf: ctx.conf, ipam: pal.ipam ?? {}, stderr: ctx.stderr }).status();
  }
  return undefined;
};
