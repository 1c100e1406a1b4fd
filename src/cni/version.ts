/**
 * Version negotiation and result conversion, as the reference library does it: the config's cniVersion
 * (default "0.1.0" when absent) must be one the plugin supports; CHECK needs 0.4.0 or later, GC and STATUS
 * 1.1.0; a result is printed in the config's version.
 */
import { DecodingError, IncompatibleVersionError } from './errors.js';
import type { CniCommand, CniIpConfig, CniResult } from './spec.js';

export const CURRENT_VERSION = '1.1.0';
export const SUPPORTED_VERSIONS: readonly string[] = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

/** The lowest config version each verb accepts (the reference's skel). */
const MIN_VERSION: Partial<Record<CniCommand, string>> = { CHECK: '0.4.0', GC: '1.1.0', STATUS: '1.1.0' };

export function parseVersion(v: string): readonly [number, number, number] {
  const parts = v.split('.');
  if (parts.length === 0 || parts.length > 3 || parts.some((p) => !/^\d+$/.test(p))) {
    throw new DecodingError(`invalid version "${v}"`);
  }
  const n = parts.map(Number);
  return [n[0] ?? 0, n[1] ?? 0, n[2] ?? 0];
}

export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a);
  const y = parseVersion(b);
  for (let i = 0; i < 3; i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The version a config asks for; the reference treats a missing cniVersion as "0.1.0". */
export function configVersion(raw: Readonly<Record<string, unknown>>): string {
  const v = raw['cniVersion'];
  if (v === undefined || v === '') return '0.1.0';
  if (typeof v !== 'string') throw new DecodingError('cniVersion must be a string');
  return v;
}

/**
 * The version a VERSION answer carries: SPEC.md "VERSION Success" says "the value of `cniVersion`
 * specified on input" (stdin is `{"cniVersion": …}`). A probe that names no well-formed version gets the
 * current one, as the C shim (native/palisade-cni.c) answers it without a JSON parser.
 */
export function versionAnswer(stdin: string): string {
  let asked: unknown;
  try {
    asked = (JSON.parse(stdin) as { cniVersion?: unknown } | null)?.cniVersion;
  } catch {
    return CURRENT_VERSION;
  }
  return typeof asked === 'string' && /^\d+(\.\d+){0,2}$/.test(asked) ? asked : CURRENT_VERSION;
}

/** Throws the reference's errors (code 1 or 6) when `command` cannot run at `version`. */
export function checkVersion(command: CniCommand, version: string): void {
  parseVersion(version);
  const min = MIN_VERSION[command];
  if (min !== undefined && compareVersions(version, min) < 0) {
    throw new IncompatibleVersionError(`config version does not allow ${command}`);
  }
  if (!SUPPORTED_VERSIONS.includes(version)) {
    throw new IncompatibleVersionError(
      'incompatible CNI versions',
      `config is "${version}", plugin supports [${SUPPORTED_VERSIONS.map((s) => `"${s}"`).join(' ')}]`,
    );
  }
}

function ipFamily(address: string): '4' | '6' {
  return address.includes(':') ? '6' : '4';
}

/**
 * `result` as spec `version` prints it: before 1.0.0 every ip carries `version` and interfaces have no
 * mtu/socketPath/pciID; from 1.0.0 on `version` is gone.
 */
export function convertResult(result: Omit<CniResult, 'cniVersion'>, version: string): CniResult {
  const legacy = compareVersions(version, '1.0.0') < 0;
  const ips = result.ips?.map((ip): CniIpConfig => {
    const { version: given, ...rest } = ip;
    void given; // recomputed from the address for legacy versions, dropped otherwise
    return legacy ? { version: ipFamily(ip.address), ...rest } : rest;
  });
  const interfaces = result.interfaces?.map((i) =>
    legacy
      ? {
          name: i.name,
          ...(i.mac === undefined ? {} : { mac: i.mac }),
          ...(i.sandbox === undefined ? {} : { sandbox: i.sandbox }),
        }
      : i,
  );
  return {
    cniVersion: version,
    ...(interfaces === undefined ? {} : { interfaces }),
    ...(ips === undefined ? {} : { ips }),
    ...(result.routes === undefined ? {} : { routes: result.routes }),
    ...(result.dns === undefined ? {} : { dns: result.dns }),
  };
}

/** The reference's JSON layout (MarshalIndent with four spaces). */
export function printJson(value: unknown): string {
  return JSON.stringify(value, null, 4);
}
