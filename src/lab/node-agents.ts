/**
 * One `palisade agent` per lab node, each running inside its node's netns (so it needs no --netns and, with
 * `cni`, hosts the node's CNI server where the plugin must act), all reading one datastore.
 *
 * The processes die with the lab: they are exec'd as `pal-agent` with `--lab=<id>` on their command line
 * and recorded in the lab's state dir, which is how labDown (and `lab down --stale`) recognise them, and
 * they live in the node netns, whose processes labDown kills anyway; with setpriv they also get SIGKILL
 * when the process that started them dies.
 *
 * With `restart`, an agent that exits without being asked to is started again after a back-off, as a
 * kubelet restarts a container (util/backoff.ts RestartBackoff), and a revision wait holds on for it; the
 * kernel keeps enforcing the table the dead agent left meanwhile. Without it, an exit fails the next wait.
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
import { RestartBackoff } from '../util/backoff.js';
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
  /** Restart an agent that exits by itself, with this back-off (default: no restart). */
  readonly restart?: RestartBackoffOptions;
  /** Told of exits and restarts, one line each (the lab daemon's log). */
  readonly onEvent?: (line: string) => void;
}

export interface RestartBackoffOptions {
  /** Longest wait between restarts of a crash-looping agent; default RESTART_BACKOFF_CAP_MS. */
  readonly capMs?: number;
}

/** The longest wait between restarts of a crash-looping agent. */
export const RESTART_BACKOFF_CAP_MS = 10_000;

/**
 * As a kubelet restarts a container: the first restart within 200 ms, each quick death doubling the wait
 * up to the cap, and an agent that ran more than twice the cap before dying starts over.
 */
export function agentRestartBackoff(capMs = RESTART_BACKOFF_CAP_MS): RestartBackoff {
  return new RestartBackoff({ baseMs: 100, maxMs: capMs, healthyMs: 2 * capMs });
}

/** How an agent process ended. */
export interface AgentExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** ISO time. */
  readonly at: string;
}

/** An agent's process, as its supervisor sees it (for `lab status`). */
export interface AgentLifecycle {
  readonly node: string;
  /** The running process; 0 while there is none. */
  readonly pid: number;
  readonly running: boolean;
  /** Down, and to be started again (a restart is due or under way). */
  readonly restarting: boolean;
  /** How many times the agent was started again after it exited. */
  readonly restarts: number;
  readonly lastExit?: AgentExit;
  /** While it is down and a restart is due: when (ISO time). */
  readonly nextRestartAt?: string;
}

export interface NodeAgent {
  readonly node: string;
  /** The current process (a restart changes it); 0 while there is none. */
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
  /** Each agent's process: pid, restarts, last exit. */
  lifecycles(): readonly AgentLifecycle[];
  /** From now on an agent that exits stays down (its lab is going down); stop() still ends them. */
  unsupervise(): void;
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

function revisionReached(status: AgentStatus, revision: bigint): boolean {
  const applied = status.appliedRevision;
  return applied !== undefined && /^[0-9]+$/.test(applied) && BigInt(applied) >= revision;
}

async function logTail(path: string, lines = 8): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-lines).join('\n');
}

const exitText = (e: AgentExit): string => e.signal ?? `code ${String(e.code)}`;

interface AgentSpec {
  readonly labId: string;
  readonly node: string;
  readonly dir: string;
  /** The command line: argv[0] and its arguments. */
  readonly argv: readonly string[];
  readonly statusSocket: string;
  readonly cniSocket?: string;
  readonly agentSocket?: string;
  readonly log: string;
  readonly backoff?: RestartBackoff;
  readonly onEvent: (line: string) => void;
}

/** One node's agent process, started again after an exit when it has a back-off. */
class AgentProcess implements NodeAgent {
  readonly node: string;
  readonly statusSocket: string;
  readonly cniSocket?: string;
  readonly agentSocket?: string;
  readonly log: string;
  readonly #spec: AgentSpec;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #restarts = 0;
  /** When the current (or last) process started, for how long it ran before an exit. */
  #startedMs = 0;
  #lastExit: AgentExit | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #nextRestartMs: number | undefined;
  /** A restart under way (spawning), which stop() must wait for. */
  #restarting: Promise<void> = Promise.resolve();
  /** Restarts follow exits: it has a back-off, and neither stop() nor unsupervise() came. */
  #supervised: boolean;
  #stopping = false;

  constructor(spec: AgentSpec) {
    this.#spec = spec;
    this.node = spec.node;
    this.statusSocket = spec.statusSocket;
    if (spec.cniSocket !== undefined) this.cniSocket = spec.cniSocket;
    if (spec.agentSocket !== undefined) this.agentSocket = spec.agentSocket;
    this.log = spec.log;
    this.#supervised = spec.backoff !== undefined;
  }

  get running(): boolean {
    const c = this.#child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  get pid(): number {
    return this.running ? (this.#child?.pid ?? 0) : 0;
  }

  /** Whether a wait should hold on for a restart rather than fail. */
  get willRestart(): boolean {
    return this.#supervised;
  }

  /** No restart from now on (a restart already spawning completes; stop() ends it). Idempotent. */
  unsupervise(): void {
    this.#supervised = false;
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    this.#nextRestartMs = undefined;
  }

  get lastExit(): AgentExit | undefined {
    return this.#lastExit;
  }

  lifecycle(): AgentLifecycle {
    return {
      node: this.node,
      pid: this.pid,
      running: this.running,
      restarting: !this.running && this.#supervised,
      restarts: this.#restarts,
      ...(this.#lastExit === undefined ? {} : { lastExit: this.#lastExit }),
      ...(this.#nextRestartMs === undefined
        ? {}
        : { nextRestartAt: new Date(this.#nextRestartMs).toISOString() }),
    };
  }

  /** Starts the process; throws when it cannot be spawned at all. */
  async start(): Promise<void> {
    const { argv, dir, labId } = this.#spec;
    const fd = openSync(this.log, 'a');
    let child: ChildProcess;
    try {
      // `setpriv` and `ip netns exec` both exec in place: the child's pid is the agent's.
      child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', resolve);
    });
    const pid = child.pid;
    if (spawned !== undefined || pid === undefined)
      throw new Error(`cannot start the agent of node ${this.node}: ${spawned?.message ?? 'no pid'}`);
    // 'exit' cannot come before 'spawn', so attaching it here misses nothing.
    this.#child = child;
    this.#startedMs = Date.now();
    this.#exited = new Promise<void>((resolve) =>
      child.once('exit', (code, signal) => {
        this.#onExit(pid, code, signal);
        resolve();
      }),
    );
    await recordPid(labId, pid, AGENT_PROCESS_NAME);
    await writeFile(join(dir, 'agent.pid'), `${pid}\n`);
  }

  #onExit(pid: number, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#stopping) return; // stop() forgets the pid itself
    const exit: AgentExit = { code, signal, at: new Date().toISOString() };
    this.#lastExit = exit;
    void forgetPid(this.#spec.labId, pid).catch(() => undefined);
    if (this.#supervised)
      this.#scheduleRestart(`agent of node ${this.node} (pid ${pid}) exited (${exitText(exit)})`);
  }

  #scheduleRestart(why: string): void {
    const backoff = this.#spec.backoff;
    // Already due (an exit and a failed start can both report one death).
    if (backoff === undefined || this.#restartTimer !== undefined) return;
    const now = Date.now();
    const wait = backoff.next(now - this.#startedMs);
    this.#nextRestartMs = now + wait;
    this.#spec.onEvent(`${why}; restarting in ${wait}ms`);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.#restarting = this.#restart();
    }, wait);
  }

  async #restart(): Promise<void> {
    this.#nextRestartMs = undefined;
    if (!this.#supervised) return;
    try {
      await this.start();
    } catch (err) {
      const why = `agent of node ${this.node}: ${err instanceof Error ? err.message : String(err)}`;
      // Spawned, only its pid not recorded: it runs, and its exit will schedule the next restart.
      if (!this.running) {
        if (this.#supervised) this.#scheduleRestart(why);
        return;
      }
      this.#spec.onEvent(why);
    }
    this.#restarts++;
    this.#spec.onEvent(`agent of node ${this.node} restarted (pid ${this.pid}, restart ${this.#restarts})`);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; no restart follows. Idempotent. */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    this.unsupervise();
    await this.#restarting;
    const child = this.#child;
    if (child === undefined) return;
    if (this.running) child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (this.running) child.kill('SIGKILL');
    }, graceMs);
    await this.#exited;
    clearTimeout(timer);
    if (child.pid !== undefined) await forgetPid(this.#spec.labId, child.pid);
    await rm(join(this.#spec.dir, 'agent.pid'), { force: true });
  }
}

export async function startNodeAgents(opts: NodeAgentsOptions): Promise<NodeAgents> {
  parseDatastore(opts.datastore); // throws DatastoreSpecError naming the value
  for (const n of opts.nodes)
    if (!NODE_NAME.test(n.name)) throw new Error(`node agents: "${n.name}" is not a valid node name`);
  const exe = await namedNode(opts.stateDir);
  const running: AgentProcess[] = [];
  let stopping: Promise<void> | undefined;

  const stop = (): Promise<void> => {
    stopping ??= Promise.all(running.map((r) => r.stop(STOP_GRACE_MS))).then(() => undefined);
    return stopping;
  };

  try {
    for (const n of opts.nodes) {
      const dir = nodeAgentDir(opts.stateDir, n.name);
      await mkdir(dir, { recursive: true });
      const cniSocket = opts.cni === true ? join(dir, 'cni.sock') : undefined;
      const agentSocket = opts.cni === true ? join(dir, 'agent.sock') : undefined;
      const argv = [
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
      const agent = new AgentProcess({
        labId: opts.labId,
        node: n.name,
        dir,
        argv,
        statusSocket: socketPathFor(dir, n.name),
        ...(cniSocket === undefined ? {} : { cniSocket }),
        ...(agentSocket === undefined ? {} : { agentSocket }),
        log: join(dir, 'agent.log'),
        ...(opts.restart === undefined ? {} : { backoff: agentRestartBackoff(opts.restart.capMs) }),
        onEvent: opts.onEvent ?? (() => undefined),
      });
      running.push(agent);
      await agent.start();
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const statusOf = async (r: AgentProcess): Promise<AgentStatus> =>
    (await readStatus(r.statusSocket, 2000)) as AgentStatus;

  /**
   * Polls until `ok` holds for every agent. An agent that exits fails the wait at once, unless it is to be
   * restarted and `restarts` is 'wait': then the wait holds on for it (bounded by `timeoutMs`).
   */
  const waitAll = async (
    what: string,
    ok: (s: AgentStatus) => boolean,
    timeoutMs: number,
    restarts: 'fail' | 'wait',
  ): Promise<void> => {
    const until = Date.now() + timeoutMs;
    const left = new Set(running);
    const last = new Map<AgentProcess, string>();
    while (left.size > 0) {
      for (const r of [...left]) {
        const exit = r.lastExit;
        if (!r.running && exit !== undefined) {
          if (restarts === 'fail' || !r.willRestart)
            throw new Error(
              `the agent of node ${r.node} exited (${exitText(exit)}) before ${what}:\n${await logTail(r.log)}`,
            );
          const next = r.lifecycle().nextRestartAt;
          last.set(r, next === undefined ? 'down, restarting' : `down, restart due at ${next}`);
          continue;
        }
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
      if (Date.now() >= until) {
        const tails = await Promise.all(
          [...left]
            .filter((r) => r.lastExit !== undefined)
            .map(async (r) => `\n${r.node}'s log:\n${await logTail(r.log)}`),
        );
        // An agent in a crash loop may be between a start and its next exit: its exits say why.
        const history = (r: AgentProcess): string => {
          const { lastExit, restarts: n } = r.lifecycle();
          return lastExit === undefined
            ? ''
            : `; last exit ${exitText(lastExit)} at ${lastExit.at}, ${n} restart(s)`;
        };
        throw new Error(
          `node agents not ${what} within ${timeoutMs}ms: ` +
            [...left].map((r) => `${r.node} (${last.get(r) ?? 'no status'}${history(r)})`).join('; ') +
            tails.join(''),
        );
      }
      await sleep(POLL_MS);
    }
  };

  return {
    agents: running,
    waitReady: (timeoutMs) => waitAll('ready', (s) => s.state === 'ready', timeoutMs, 'fail'),
    waitSynced: (revision, timeoutMs) => {
      const want = BigInt(revision);
      return waitAll(
        `synced to revision ${String(revision)}`,
        (s) => revisionReached(s, want),
        timeoutMs,
        'wait',
      );
    },
    statuses: () =>
      Promise.all(
        running.map(async (r) => {
          try {
            return await statusOf(r);
          } catch (e) {
            return { node: r.node, error: e instanceof Error ? e.message : String(e) };
          }
        }),
      ),
    lifecycles: () => running.map((r) => r.lifecycle()),
    unsupervise: () => {
      for (const r of running) r.unsupervise();
    },
    stop,
  };
}
