/**
 * The plugin as a function: (environment, stdin) → (exit code, stdout, stderr). The process entry
 * (main.ts) and the request server (server.ts) both call it, so the two paths cannot drift apart.
 * The verb table is here; each verb lives in commands/<verb>.ts.
 */
import { add } from './commands/add.js';
import { check } from './commands/check.js';
import type { Verb } from './commands/context.js';
import { del } from './commands/del.js';
import { gc } from './commands/gc.js';
import { status } from './commands/status.js';
import { parseEnv, parseRequestConfig } from './env.js';
import { CniError, asCniError, errorJson } from './errors.js';
import type { Runner } from '../util/process.js';
import { run } from '../util/process.js';
import type { CniCommand, PluginOutput } from './spec.js';
import {
  CURRENT_VERSION,
  SUPPORTED_VERSIONS,
  checkVersion,
  configVersion,
  convertResult,
  printJson,
  versionAnswer,
} from './version.js';

export const PLUGIN_ABOUT = 'CNI plugin palisade v0.1.0';

const VERBS: Readonly<Record<Exclude<CniCommand, 'VERSION'>, Verb>> = {
  ADD: add,
  DEL: del,
  CHECK: check,
  GC: gc,
  STATUS: status,
};

export interface PluginDeps {
  readonly exec?: Runner;
}

/** The version to stamp on an error: the config's when it can be read, else the current one. */
function errorVersion(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' && v !== '' ? v : CURRENT_VERSION;
  } catch {
    return CURRENT_VERSION;
  }
}

export async function runPlugin(
  vars: Readonly<Record<string, string | undefined>>,
  stdin: string,
  deps: PluginDeps = {},
): Promise<PluginOutput> {
  const stderr: string[] = [];
  try {
    const env = parseEnv(vars);
    if (env === undefined) {
      // The reference prints its "about" text and exits 0 when CNI_COMMAND is unset.
      const about = `${PLUGIN_ABOUT}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`;
      return { exitCode: 0, stdout: '', stderr: about };
    }
    if (env.command === 'VERSION') {
      const info = { cniVersion: versionAnswer(stdin), supportedVersions: SUPPORTED_VERSIONS };
      return { exitCode: 0, stdout: JSON.stringify(info) + '\n', stderr: '' };
    }
    const conf = parseRequestConfig(stdin);
    const version = configVersion(conf.raw);
    checkVersion(env.command, version);
    const result = await VERBS[env.command]({
      env,
      conf,
      version,
      exec: deps.exec ?? run,
      stderr: (t) => stderr.push(t),
    });
    const stdout = result === undefined ? '' : printJson(convertResult(result, version));
    return { exitCode: 0, stdout, stderr: stderr.join('') };
  } catch (err) {
    const e = asCniError(err);
    if (!(err instanceof CniError) && err instanceof Error && err.stack) stderr.push(`${err.stack}\n`);
    return { exitCode: 1, stdout: printJson(errorJson(e, errorVersion(stdin))), stderr: stderr.join('') };
  }
}
