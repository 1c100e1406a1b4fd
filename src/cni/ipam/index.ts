/**
 * IPAM behind one interface with two implementations: the in-process allocator with host-local semantics
 * (`ipam.type: "palisade"`), which costs no process start, and any other IPAM plugin executed from
 * CNI_PATH as SPEC.md section 4 says (same environment, same stdin, its stderr passed on).
 */
import { join } from 'node:path';
import { parseIp } from '../../ir/cidr.js';
import { BUILTIN_IPAM } from '../config.js';
import {
  AddressesExhaustedError,
  CheckFailedError,
  CniError,
  CniCode,
  DelegateError,
  InvalidConfigError,
  InvalidEnvironmentError,
  PluginNotAvailableError,
} from '../errors.js';
import { execPlugin, findPlugin } from '../exec.js';
import type { CniDns, CniEnv, CniResult, CniRoute, RequestConfig } from '../spec.js';
import type { IpamConfig } from './config.js';
import { candidates, ipText, parseIpamConfig, rangeFamily, rangeOf } from './config.js';
import type { Owner } from './store.js';
import { IpamStore } from './store.js';

export interface IpamAddress {
  /** Address with the prefix of its subnet, as host-local returns it. */
  readonly address: string;
  readonly gateway?: string;
}

export interface IpamAllocation {
  readonly ips: readonly IpamAddress[];
  readonly routes: readonly CniRoute[];
  readonly dns?: CniDns;
}

export interface Ipam {
  add(): Promise<IpamAllocation>;
  /** Idempotent: releasing what is not held is success. `known`: the addresses ADD recorded, if any. */
  del(known?: readonly string[]): Promise<void>;
  /** Throws when `expected` addresses are not held by this attachment. */
  check(expected: readonly string[]): Promise<void>;
  gc(): Promise<void>;
  status(): Promise<void>;
}

export interface IpamContext {
  readonly env: CniEnv;
  readonly conf: RequestConfig;
  readonly ipam: Readonly<Record<string, unknown>>;
  /** Where a delegate's stderr goes (the spec: to the caller's stderr). */
  readonly stderr: (text: string) => void;
}

export function createIpam(ctx: IpamContext): Ipam {
  const type = ctx.ipam['type'];
  if (type === BUILTIN_IPAM) return new BuiltinIpam(ctx, parseIpamConfig(ctx.ipam));
  if (typeof type !== 'string' || type === '') throw new InvalidConfigError('ipam.type missing');
  return new DelegatedIpam(ctx, type);
}

/** Addresses asked for: args.cni.ips, else runtimeConfig.ips, else CNI_ARGS IP=a,b (CONVENTIONS.md). */
export function requestedIps(env: CniEnv, conf: RequestConfig): string[] {
  const fromArgs = (conf.args?.['cni'] as { ips?: unknown } | undefined)?.ips;
  const fromRuntime = conf.runtimeConfig?.['ips'];
  const list = Array.isArray(fromArgs) ? fromArgs : Array.isArray(fromRuntime) ? fromRuntime : undefined;
  const texts = list ?? env.args.find(([k]) => k === 'IP')?.[1].split(',') ?? [];
  return texts.map((t) => String(t).split('/')[0] ?? '').filter((t) => t !== '');
}

class BuiltinIpam implements Ipam {
  private readonly store: IpamStore;
  private readonly owner: Owner;
  constructor(
    private readonly ctx: IpamContext,
    private readonly config: IpamConfig,
  ) {
    this.store = new IpamStore(join(config.dataDir, ctx.conf.name));
    this.owner = { containerId: ctx.env.containerId, ifname: ctx.env.ifname };
  }

  async add(): Promise<IpamAllocation> {
    // No scan for an address this owner already holds (host-local's duplicate check): reading every
    // reservation made ADD O(pods). ADD refuses an attachment whose endpoint record exists instead.
    const requested = requestedIps(this.ctx.env, this.ctx.conf);
    const ips: IpamAddress[] = [];
    let done = false;
    try {
      for (const [i, set] of this.config.rangeSets.entries()) {
        const family = rangeFamily(set);
        const wanted = requested
          .map(parseIp)
          .find((ip) => ip !== undefined && rangeOf(set, ip) !== undefined);
        let got: string | undefined;
        if (wanted) {
          got = (await this.store.reserveExact(ipText(family, wanted.value), this.owner, i))
            ? ipText(family, wanted.value)
            : undefined;
          if (got === undefined) {
            throw new CniError(
              CniCode.Internal,
              `requested IP address ${ipText(family, wanted.value)} is not available in range set ${i}`,
            );
          }
        } else {
          const last = await this.store.lastReserved(i);
          const lastIp = last === undefined ? undefined : parseIp(last);
          const texts = mapIter(candidates(set, this.config.exclude, lastIp?.value), (v) =>
            ipText(family, v),
          );
          got = await this.store.reserve(texts, this.owner, i);
          if (got === undefined) {
            throw new AddressesExhaustedError(
              `no IP addresses available in range set ${i}`,
              set.map((r) => `${ipText(family, r.start)}-${ipText(family, r.end)}`).join(','),
            );
          }
        }
        const ip = parseIp(got);
        const range = ip ? rangeOf(set, ip) : undefined;
        ips.push({
          address: `${got}/${range?.subnet.prefix ?? (family === 4 ? 32 : 128)}`,
          ...(range ? { gateway: ipText(family, range.gateway) } : {}),
        });
      }
      for (const r of requested) {
        if (!ips.some((a) => a.address.split('/')[0] === parseIpText(r))) {
          throw new CniError(CniCode.Internal, `requested IP address ${r} is not in any range set`);
        }
      }
      done = true;
      return { ips, routes: this.config.routes, ...(this.config.dns ? { dns: this.config.dns } : {}) };
    } finally {
      if (!done) await this.store.release(this.owner);
    }
  }

  async del(known?: readonly string[]): Promise<void> {
    await this.store.release(this.owner, known);
  }

  async check(expected: readonly string[]): Promise<void> {
    const held = new Set(
      (await this.store.list())
        .filter(
          (r) =>
            r.containerId === this.owner.containerId && (r.ifname === '' || r.ifname === this.owner.ifname),
        )
        .map((r) => r.ip),
    );
    for (const e of expected) {
      const ip = parseIpText(e.split('/')[0] ?? '');
      if (!held.has(ip))
        throw new CheckFailedError(`IP reservation for ${ip} missing`, `in ${this.store.dir}`);
    }
  }

  async gc(): Promise<void> {
    const valid = (this.ctx.conf.validAttachments ?? []).map((a) => ({
      containerId: a.containerID,
      ifname: a.ifname,
    }));
    await this.store.releaseAllBut(valid);
  }

  async status(): Promise<void> {
    const held = new Set((await this.store.list()).map((r) => r.ip));
    for (const [i, set] of this.config.rangeSets.entries()) {
      const family = rangeFamily(set);
      let free = false;
      for (const v of candidates(set, this.config.exclude)) {
        if (!held.has(ipText(family, v))) {
          free = true;
          break;
        }
      }
      if (!free) throw new PluginNotAvailableError(`no IP addresses available in range set ${i}`);
    }
  }
}

function parseIpText(t: string): string {
  const ip = parseIp(t);
  return ip ? ipText(ip.family, ip.value) : t;
}

function* mapIter<T, U>(it: Iterable<T>, f: (t: T) => U): Generator<U> {
  for (const t of it) yield f(t);
}

class DelegatedIpam implements Ipam {
  constructor(
    private readonly ctx: IpamContext,
    private readonly type: string,
  ) {}

  private async run(command: string): Promise<string> {
    if (this.ctx.env.path.length === 0) {
      // SPEC.md section 4: a delegated plugin is looked up in CNI_PATH, optional for the other verbs.
      throw new InvalidEnvironmentError(
        'CNI_PATH is empty',
        `the IPAM plugin "${this.type}" is found through CNI_PATH; set it, or use ipam.type "${BUILTIN_IPAM}"`,
      );
    }
    const binary = await findPlugin(this.type, this.ctx.env.path);
    if (binary === undefined) {
      throw new InvalidConfigError(
        `failed to find plugin "${this.type}" in path [${this.ctx.env.path.join(' ')}]`,
      );
    }
    const out = await execPlugin(binary, { ...this.ctx.env.raw, CNI_COMMAND: command }, this.ctx.conf.text);
    if (out.stderr !== '') this.ctx.stderr(out.stderr);
    if (out.exitCode !== 0) {
      let e: { code?: number; msg?: string; details?: string } = {};
      try {
        e = JSON.parse(out.stdout) as typeof e;
      } catch {
        e = { msg: out.stdout.trim() || `exit code ${out.exitCode}` };
      }
      throw new DelegateError(this.type, e.code ?? CniCode.Internal, e.msg ?? 'failed', e.details ?? '');
    }
    return out.stdout;
  }

  async add(): Promise<IpamAllocation> {
    const text = await this.run('ADD');
    let r: CniResult;
    try {
      r = JSON.parse(text) as CniResult;
    } catch {
      throw new DelegateError(this.type, CniCode.DecodingFailure, 'unparsable result', text.slice(0, 200));
    }
    return {
      ips: (r.ips ?? []).map((ip) => ({
        address: ip.address,
        ...(ip.gateway ? { gateway: ip.gateway } : {}),
      })),
      routes: r.routes ?? [],
      ...(r.dns ? { dns: r.dns } : {}),
    };
  }

  async del(): Promise<void> {
    await this.run('DEL');
  }

  async check(): Promise<void> {
    await this.run('CHECK');
  }

  async gc(): Promise<void> {
    await this.run('GC');
  }

  async status(): Promise<void> {
    await this.run('STATUS');
  }
}
