/**
 * DEL: best effort and idempotent. Everything ADD may have made is found without the container (names
 * are derived, reservations are keyed by owner), so a second DEL, a DEL after a killed ADD, and a DEL of
 * a container whose netns is gone all succeed.
 */
import { parsePalisadeConfig } from '../config.js';
import { readRecord, removeRecord } from '../endpoints.js';
import { createIpam } from '../ipam/index.js';
import { deleteHostLink } from '../kernel/ip.js';
import { hostIfname } from '../kernel/names.js';
import { unregisterEndpoint } from './agent.js';
import type { Verb } from './context.js';
import { logger } from './context.js';

export const del: Verb = async (ctx) => {
  const { env, conf } = ctx;
  const pal = parsePalisadeConfig(conf);
  const log = logger(ctx, pal);
  const record = await readRecord(pal.stateDir, conf.name, env.containerId, env.ifname);
  if (pal.mode === 'routed') {
    // Deleting our end removes the pair, and with it the host route and neighbour entry.
    const hostIf = record?.hostIfname ?? hostIfname(conf.name, env.containerId, env.ifname);
    if (await deleteHostLink(ctx.exec, hostIf)) log.debug(`deleted ${hostIf}`);
    // A ready record lists every address ADD got; a pending one (killed ADD) makes IPAM search by owner.
    const known = record?.state === 'ready' ? record.ips : undefined;
    await createIpam({ env, conf, ipam: pal.ipam ?? {}, stderr: ctx.stderr }).del(known);
  }
  // Policy-only: the interface belongs to the plugin before us, which deletes it.
  await removeRecord(pal.stateDir, conf.name, env.containerId, env.ifname);
  if (record) await unregisterEndpoint(pal, conf.name, env.containerId, env.ifname, log);
  return undefined;
};
