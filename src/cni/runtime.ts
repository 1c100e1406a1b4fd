/**
 * The runtime side of CNI (SPEC.md section 3), for the lab and the tests: run a network configuration
 * list's plugins as a container runtime does, deriving each request config (cniVersion and name from the
 * list, prevResult from the previous plugin, runtimeConfig from capabilities), ADD in order, DEL in
 * reverse order with the final ADD result, CHECK in order, GC on every plugin collecting every error.
 */
import { execPlugin, findPlugin } from './exec.js';
import type { CniResult, PluginOutput, ValidAttachment } from './spec.js';

export interface NetworkList {
  readonly cniVersion: string;
  readonly name: string;
  readonly plugins: readonly Readonly<Record<string, unknown>>[];
  readonly disableCheck?: boolean;
  readonly disableGC?: boolean;
}

export interface Attachment {
  readonly containerId: string;
  /** Path of the container's netns (e.g. /run/netns/NAME). */
  readonly netns: string;
  readonly ifname: string;
  /** CNI_ARGS pairs, e.g. K8S_POD_NAMESPACE / K8S_POD_NAME. */
  readonly args?: readonly (readonly [string, string])[];
  /** Capability arguments; each plugin gets the ones its `capabilities` declares. */
  readonly capabilityArgs?: Readonly<Record<string, unknown>>;
}

export interface RuntimeOptions {
  /** CNI_PATH: where plugin executables are found. */
  readonly binDirs: readonly string[];
  /** Extra environment for the plugins (runtimes pass their own environment through). */
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

/** A plugin's error result, with which plugin said it. */
export class PluginFailure extends Error {
  override readonly name = 'PluginFailure';
  constructor(
    readonly plugin: string,
    readonly command: string,
    readonly exitCode: number,
    readonly code: number | undefined,
    readonly msg: string,
    readonly details: string,
    readonly stderr: string,
  ) {
    super(`${plugin} ${command} failed (code ${code ?? '?'}): ${msg}${details ? `; ${details}` : ''}`);
  }
}

function requestConfig(
  list: NetworkList,
  plugin: Readonly<Record<string, unknown>>,
  extra: Readonly<Record<string, unknown>>,
  capabilityArgs?: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const { capabilities, ...rest } = plugin as Record<string, unknown> & {
    capabilities?: Record<string, boolean>;
  };
  const runtimeConfig: Record<string, unknown> = {};
  for (const [k, on] of Object.entries(capabilities ?? {})) {
    if (on && capabilityArgs?.[k] !== undefined) runtimeConfig[k] = capabilityArgs[k];
  }
  return {
    ...rest,
    cniVersion: list.cniVersion,
    name: list.name,
    ...(Object.keys(runtimeConfig).length > 0 ? { runtimeConfig } : {}),
    ...extra,
  };
}

function envFor(command: string, att: Attachment | undefined, opts: RuntimeOptions): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    ...opts.env,
    CNI_COMMAND: command,
    CNI_PATH: opts.binDirs.join(':'),
  };
  if (att) {
    env['CNI_CONTAINERID'] = att.containerId;
    env['CNI_NETNS'] = att.netns;
    env['CNI_IFNAME'] = att.ifname;
    if (att.args && att.args.length > 0) env['CNI_ARGS'] = att.args.map(([k, v]) => `${k}=${v}`).join(';');
  }
  return env;
}

/** Runs one plugin; resolves with its raw output whatever the exit code. */
export async function invokePlugin(
  type: string,
  command: string,
  config: Readonly<Record<string, unknown>>,
  att: Attachment | undefined,
  opts: RuntimeOptions,
): Promise<PluginOutput> {
  const binary = await findPlugin(type, opts.binDirs);
  if (binary === undefined)
    throw new Error(`failed to find plugin "${type}" in path [${opts.binDirs.join(' ')}]`);
  return execPlugin(binary, envFor(command, att, opts), JSON.stringify(config), {
    ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
  });
}

function failure(type: string, command: string, out: PluginOutput): PluginFailure {
  let e: { code?: number; msg?: string; details?: string } = {};
  try {
    e = JSON.parse(out.stdout) as typeof e;
  } catch {
    e = { msg: out.stdout.trim() || `exit code ${out.exitCode}` };
  }
  return new PluginFailure(type, command, out.exitCode, e.code, e.msg ?? '', e.details ?? '', out.stderr);
}

async function step(
  list: NetworkList,
  plugin: Readonly<Record<string, unknown>>,
  command: string,
  extra: Readonly<Record<string, unknown>>,
  att: Attachment | undefined,
  opts: RuntimeOptions,
): Promise<string> {
  const type = String(plugin['type']);
  const out = await invokePlugin(
    type,
    command,
    requestConfig(list, plugin, extra, att?.capabilityArgs),
    att,
    opts,
  );
  if (out.exitCode !== 0) throw failure(type, command, out);
  return out.stdout;
}

/** ADD every plugin in order; returns the final result (which the runtime must keep for CHECK and DEL). */
export async function addNetworkList(
  list: NetworkList,
  att: Attachment,
  opts: RuntimeOptions,
): Promise<CniResult> {
  let prev: CniResult | undefined;
  for (const plugin of list.plugins) {
    const out = await step(list, plugin, 'ADD', prev ? { prevResult: prev } : {}, att, opts);
    prev = JSON.parse(out) as CniResult;
  }
  if (!prev) throw new Error(`network ${list.name} has no plugins`);
  return prev;
}

/** DEL every plugin in reverse order, each given the final ADD result (when there was one). */
export async function delNetworkList(
  list: NetworkList,
  att: Attachment,
  prevResult: CniResult | undefined,
  opts: RuntimeOptions,
): Promise<void> {
  for (const plugin of [...list.plugins].reverse()) {
    await step(list, plugin, 'DEL', prevResult ? { prevResult } : {}, att, opts);
  }
}

export async function checkNetworkList(
  list: NetworkList,
  att: Attachment,
  prevResult: CniResult,
  opts: RuntimeOptions,
): Promise<void> {
  if (list.disableCheck) return;
  for (const plugin of list.plugins) await step(list, plugin, 'CHECK', { prevResult }, att, opts);
}

/** GC every plugin; every failure is collected and the first rethrown with the count. */
export async function gcNetworkList(
  list: NetworkList,
  valid: readonly ValidAttachment[],
  opts: RuntimeOptions,
): Promise<void> {
  if (list.disableGC) return;
  const errors: unknown[] = [];
  for (const plugin of list.plugins) {
    await step(list, plugin, 'GC', { 'cni.dev/valid-attachments': valid }, undefined, opts).catch(
      (e: unknown) => errors.push(e),
    );
  }
  if (errors.length > 0) throw errors[0];
}
