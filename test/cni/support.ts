/**
 * A private node for CNI tests: a `pal-cni-<random>-n` netns playing the host, pod netns beside it, a temp
 * dir with the CNI bin dir, IPAM data and endpoint state, and optionally the CNI server running inside the
 * node netns for the shim. Plugins that must act in the node netns are installed as wrappers that enter
 * it (`nsenter --net`), keeping the test process and the root netns untouched. `destroy` never throws.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listRecords } from '../../src/cni/endpoints.js';
import { NODE_ENTRY, SERVER_ENTRY } from '../../src/cni/install.js';
import { buildShim } from '../support/native.js';
import type { Attachment, RuntimeOptions } from '../../src/cni/runtime.js';

export const DEBIAN_CNI_DIR = '/usr/lib/cni';

export function privilegedUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (spawnSync('ip', ['netns', 'list']).status !== 0) return '`ip netns` is not available';
  if (spawnSync('nsenter', ['--version']).status !== 0) return 'nsenter is not installed';
  if (spawnSync('cc', ['--version']).status !== 0) return 'no C compiler for the shim';
  return undefined;
}

export function debianPluginsUnavailable(): string | undefined {
  const r = spawnSync(join(DEBIAN_CNI_DIR, 'bridge'), [], { env: { CNI_COMMAND: 'VERSION' } });
  return r.status === 0
    ? undefined
    : "Debian's containernetworking-plugins are not installed (apt-get install containernetworking-plugins)";
}

function sh(argv: string[], input?: string): void {
  const [cmd, ...args] = argv;
  const r = spawnSync(cmd ?? 'false', args, { input: input ?? '', encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
}

export interface CniLab {
  readonly tag: string;
  readonly node: string;
  readonly tmp: string;
  readonly binDir: string;
  readonly stateDir: string;
  readonly ipamDir: string;
  readonly socket: string;
  /** Runtime options: CNI_PATH = our bin dir then Debian's, and the shim's socket. */
  readonly runtime: RuntimeOptions;
  /** Creates `n` pod netns; returns their names. */
  pods(n: number): string[];
  attachment(pod: string, containerId: string, ifname?: string): Attachment;
  destroy(): Promise<void>;
}

export interface CniLabOptions {
  /** Start the CNI server in the node netns (for the `palisade-shim` plugin type). */
  readonly server?: boolean;
}

export async function createCniLab(opts: CniLabOptions = {}): Promise<CniLab> {
  const tag = `pal-cni-${randomBytes(3).toString('hex')}`;
  const node = `${tag}-n`;
  const tmp = await mkdtemp(join(tmpdir(), `${tag}-`));
  const binDir = join(tmp, 'bin');
  const socket = join(tmp, 'cni.sock');
  let server: ChildProcess | undefined;
  let podCount = 0;
  const destroy = async (): Promise<void> => {
    server?.kill('SIGKILL');
    const all = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
    const ours = all
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith(tag));
    if (ours.length > 0)
      spawnSync('ip', ['-force', '-batch', '-'], {
        input: ours.map((n) => `netns del ${n}`).join('\n') + '\n',
      });
    await rm(tmp, { recursive: true, force: true });
  };
  try {
    sh(['ip', 'netns', 'add', node]);
    sh(['ip', '-n', node, 'link', 'set', 'lo', 'up']);
    sh(['mkdir', '-p', binDir]);
    const enter = (binary: string): string => `#!/bin/sh\nexec nsenter --net=/run/netns/${node} ${binary}\n`;
    const wrappers: [string, string][] = [
      ['palisade', enter(`${process.execPath} ${NODE_ENTRY}`)],
      ['bridge', enter(join(DEBIAN_CNI_DIR, 'bridge'))],
      ['host-local', enter(join(DEBIAN_CNI_DIR, 'host-local'))],
    ];
    for (const [name, text] of wrappers) {
      await writeFile(join(binDir, name), text);
      await chmod(join(binDir, name), 0o755);
    }
    // The shim needs no wrapper: the server it talks to already lives in the node netns.
    sh(['ln', '-sf', await buildShim(), join(binDir, 'palisade-shim')]);
    if (opts.server) {
      server = spawn('ip', ['netns', 'exec', node, process.execPath, SERVER_ENTRY, '--socket', socket], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve, reject) => {
        server?.stdout?.once('data', () => resolve());
        server?.once('exit', (code) => reject(new Error(`CNI server exited with ${code}`)));
      });
    }
  } catch (err) {
    await destroy();
    throw err;
  }
  return {
    tag,
    node,
    tmp,
    binDir,
    stateDir: join(tmp, 'state'),
    ipamDir: join(tmp, 'ipam'),
    socket,
    runtime: { binDirs: [binDir, DEBIAN_CNI_DIR], env: { PALISADE_CNI_SOCKET: socket } },
    pods(n) {
      const names = Array.from({ length: n }, () => `${tag}-p${podCount++}`);
      sh(['ip', '-batch', '-'], names.map((p) => `netns add ${p}`).join('\n') + '\n');
      return names;
    },
    attachment: (pod, containerId, ifname = 'eth0') => ({
      containerId,
      netns: `/run/netns/${pod}`,
      ifname,
      // As containerd and CRI-O pass them; IgnoreUnknown keeps the reference plugins from refusing K8S_*.
      args: [
        ['IgnoreUnknown', '1'],
        ['K8S_POD_NAMESPACE', 'x'],
        ['K8S_POD_NAME', containerId],
      ],
    }),
    destroy,
  };
}

/** What a network left on the node: host links named pal*, IP reservation files, endpoint records. */
export async function leftovers(
  lab: CniLab,
  network: string,
): Promise<{ links: string[]; ips: string[]; records: string[] }> {
  const out = spawnSync('ip', ['-n', lab.node, '-o', 'link', 'show'], { encoding: 'utf8' }).stdout ?? '';
  const links = out
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined && n.startsWith('pal'));
  const files = await readdir(join(lab.ipamDir, network)).catch(() => [] as string[]);
  const ips = files.filter((f) => !f.startsWith('last_reserved_ip')).sort();
  const records = (await listRecords(lab.stateDir, network)).map((r) => `${r.containerId}/${r.ifname}`);
  return { links, ips, records };
}

export function routedNetwork(
  lab: CniLab,
  cniVersion: string,
  type: string,
  extra: Record<string, unknown> = {},
) {
  return {
    cniVersion,
    name: 'pal-net',
    plugins: [
      {
        type,
        stateDir: lab.stateDir,
        ipam: { type: 'palisade', ranges: [[{ subnet: '10.98.0.0/16' }]], dataDir: lab.ipamDir },
        ...extra,
      },
    ],
  };
}
