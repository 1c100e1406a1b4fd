/**
 * One `palisade agent` per lab node, each running inside its node's netns (so it needs no --netns and, with
 * `cni`, hosts the node's CNI server where the plugin must act), all reading one datastore.
 *
 * The processes die with the lab: they are exec'd as `pal-agent` with `--lab=<id>` on their command line
 * and recorded in the lab's state dir, which is how labDown (and `lab down --stale`) recognise them, and
 * they live in the node netns, whose processes labDown kills anyway; with setpriv they also get SIGKILL
 * when the process that started them dies.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentStatus } from '../agent/agent.js';
import { parseDatastore } from '../agent/datastore.js';
import { readStatus, socketPathFor } from '../agent/status-server.js';
import { forgetPid, recordPid } from './state.js';

export interface NodeAgentsOptions {
  readonly labId: string;
  readonly nodes: readonly { readonly name: string; readonly netns: string }[];
  /** 'dir:PATH' | 'etcd:URL' */
  readonly datastore: string;
  /** Each agent's state (sockets, log, pid file) goes to `<stateDir>/<node>`. */
  readonly stateDir: string;
  /** Host the node's CNI server (`--cni-socket <stateDir>/<node>/cni.sock`) and the registration socket. */
  readonly cni?: boolean;
  /** Appended to every agent's command line. */
  readonly extraArgs?: readonly string[];
}

export interface NodeAgent {
  readonly node: string;
  readonly pid: number;
  readonly statusSocket: string;
  readonly cniSocket?: string;
  /** With `cni`: where the plugin registers endpoints (the conflist's `agentSocket`). */
  readonly agentSocket?: string;
  /** The agent's stderr (its JSON log lines). */
  readonly log: string;
}

export interface NodeAgents {
  readonly agents: readonly NodeAgent[];
  /** Resolves once every agent has applied its first snapshot; rejects naming the agents that did not. */
  waitReady(timeoutMs: number): Promise<void>;
  /**
   * Resolves when every agent reports a sync whose datastore revision is >= `revision` (dir: the number
   * in the DIR_REVISION_FILE the writer bumps after writing; etcd: the store revision of the write).
   */
  waitSynced?(revision: number | string, timeoutMs: number): Promise<void>;
  /** Each agent's status, or why it could not be read. */
  statuses(): Promise<readonly (AgentStatus | { readonly node: string; readonly error: string })[]>;
  /** SIGTERM, then SIGKILL after a grace period. Idempotent. */
  stop(): Promise<void>;
}

/** Process name (comm) of lab agents: `pal-` so that labDown recognises them. */
export const AGENT_PROCESS_NAME = 'pal-agent';

const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const POLL_MS = 15;
const STOP_GRACE_MS = 3000;

/** dist/src/lab/node-agents.js → dist/src/cli/main.js */
function cliEntry(): string {
  return fileURLToPath(new URL('../cli/main.js', import.meta.url));
}

let setprivWorks: boolean | undefined;
/** `setpriv --pdeathsig` (util-linux): the agents die with their starter even if it is SIGKILLed. */
function deathSignalPrefix(): string[] {
  setprivWorks ??= spawnSync('setpriv', ['--pdeathsig', 'KILL', 'true']).status === 0;
  return setprivWorks ? ['setpriv', '--pdeathsig', 'KILL'] : [];
}

/** Node under the name `pal-agent`: a process's comm is the name it was exec'd by. */
async function namedNode(stateDir: string): Promise<string> {
  const dir = join(stateDir, 'bin');
  await mkdir(dir, { recursive: true });
  const path = join(dir, AGENT_PROCESS_NAME);
  await symlink(process.execPath, path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  return path;
}

export function nodeAgentDir(stateDir: string, node: string): string {
  return join(stateDir, node);
}

/** The pid an earlier run left in `<stateDir>/<node>/agent.pid`, if any. */
export async function recordedAgentPid(stateDir: string, node: string): Promise<number | undefined> {
  const text = await readFile(join(nodeAgentDir(stateDir, node), 'agent.pid'), 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 1 ? pid : undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Running {
  readonly agent: NodeAgent;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
}

function revisionReached(status: AgentStatus, revision: bigint): boolean {
  const applied = status.appliedRevision;
  return applied !== undefined && /^[0-9]+$/.test(applied) && BigInt(applied) >= revision;
}

async function logTail(path: string, lines = 8): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-lines).join('\n');
}

export async function startNodeAgents(opts: NodeAgentsOptions): Promise<NodeAgents> {
  parseDatastore(opts.datastore); // throws DatastoreSpecError naming the value
  for (const n of opts.nodes)
    if (!NODE_NAME.test(n.name)) throw new Error(`node agents: "${n.name}" is not a valid node name`);
  const exe = await namedNode(opts.stateDir);
  const running: Running[] = [];
  let stopping: Promise<void> | undefined;

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const r of running)
        if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
      const all = Promise.all(running.map((r) => r.exited));
      const timer = setTimeout(() => {
        for (const r of running)
          if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
      }, STOP_GRACE_MS);
      await all;
      clearTimeout(timer);
      for (const r of running) {
        await forgetPid(opts.labId, r.agent.pid);
        await rm(join(nodeAgentDir(opts.stateDir, r.agent.node), 'agent.pid'), { force: true });
      }
    })();
    return stopping;
  };

  try {
    for (const n of opts.nodes) {
      const dir = nodeAgentDir(opts.stateDir, n.name);
      await mkdir(dir, { recursive: true });
      const cniSocket = opts.cni === true ? join(dir, 'cni.sock') : undefined;
      const agentSocket = opts.cni === true ? join(dir, 'agent.sock') : undefined;
      const args = [
        ...deathSignalPrefix(),
        'ip',
        'netns',
        'exec',
        n.netns,
        exe,
        cliEntry(),
        'agent',
        '--node',
        n.name,
        '--datastore',
        opts.datastore,
        '--state-dir',
        dir,
        ...(cniSocket === undefined || agentSocket === undefined
          ? []
          : ['--cni-socket', cniSocket, '--agent-socket', agentSocket]),
        `--lab=${opts.labId}`,
        ...(opts.extraArgs ?? []),
      ];
      const log = join(dir, 'agent.log');
      const fd = openSync(log, 'a');
      let child: ChildProcess;
      try {
        // `setpriv` and `ip netns exec` both exec in place: the child's pid is the agent's.
        child = spawn(args[0] as string, args.slice(1), { stdio: ['ignore', fd, fd] });
      } finally {
        closeSync(fd);
      }
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const spawned = await new Promise<Error | undefined>((resolve) => {
        child.once('spawn', () => resolve(undefined));
        child.once('error', resolve);
      });
      if (spawned !== undefined || child.pid === undefined)
        throw new Error(`cannot start the agent of node ${n.name}: ${spawned?.message ?? 'no pid'}`);
      const agent: NodeAgent = {
        node: n.name,
        pid: child.pid,
        statusSocket: socketPathFor(dir, n.name),
        ...(cniSocket === undefined ? {} : { cniSocket }),
        ...(agentSocket === undefined ? {} : { agentSocket }),
        log,
      };
      running.push({ agent, child, exited });
      await recordPid(opts.labId, child.pid, AGENT_PROCESS_NAME);
      await writeFile(join(dir, 'agent.pid'), `${child.pid}\n`);
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const statusOf = async (r: Running): Promise<AgentStatus> =>
    (await readStatus(r.agent.statusSocket, 2000)) as AgentStatus;

  /** Polls until `ok` holds for every agent; an agent that exits fails the wait at once. */
  const waitAll = async (what: string, ok: (s: AgentStatus) => boolean, timeoutMs: number): Promise<void> => {
    const until = Date.now() + timeoutMs;
    const left = new Set(running);
    const last = new Map<Running, string>();
    while (left.size > 0) {
      for (const r of [...left]) {
        if (r.child.exitCode !== null || r.child.signalCode !== null)
          throw new Error(
            `the agent of node ${r.agent.node} exited (${r.child.exitCode ?? r.child.signalCode}) before ${what}:\n${await logTail(r.agent.log)}`,
          );
        try {
          const s = await statusOf(r);
          if (ok(s)) left.delete(r);
          else
            last.set(
              r,
              `state ${s.state}, applied revision ${s.appliedRevision ?? 'none'}` +
                (s.lastSync?.error === undefined ? '' : `, last error: ${s.lastSync.error}`),
            );
        } catch (e) {
          last.set(r, e instanceof Error ? e.message : String(e)); // not listening yet
        }
      }
      if (left.size === 0) return;
      if (Date.now() >= until)
        throw new Error(
          `node agents not ${what} within ${timeoutMs}ms: ` +
            [...left].map((r) => `${r.agent.node} (${last.get(r) ?? 'no status'})`).join('; '),
        );
      await sleep(POLL_MS);
    }
  };

  return {
    agents: running.map((r) => r.agent),
    waitReady: (timeoutMs) => waitAll('ready', (s) => s.state === 'ready', timeoutMs),
    waitSynced: (revision, timeoutMs) => {
      const want = BigInt(revision);
      return waitAll(`synced to revision ${String(revision)}`, (s) => revisionReached(s, want), timeoutMs);
    },
    statuses: () =>
      Promise.all(
        running.map(async (r) => {
          try {
            return await statusOf(r);
          } catch (e) {
            return { node: r.agent.node, error: e instanceof Error ? e.message : String(e) };
          }
        }),
      ),
    stop,
  };
}
