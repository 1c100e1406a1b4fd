/**
 * The CNI_* environment, validated as the reference library's skel does (which variables each verb needs,
 * the container id and interface name rules, the codes), and the stdin config's first checks.
 */
import { DecodingError, InvalidConfigError, InvalidEnvironmentError } from './errors.js';
import type { CniCommand, CniEnv, RequestConfig, ValidAttachment } from './spec.js';
import { CNI_COMMANDS } from './spec.js';

type Need = Partial<Record<CniCommand, true>>;
const ATTACH: Need = { ADD: true, CHECK: true, DEL: true };
/**
 * Which verbs need which variable: SPEC.md section 2, "Required environment parameters" of each
 * operation. CNI_NETNS is optional for DEL; CNI_PATH is required only by GC (it is needed to find a
 * delegated plugin, which ipam/index.ts reports when it is missing).
 */
const REQUIRED: readonly (readonly [string, Need])[] = [
  ['CNI_COMMAND', { ADD: true, CHECK: true, DEL: true, GC: true, STATUS: true }],
  ['CNI_CONTAINERID', ATTACH],
  ['CNI_NETNS', { ADD: true, CHECK: true }],
  ['CNI_IFNAME', ATTACH],
  ['CNI_PATH', { GC: true }],
];

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const MAX_IFNAME = 15;

export function validateContainerId(id: string): void {
  if (!NAME.test(id)) throw new InvalidEnvironmentError('invalid characters in containerID', id);
}

export function validateIfname(name: string): void {
  if (name.length === 0) throw new InvalidEnvironmentError('interface name is empty');
  if (Buffer.byteLength(name) > MAX_IFNAME) {
    throw new InvalidEnvironmentError(
      'interface name is too long',
      `interface name should be less than ${MAX_IFNAME + 1} characters`,
    );
  }
  if (name === '.' || name === '..') throw new InvalidEnvironmentError('interface name is . or ..');
  if (/[/:\s]/.test(name)) {
    throw new InvalidEnvironmentError('interface name contains / or : or whitespace characters');
  }
}

export function validateNetworkName(name: string): void {
  if (!NAME.test(name)) throw new InvalidConfigError('invalid characters found in network name', name);
}

/** CNI_ARGS: `K=V;K2=V2`. A pair without '=' is the reference's decoding error. */
export function parseCniArgs(text: string): [string, string][] {
  if (text === '') return [];
  return text.split(';').map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new InvalidEnvironmentError('invalid CNI_ARGS pair', `"${pair}" in CNI_ARGS`);
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  });
}

/**
 * The environment of one invocation. Throws code 4 naming every missing variable, or the first invalid
 * one, as the reference does. An empty CNI_COMMAND returns undefined: the reference then prints its
 * "about" text and exits 0.
 */
export function parseEnv(vars: Readonly<Record<string, string | undefined>>): CniEnv | undefined {
  const get = (k: string): string => vars[k] ?? '';
  const command = get('CNI_COMMAND');
  if (command === '') return undefined;
  const missing = REQUIRED.filter(([k, need]) => get(k) === '' && need[command as CniCommand]).map(
    ([k]) => k,
  );
  const isAttach = ATTACH[command as CniCommand] === true;
  if (isAttach && get('CNI_CONTAINERID') !== '') validateContainerId(get('CNI_CONTAINERID'));
  if (isAttach && get('CNI_IFNAME') !== '') validateIfname(get('CNI_IFNAME'));
  if (missing.length > 0) {
    throw new InvalidEnvironmentError(`required env variables [${missing.join(',')}] missing`);
  }
  if (!(CNI_COMMANDS as readonly string[]).includes(command)) {
    throw new InvalidEnvironmentError(`unknown CNI_COMMAND: ${command}`);
  }
  const raw: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars)) if (k.startsWith('CNI_') && v !== undefined) raw[k] = v;
  return {
    command: command as CniCommand,
    containerId: get('CNI_CONTAINERID'),
    netns: get('CNI_NETNS'),
    ifname: get('CNI_IFNAME'),
    args: parseCniArgs(get('CNI_ARGS')),
    path: get('CNI_PATH')
      .split(':')
      .filter((p) => p !== ''),
    raw,
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The stdin config: JSON (else code 6) with a valid network `name` (else code 7). */
export function parseRequestConfig(text: string): RequestConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new DecodingError(`error unmarshall network config: ${err instanceof Error ? err.message : ''}`);
  }
  if (!isObject(raw)) throw new DecodingError('error unmarshall network config: not a JSON object');
  const name = raw['name'];
  if (typeof name !== 'string' || name === '') throw new InvalidConfigError('missing network name');
  validateNetworkName(name);
  const type = typeof raw['type'] === 'string' ? raw['type'] : '';
  const cniVersion = typeof raw['cniVersion'] === 'string' ? raw['cniVersion'] : '';
  const prev = raw['prevResult'];
  const rc = raw['runtimeConfig'];
  const args = raw['args'];
  const valid = raw['cni.dev/valid-attachments'];
  if (valid !== undefined && !Array.isArray(valid)) {
    throw new DecodingError('cni.dev/valid-attachments must be a list');
  }
  const attachments = (valid as unknown[] | undefined)?.map((a): ValidAttachment => {
    if (!isObject(a) || typeof a['containerID'] !== 'string' || typeof a['ifname'] !== 'string') {
      throw new DecodingError('each of cni.dev/valid-attachments needs containerID and ifname strings');
    }
    return { containerID: a['containerID'], ifname: a['ifname'] };
  });
  if (prev !== undefined && prev !== null && !isObject(prev)) {
    throw new DecodingError('could not parse prevResult: not an object');
  }
  return {
    cniVersion,
    name,
    type,
    ...(isObject(prev) ? { prevResult: { ...prev, cniVersion } } : {}),
    ...(isObject(rc) ? { runtimeConfig: rc } : {}),
    ...(isObject(args) ? { args } : {}),
    ...(attachments === undefined ? {} : { validAttachments: attachments }),
    raw,
    text,
  };
}
