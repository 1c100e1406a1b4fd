/**
 * Who answers the CNI plugin on a lab node. The plugin executable the runtime starts is the C shim
 * (native/palisade-cni.c); it hands each request to a CNI server over a unix socket, and that server
 * does the work in its own netns, the plugin's "host". On a real node the agent hosts the server; the
 * lab takes any `CniHost`, and by default starts a bare server process inside each node's netns.
 */
import { spawn } from 'node:child_process';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { awaitReadyLine } from '../util/ready-child.js';
import { fileURLToPath } from 'node:url';
import { forgetPid, labStateDir, recordPid } from './state.js';

export interface CniHostNode {
  readonly labId: string;
  /** The node's name in the cluster. */
  readonly name: string;
  /** The node's netns name (under /run/netns): where the server must run. */
  readonly netns: string;
  /** A directory of the lab's state for this node (created by the lab; goes with the lab). */
  readonly stateDir: string;
}

export interface CniHostHandle {
  /** The server's socket: the shim gets it as PALISADE_CNI_SOCKET. */
  readonly socket: string;
  /** Fields added to the node's plugin configuration (e.g. `agentSocket`); `ipam` fields are merged. */
  readonly pluginConfig?: Readonly<Record<string, unknown>>;
  /** Stops the server; the lab calls it after every pod of the node was deleted. */
  close(): Promise<void>;
}

export type CniHost = (node: CniHostNode) => Promise<CniHostHandle>;

/** Process name (comm) of the default host, `pal-` so that labDown recognises it as a lab process. */
export const CNI_SERVER_NAME = 'pal-cni-server';

const READY_TIMEOUT_MS = 30_000;

/** dist/src/lab/cni-host.js -> dist/src/lab/cni-host-main.js */
function serverEntry(): string {
  return fileURLToPath(new URL('./cni-host-main.js', import.meta.url));
}

/**
 * Node itself under the name `name` (`pal-…`): a process's comm is the name it was exec'd by, and
 * rewriting process.title would also wipe the `--lab=<id>` argument from /proc/PID/cmdline.
 */
export async function namedNode(labId: string, name: string): Promise<string> {
  const dir = join(labStateDir(labId), 'bin');
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  await symlink(process.execPath, path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  return path;
}

/** The default CniHost: `pal-cni-server` (cni-host-main.ts) run inside the node's netns. */
export const serverProcessHost: CniHost = async (node) => {
  await mkdir(node.stateDir, { recursive: true });
  const socket = join(node.stateDir, 'cni.sock');
  // `ip netns exec` execs in place (no fork): the child's pid is the server's.
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      node.netns,
      await namedNode(node.labId, CNI_SERVER_NAME),
      serverEntry(),
      '--socket',
      socket,
      `--lab=${node.labId}`,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const { exited } = await awaitReadyLine(child, {
    name: `CNI server of node ${node.name} (${node.netns})`,
    ready: (line) => line.startsWith('listening '),
    expected: 'listening',
    timeoutMs: READY_TIMEOUT_MS,
  });
  const pid = child.pid ?? -1;
  // Recorded once it runs as `pal-cni-server`: labDown ignores a recorded pid under another name.
  if (pid > 0) await recordPid(node.labId, pid, CNI_SERVER_NAME);
  let closing: Promise<void> | undefined;
  return {
    socket,
    close() {
      closing ??= (async () => {
        child.stdin.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
        await exited;
        clearTimeout(timer);
        if (pid > 0) await forgetPid(node.labId, pid);
      })();
      return closing;
    },
  };
};
