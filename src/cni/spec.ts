/**
 * The CNI data shapes (SPEC.md sections 1, 2 and 5), as plain readonly data. Field names are the spec's
 * JSON names so that a parsed object is the wire object.
 */

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION';
export const CNI_COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'];

/** Everything the runtime passes in the environment (SPEC.md "Parameters"). */
export interface CniEnv {
  readonly command: CniCommand;
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  /** CNI_ARGS parsed into pairs, in order. */
  readonly args: readonly (readonly [string, string])[];
  /** CNI_PATH split on ':'. */
  readonly path: readonly string[];
  /** The raw variables, passed unchanged to delegated plugins (SPEC.md section 4). */
  readonly raw: Readonly<Record<string, string>>;
}

export interface CniInterface {
  readonly name: string;
  readonly mac?: string;
  readonly mtu?: number;
  readonly sandbox?: string;
  readonly socketPath?: string;
  readonly pciID?: string;
}

export interface CniIpConfig {
  readonly address: string;
  readonly gateway?: string;
  readonly interface?: number;
  /** Only in results of spec versions before 1.0.0. */
  readonly version?: '4' | '6';
}

export interface CniRoute {
  readonly dst: string;
  readonly gw?: string;
  readonly mtu?: number;
  readonly advmss?: number;
  readonly priority?: number;
  readonly table?: number;
  readonly scope?: number;
}

export interface CniDns {
  readonly nameservers?: readonly string[];
  readonly domain?: string;
  readonly search?: readonly string[];
  readonly options?: readonly string[];
}

export interface CniResult {
  readonly cniVersion: string;
  readonly interfaces?: readonly CniInterface[];
  readonly ips?: readonly CniIpConfig[];
  readonly routes?: readonly CniRoute[];
  readonly dns?: CniDns;
}

export interface ValidAttachment {
  readonly containerID: string;
  readonly ifname: string;
}

/** The request configuration a plugin reads on stdin; unknown keys are kept in `raw`. */
export interface RequestConfig {
  readonly cniVersion: string;
  readonly name: string;
  readonly type: string;
  readonly prevResult?: CniResult;
  readonly runtimeConfig?: Readonly<Record<string, unknown>>;
  readonly args?: Readonly<Record<string, unknown>>;
  readonly validAttachments?: readonly ValidAttachment[];
  /** The parsed JSON as received: delegated plugins get exactly these bytes' meaning. */
  readonly raw: Readonly<Record<string, unknown>>;
  /** The stdin bytes as received, for delegation. */
  readonly text: string;
}

/** What one plugin invocation produced; the process entry and the server both print it. */
export interface PluginOutput {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}
