/**
 * GC: remove whatever belongs to an attachment not in `cni.dev/valid-attachments`: endpoint records (with
 * the host link of routed ones) and IP reservations; then forward GC to a delegated IPAM. Keeps going past
 * failures and reports them all at the end, as the spec asks.
 */
import { parsePalisadeConfig } from '../config.js';
import { listRecords, removeRecord } from '../endpoints.js';
import { CniCode, CniError, asCniError } from '../errors.js';
import { createIpam } from '../ipam/index.js';
import { deleteHostLink } from '../kernel/ip.js';
import { unregisterEndpoint } from './agent.js';
import type { Verb } from './context.js';
import { logger } from './context.js';

export const gc: Verb = async (ctx) => {
  const { conf } = ctx;
  const pal = parsePalisadeConfig(conf);
  const log = logger(ctx, pal);
  const valid = conf.validAttachments;
  if (valid === undefined) {
    // No list is not an empty list: without it nothing can be known stale.
    log.warn('GC without cni.dev/valid-attachments: nothing removed');
    return undefined;
  }
  const isValid = (containerId: string, ifname: string): boolean =>
    valid.some((a) => a.containerID === containerId && a.ifname === ifname);
  const errors: CniError[] = [];
  const attempt = async (fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      errors.push(asCniError(err));
    }
  };
  for (const r of await listRecords(pal.stateDir, conf.name)) {
    if (isValid(r.containerId, r.ifname)) continue;
    const hostIf = r.hostIfname;
    if (r.mode === 'routed' && hostIf !== undefined) await attempt(() => deleteHostLink(ctx.exec, hostIf));
    await attempt(() => removeRecord(pal.stateDir, conf.name, r.containerId, r.ifname));
    await attempt(() => unregisterEndpoint(pal, conf.name, r.containerId, r.ifname, log));
    log.debug(`GC removed ${r.containerId}/${r.ifname}`);
  }
  if (pal.mode === 'routed') {
    await attempt(() => createIpam({ env: ctx.env, conf, ipam: pal.ipam ?? {}, stderr: ctx.stderr }).gc());
  }
  if (errors.length === 1 && errors[0]) throw errors[0];
  if (errors.length > 1) {
    throw new CniError(
      errors[0]?.code ?? CniCode.Internal,
      `GC failed for ${errors.length} resources`,
      errors.map((e) => e.message).join('; '),
    );
  }
  return undefined;
};
