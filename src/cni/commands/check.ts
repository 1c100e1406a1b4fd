/**
 * CHECK: the attachment is still what ADD's final result (prevResult) says: the container interface with
 * its MAC and addresses, the routes listed, our host end up with its host routes, the IP reservations,
 * the endpoint record, and, when one is configured, a reachable agent.
 */
import { askAgent } from '../agent-client.js';
import { parsePalisadeConfig } from '../config.js';
import { readRecord } from '../endpoints.js';
import { CheckFailedError, InvalidConfigError, TryAgainLaterError } from '../errors.js';
import { createIpam } from '../ipam/index.js';
import { bridgeNetfilterOff } from '../kernel/bridge-netfilter.js';
import type { Where } from '../kernel/ip.js';
import { HOST, ipJson } from '../kernel/ip.js';
import { requireContainerNetns } from '../kernel/netns.js';
import { gatewayFor } from '../kernel/routed.js';
import type { CniRoute } from '../spec.js';
import { findHostEndLink } from './add.js';
import type { Verb, VerbContext } from './context.js';

interface IpAddr {
  readonly ifname: string;
  readonly address?: string;
  readonly flags?: readonly string[];
  readonly addr_info?: readonly { readonly local: string }[];
}

interface IpRoute {
  readonly dst: string;
  readonly gateway?: string;
  readonly dev?: string;
}

const bare = (a: string): string => a.split('/')[0] ?? a;

async function link(ctx: VerbContext, where: Where, name: string): Promise<IpAddr | undefined> {
  return (await ipJson<IpAddr[]>(ctx.exec, where, ['addr', 'show', 'dev', name]))?.[0];
}

function routeKey(dst: string): string {
  return dst === '0.0.0.0/0' || dst === '::/0' ? 'default' : dst.replace(/\/(32|128)$/, '');
}

async function routes(ctx: VerbContext, where: Where): Promise<IpRoute[]> {
  const v4 = (await ipJson<IpRoute[]>(ctx.exec, where, ['route', 'show'])) ?? [];
  const v6 = (await ipJson<IpRoute[]>(ctx.exec, where, ['-6', 'route', 'show'])) ?? [];
  return [...v4, ...v6];
}

export const check: Verb = async (ctx) => {
  const { env, conf } = ctx;
  const pal = parsePalisadeConfig(conf);
  const prev = conf.prevResult;
  if (!prev) throw new InvalidConfigError('CHECK needs prevResult', 'the result of the ADD to check');
  await requireContainerNetns(env.netns);
  const record = await readRecord(pal.stateDir, conf.name, env.containerId, env.ifname);
  if (record?.state !== 'ready')
    throw new CheckFailedError(`no ready endpoint record for ${env.containerId}/${env.ifname}`);

  const index = (prev.interfaces ?? []).findIndex((i) => i.name === env.ifname && (i.sandbox ?? '') !== '');
  const expectedIf = prev.interfaces?.[index];
  const inner = await link(ctx, { netnsPath: env.netns }, env.ifname);
  if (!inner) throw new CheckFailedError(`interface ${env.ifname} missing`, `in ${env.netns}`);
  if (expectedIf?.mac !== undefined && inner.address?.toLowerCase() !== expectedIf.mac.toLowerCase()) {
    throw new CheckFailedError(
      `interface ${env.ifname} has MAC ${inner.address ?? '?'}`,
      `expected ${expectedIf.mac}`,
    );
  }
  const have = new Set((inner.addr_info ?? []).map((a) => a.local));
  const wanted = (prev.ips ?? []).filter((ip) => ip.interface === undefined || ip.interface === index);
  for (const ip of wanted) {
    if (!have.has(bare(ip.address)))
      throw new CheckFailedError(`address ${ip.address} missing on ${env.ifname}`);
  }
  const present = await routes(ctx, { netnsPath: env.netns });
  // Routed, the routes ADD made are those via our link-local gateway; a chained prevResult also lists
  // the routes of the plugins before us, which are theirs to check.
  const expected = (prev.routes ?? []).filter(
    (r) => pal.mode !== 'routed' || r.gw === gatewayFor(bare(r.dst)),
  );
  for (const r of expected) {
    const gw = r.gw ?? wanted.find((ip) => ip.address.includes(':') === r.dst.includes(':'))?.gateway;
    const found = present.some(
      (p) =>
        p.dst === routeKey(r.dst) &&
        (gw === undefined || p.gateway === gw) &&
        (p.dev === undefined || p.dev === env.ifname),
    );
    if (!found) throw new CheckFailedError(`route ${describe(r, gw)} missing`, `in ${env.netns}`);
  }

  const hostIf = record.hostIfname;
  if (pal.mode === 'routed' && hostIf !== undefined) {
    const host = await link(ctx, HOST, hostIf);
    if (!host) throw new CheckFailedError(`host interface ${hostIf} missing`);
    if (!(host.flags ?? []).includes('UP')) throw new CheckFailedError(`host interface ${hostIf} is down`);
    const hostRoutes = await routes(ctx, HOST);
    for (const ip of record.ips) {
      if (!hostRoutes.some((r) => r.dst === ip && r.dev === hostIf)) {
        throw new CheckFailedError(`host route to ${ip} via ${hostIf} missing`);
      }
    }
    await createIpam({ env, conf, ipam: pal.ipam ?? {}, stderr: ctx.stderr }).check(
      wanted.map((ip) => ip.address),
    );
  } else if (pal.mode === 'policy-only' && hostIf !== undefined) {
    const end = await findHostEndLink(ctx);
    if (end?.ifname !== hostIf)
      throw new CheckFailedError(`host end of ${env.ifname} is no longer ${hostIf}`);
    const off = end.bridged ? await bridgeNetfilterOff(record.ips) : [];
    if (off.length > 0)
      throw new CheckFailedError(`${off.join(', ')} is off`, 'same-bridge traffic bypasses policy');
  }

  if (pal.agentSocket !== undefined) {
    const o = await askAgent(pal.agentSocket, { type: 'ping', version: 1 }, pal.agentTimeoutMs);
    if (o.kind === 'unreachable') {
      throw new TryAgainLaterError(`palisade agent unreachable at ${pal.agentSocket}`, o.error);
    }
  }
  return undefined;
};

function describe(r: CniRoute, gw: string | undefined): string {
  return gw === undefined ? r.dst : `${r.dst} via ${gw}`;
}
