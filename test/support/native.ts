/**
 * The native binaries for tests, compiled when missing or older than their C source: a test run right
 * after editing native/*.c exercises the edit without a full `npm run build`. Production code takes the
 * binaries the build made (src/cni/install.ts) and never runs a compiler.
 */
import { execFile } from 'node:child_process';
import { mkdir, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT, SHIM_BINARY, SPAWNER_BINARY } from '../../src/cni/install.js';

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

/** The C shim of the CNI plugin (native/palisade-cni.c). */
export const buildShim = (): Promise<string> =>
  buildNative(join(PACKAGE_ROOT, 'native/palisade-cni.c'), SHIM_BINARY);

/** The CNI server's command starter (native/pal-spawn.c). */
export const buildSpawner = (): Promise<string> =>
  buildNative(join(PACKAGE_ROOT, 'native/pal-spawn.c'), SPAWNER_BINARY);
