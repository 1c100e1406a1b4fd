/**
 * ADD. Routed mode: record the intent, allocate, create and configure the veth, mark the record ready,
 * register with the agent; anything that fails undoes, in `finally`, exactly what this call made. Its
 * result is the prevResult it was given, if any, with its own interfaces, addresses and routes added.
 * Policy-only mode: find the interface the previous plugin made (behind a bridge, make sure bridged
 * traffic reaches the policy hooks), record it, register it, and pass its result through unchanged.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { PalisadeConfig } from '../config.js';
import { parsePalisadeConfig, podIdentity } from '../config.js';
import type { EndpointRecord } from '../endpoints.js';
import { readRecord, removeRecord, writeRecord } from '../endpoints.js';
import {
  CniCode,
  CniError,
  InvalidConfigError,
  InvalidEnvironmentError,
  KernelCommandError,
  UnknownContainerError,
} from '../errors.js';
import type { Ipam } from '../ipam/index.js';
import { createIpam } from '../ipam/index.js';
import { ensureBridgeNetfilter } from '../kernel/bridge-netfilter.js';
import { HOST, deleteHostLink, ipBatch, ipJson } from '../kernel/ip.js';
import { hostIfname, vethMacs } from '../kernel/names.js';
import { requireContainerNetns } from '../kernel/netns.js';
import type { RoutedPlan } from '../kernel/routed.js';
import { containerLines, defaultRoutes, gatewayFor, hostLines } from '../kernel/routed.js';
import type { CniResult, CniRoute } from '../spec.js';
import { registerEndpoint } from './agent.js';
import type { Logger, Verb, VerbContext } from './context.js';
import { logger } from './context.js';

export const add: Verb = async (ctx) => {
  const pal = parsePalisadeConfig(ctx.conf);
  const log = logger(ctx, pal);
  await requireContainerNetns(ctx.env.netns);
  const existing = await readRecord(pal.stateDir, ctx.conf.name, ctx.env.containerId, ctx.env.ifname);
  if (existing) {
    // Touch nothing: rolling back would break the attachment that exists.
    throw new CniError(
      CniCode.Internal,
      `attachment ${ctx.env.containerId}/${ctx.env.ifname} already exists in network ${ctx.conf.name}`,
      'DEL it before adding it again',
    );
  }
  return pal.mode === 'policy-only' ? addPolicyOnly(ctx, pal, log) : addRouted(ctx, pal, log);
};

function baseRecord(ctx: VerbContext, pal: PalisadeConfig): EndpointRecord {
  const pod = podIdentity(ctx.env.args);
  return {
    version: 1,
    network: ctx.conf.name,
    containerId: ctx.env.containerId,
    ifname: ctx.env.ifname,
    netns: ctx.env.netns,
    mode: pal.mode,
    state: 'pending',
    ips: [],
    ...(pod.namespace === undefined && pod.name === undefined ? {} : { pod }),
    createdAt: new Date().toISOString(),
  };
}

const bare = (address: string): string => address.split('/')[0] ?? address;

/** The sysctls routing needs on the host: forwarding for each family in use. Written only when off. */
async function ensureForwarding(ips: readonly string[]): Promise<void> {
  const keys = new Set(ips.map((ip) => (ip.includes(':') ? 'ipv6/conf/all/forwarding' : 'ipv4/ip_forward')));
  for (const key of keys) {
    const path = `/proc/sys/net/${key}`;
    if ((await readFile(path, 'utf8')).trim() !== '1') await writeFile(path, '1');
  }
}

async function addRouted(
  ctx: VerbContext,
  pal: PalisadeConfig,
  log: Logger,
): Promise<Omit<CniResult, 'cniVersion'>> {
  const { env, conf, exec } = ctx;
  const hostIf = hostIfname(conf.name, env.containerId, env.ifname);
  const macs = vethMacs(conf.name, env.containerId, env.ifname);
  const record: EndpointRecord = { ...baseRecord(ctx, pal), hostIfname: hostIf };
  let recorded = false;
  let ipam: Ipam | undefined;
  let allocated = false;
  let linked = false;
  let ok = false;
  try {
    // The intent goes to disk first: whatever happens next, GC can find the veth and the addresses.
    await writeRecord(pal.stateDir, record);
    recorded = true;
    ipam = createIpam({ env, conf, ipam: pal.ipam ?? {}, stderr: ctx.stderr });
    const alloc = await ipam.add();
    allocated = true;
    const ips = alloc.ips.map((a) => bare(a.address));
    if (ips.length === 0) throw new InvalidConfigError('IPAM returned no address');
    await ensureForwarding(ips);
    // IPAM routes are kept, but always via the link-local gateway: the subnet's gateway is not on the link.
    const routes: CniRoute[] = (alloc.routes.length > 0 ? alloc.routes : defaultRoutes(ips)).map((r) => ({
      ...r,
      gw: gatewayFor(bare(r.dst)),
    }));
    const plan: RoutedPlan = {
      hostIf,
      hostMac: macs.host,
      ifname: env.ifname,
      podMac: macs.pod,
      netnsPath: env.netns,
      mtu: pal.mtu,
      ips,
      routes,
    };
    try {
      await ipBatch(exec, HOST, hostLines(plan));
      linked = true;
    } catch (err) {
      // Line 1 creates the pair; failing there made nothing (and the name may belong to someone else).
      if (!(err instanceof KernelCommandError && err.failedLine === 1)) linked = true;
      else await refuseExistingInterface(ctx);
      throw err;
    }
    await ipBatch(exec, { netnsPath: env.netns }, containerLines(plan));
    const ready: EndpointRecord = { ...record, state: 'ready', ips };
    await writeRecord(pal.stateDir, ready);
    await registerEndpoint(pal, ready, log);
    ok = true;
    return chainResult(conf.prevResult, {
      interfaces: [
        { name: hostIf, mac: macs.host, mtu: pal.mtu },
        { name: env.ifname, mac: macs.pod, mtu: pal.mtu, sandbox: env.netns },
      ],
      ips: ips.map((ip) => ({
        address: `${ip}/${ip.includes(':') ? 128 : 32}`,
        gateway: gatewayFor(ip),
        interface: 1,
      })),
      routes,
      ...(alloc.dns ? { dns: alloc.dns } : {}),
    });
  } finally {
    if (!ok) {
      // Undo in reverse, each step on its own: one failing must not keep the others from running.
      const undo = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
        await fn().catch((e: unknown) => log.warn(`rollback of ${what} failed: ${String(e)}`));
      };
      if (linked) await undo(`link ${hostIf}`, () => deleteHostLink(exec, hostIf));
      const held = allocated ? ipam : undefined;
      if (held) await undo('IP allocation', () => held.del());
      if (recorded)
        await undo('endpoint record', () =>
          removeRecord(pal.stateDir, conf.name, env.containerId, env.ifname),
        );
    }
  }
}

/**
 * SPEC.md section 2, ADD: "If an interface of the requested name already exists in the container, the
 * CNI plugin MUST return with an error". Creating the pair failed: when CNI_IFNAME is the name taken,
 * say so as the environment error it is (code 4 names the variable), not as the kernel's "File exists".
 */
async function refuseExistingInterface(ctx: VerbContext): Promise<void> {
  const { env } = ctx;
  const inner = await ipJson<IpLink[]>(ctx.exec, { netnsPath: env.netns }, [
    'link',
    'show',
    'dev',
    env.ifname,
  ]);
  if (inner?.[0] === undefined) return;
  throw new InvalidEnvironmentError(
    `CNI_IFNAME: interface ${env.ifname} already exists in the container`,
    `in ${env.netns}; use another interface name, or DEL the attachment that made it`,
  );
}

/**
 * SPEC.md section 5, "ADD Success": a plugin given a prevResult outputs it "with any possible
 * modifications made by that plugin included". Ours are appended: interfaces after the earlier ones (our
 * addresses' `interface` indexes shifted to match), addresses and routes after theirs, DNS ours when
 * IPAM gave one, else theirs.
 */
export function chainResult(
  prev: CniResult | undefined,
  own: Omit<CniResult, 'cniVersion'>,
): Omit<CniResult, 'cniVersion'> {
  if (prev === undefined) return own;
  const offset = prev.interfaces?.length ?? 0;
  const dns = own.dns ?? prev.dns;
  return {
    interfaces: [...(prev.interfaces ?? []), ...(own.interfaces ?? [])],
    ips: [
      ...(prev.ips ?? []),
      ...(own.ips ?? []).map((ip) =>
        ip.interface === undefined ? ip : { ...ip, interface: ip.interface + offset },
      ),
    ],
    routes: [...(prev.routes ?? []), ...(own.routes ?? [])],
    ...(dns === undefined ? {} : { dns }),
  };
}

interface IpLink {
  readonly ifindex: number;
  readonly ifname: string;
  readonly link_index?: number;
  /** With `ip -d`: what the link is a port of, e.g. `bridge`. */
  readonly linkinfo?: { readonly info_slave_kind?: string };
}

export interface HostEnd {
  readonly ifname: string;
  /** A port of a Linux bridge: same-bridge traffic is switched (kernel/bridge-netfilter.ts). */
  readonly bridged: boolean;
}

/**
 * The host end of the container's interface: the host link whose ifindex is the container link's
 * `link_index` (a veth's peer). Not a veth (macvlan, ipvlan): undefined, and only the IPs identify it.
 */
export async function findHostEndLink(ctx: VerbContext): Promise<HostEnd | undefined> {
  const inner = await ipJson<IpLink[]>(ctx.exec, { netnsPath: ctx.env.netns }, [
    'link',
    'show',
    'dev',
    ctx.env.ifname,
  ]);
  const peer = inner?.[0]?.link_index;
  if (!inner?.[0]) throw new UnknownContainerError(`no interface ${ctx.env.ifname} in ${ctx.env.netns}`);
  if (peer === undefined) return undefined;
  const host = await ipJson<IpLink[]>(ctx.exec, HOST, ['-d', 'link', 'show']);
  const link = host?.find((l) => l.ifindex === peer);
  return link && { ifname: link.ifname, bridged: link.linkinfo?.info_slave_kind === 'bridge' };
}

/**
 * Behind a bridge, policy holds between pods of the same bridge only with bridge netfilter on. Off and
 * impossible to turn on (no br_netfilter): with failClosed the pod is not attached half-enforced.
 */
async function requireBridgeNetfilter(
  ips: readonly string[],
  pal: PalisadeConfig,
  log: Logger,
): Promise<void> {
  const state = await ensureBridgeNetfilter(ips);
  if (state.kind === 'turned-on')
    log.info(`turned on ${state.keys.join(', ')} so same-bridge traffic is filtered`);
  if (state.kind !== 'unavailable') return;
  const why =
    `${state.path} does not exist (br_netfilter not loaded: modprobe br_netfilter); ` +
    'traffic between pods on the same bridge would bypass policy';
  if (pal.failClosed) throw new InvalidEnvironmentError('bridge netfilter unavailable', why);
  log.warn(`${why}; attaching anyway because failClosed is false`);
}

async function addPolicyOnly(
  ctx: VerbContext,
  pal: PalisadeConfig,
  log: Logger,
): Promise<Omit<CniResult, 'cniVersion'>> {
  const prev = ctx.conf.prevResult;
  if (!prev) {
    throw new InvalidConfigError('policy-only mode must follow an interface plugin', 'prevResult is missing');
  }
  const interfaces = prev.interfaces ?? [];
  const index = interfaces.findIndex((i) => i.name === ctx.env.ifname && (i.sandbox ?? '') !== '');
  if (index < 0) {
    throw new InvalidConfigError(`prevResult has no interface ${ctx.env.ifname} inside the container`);
  }
  const ips = (prev.ips ?? [])
    .filter((ip) => ip.interface === undefined || ip.interface === index)
    .map((ip) => bare(ip.address));
  if (ips.length === 0) throw new InvalidConfigError(`prevResult assigns no address to ${ctx.env.ifname}`);
  const hostEnd = await findHostEndLink(ctx);
  if (hostEnd === undefined)
    log.warn(`${ctx.env.ifname} has no veth peer on the host: enforcement can only match its addresses`);
  if (hostEnd?.bridged) await requireBridgeNetfilter(ips, pal, log);
  const record: EndpointRecord = {
    ...baseRecord(ctx, pal),
    state: 'ready',
    ips,
    ...(hostEnd === undefined ? {} : { hostIfname: hostEnd.ifname }),
  };
  let ok = false;
  try {
    await writeRecord(pal.stateDir, record);
    await registerEndpoint(pal, record, log);
    ok = true;
  } finally {
    if (!ok)
      await removeRecord(pal.stateDir, ctx.conf.name, ctx.env.containerId, ctx.env.ifname).catch(
        () => undefined,
      );
  }
  // The spec: a plugin that changes nothing in the result outputs the prevResult it got.
  const { cniVersion, ...rest } = prev;
  void cniVersion; // the caller stamps the config's version
  return rest;
}
