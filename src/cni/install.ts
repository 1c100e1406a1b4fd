/**
 * Putting the plugin into a CNI bin directory, for the lab and the benchmark. Two variants: `node` links
 * `<dir>/palisade` to the Node entry (self-contained, pays Node's start-up per call); `shim` installs the
 * C shim (needs a CNI server on its socket; see server.ts). The native binaries come from the build
 * (`npm run build`); a missing one is an error that says so, never a compiler run at install time.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, symlink, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type PluginVariant = 'node' | 'shim';

/** The repository root: this file is dist/src/cni/install.js. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const NODE_ENTRY = join(PACKAGE_ROOT, 'dist/src/cni/main.js');
export const SERVER_ENTRY = join(PACKAGE_ROOT, 'dist/src/cni/server-main.js');
export const SHIM_BINARY = join(PACKAGE_ROOT, 'dist/native/palisade-cni');
/** The CNI server's command starter (kernel/spawner.ts). */
export const SPAWNER_BINARY = join(PACKAGE_ROOT, 'dist/native/pal-spawn');

/** `binary` as the build made it; throws, naming the fix, when it is missing. */
export function builtBinary(binary: string): string {
  if (!existsSync(binary)) throw new Error(`${binary} is missing: build it with \`npm run build\``);
  return binary;
}

/** Installs the plugin as `<binDir>/<type>` (default `palisade`); returns the installed path. */
export async function installPlugin(
  binDir: string,
  variant: PluginVariant,
  type = 'palisade',
): Promise<string> {
  await mkdir(binDir, { recursive: true });
  const target = variant === 'shim' ? builtBinary(SHIM_BINARY) : NODE_ENTRY;
  // tsc does not set the execute bit; the shebang in main.ts does the rest.
  if (variant === 'node') await chmod(NODE_ENTRY, 0o755);
  const dest = join(binDir, type);
  await unlink(dest).catch(() => undefined);
  await symlink(target, dest);
  return dest;
}
