/**
 * Putting the plugin into a CNI bin directory, for the lab, the tests and the benchmark. Two variants:
 * `node` links `<dir>/palisade` to the Node entry (self-contained, pays Node's start-up per call);
 * `shim` installs the C shim (needs a CNI server on its socket; see server.ts). The shim is compiled
 * from native/palisade-cni.c on first use when the build has not made it (`npm run build:cni`).
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, rename, stat, symlink, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export type PluginVariant = 'node' | 'shim';

/** The repository root: this file is dist/src/cni/install.js. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const NODE_ENTRY = join(PACKAGE_ROOT, 'dist/src/cni/main.js');
export const SERVER_ENTRY = join(PACKAGE_ROOT, 'dist/src/cni/server-main.js');
export const SHIM_SOURCE = join(PACKAGE_ROOT, 'native/palisade-cni.c');
export const SHIM_BINARY = join(PACKAGE_ROOT, 'dist/native/palisade-cni');
/** The CNI server's command starter (kernel/spawner.ts). */
export const SPAWNER_SOURCE = join(PACKAGE_ROOT, 'native/pal-spawn.c');
export const SPAWNER_BINARY = join(PACKAGE_ROOT, 'dist/native/pal-spawn');

const mtime = async (p: string): Promise<number | undefined> =>
  (await stat(p).catch(() => undefined))?.mtimeMs;

/** Compiles `source` into `binary` when it is missing or older than its source; returns its path. */
async function buildNative(source: string, binary: string): Promise<string> {
  const src = await mtime(source);
  const bin = await mtime(binary);
  if (bin === undefined || (src !== undefined && src > bin)) {
    await mkdir(dirname(binary), { recursive: true });
    const tmp = `${binary}.${process.pid}.tmp`;
    await promisify(execFile)('cc', ['-O2', '-Wall', '-Werror', '-D_GNU_SOURCE', '-o', tmp, source]);
    await rename(tmp, binary);
  }
  return binary;
}

export const buildShim = (): Promise<string> => buildNative(SHIM_SOURCE, SHIM_BINARY);
export const buildSpawner = (): Promise<string> => buildNative(SPAWNER_SOURCE, SPAWNER_BINARY);

/** Installs the plugin as `<binDir>/<type>` (default `palisade`); returns the installed path. */
export async function installPlugin(
  binDir: string,
  variant: PluginVariant,
  type = 'palisade',
): Promise<string> {
  await mkdir(binDir, { recursive: true });
  const target = variant === 'shim' ? await buildShim() : NODE_ENTRY;
  // tsc does not set the execute bit; the shebang in main.ts does the rest.
  if (variant === 'node') await chmod(NODE_ENTRY, 0o755);
  const dest = join(binDir, type);
  await unlink(dest).catch(() => undefined);
  await symlink(target, dest);
  return dest;
}
