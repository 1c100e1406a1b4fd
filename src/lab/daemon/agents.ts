/**
 * Enforcement through node agents, the way a cluster does it: the daemon writes the desired objects into
 * the lab's `dir:` datastore (`<lab state>/manifests`), one `palisade agent` per node (inside the node's
 * netns) enforces them, and a change counts as enforced once every agent reports the datastore revision
 * of the write as applied. The agents also host their node's CNI server, so `labUp` attaches pods through
 * the plugin, whose ADD returns only once the agent has the pod's rules in the kernel.
 *
 * The agents only program nftables; `--datapath iptables` keeps the daemon's in-process path (in-process.ts).
 */
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import type { AgentStatus } from '../../agent/agent.js';
import type { Cluster } from '../../ir/endpoint.js';
import { cniStateDir } from '../cni-attach.js';
import type { CniHost, CniHostHandle } from '../cni-host.js';
import type { AgentLifecycle, NodeAgents } from '../node-agents.js';
import { startNodeAgents } from '../node-agents.js';
import { LabBindError, bindCluster } from '../cluster.js';
import { labStateDir } from '../state.js';
import type { EnforcedState, Enforcer } from './enforcer.js';
import { ManifestsDir, renderManifests } from './manifests.js';
import type { AgentNodeStatus, EnforceSummary, NodeChange } from './protocol.js';

/** Starting an agent and its first apply, on a machine shared with other work. */
const READY_TIMEOUT_MS = 60_000;
/**
 * Every agent applying a write; an agent whose apply keeps failing, or that keeps crashing (restarts are
 * waited for), is reported after this.
 */
export const SYNC_TIMEOUT_MS = 60_000;
/** The agents' dir: debounce: the daemon's writes of one change take a few ms. */
const DIR_DEBOUNCE_MS = 10;

export function manifestsPath(id: string): string {
  return join(labStateDir(id), 'manifests');
}

export function agentsStateDir(id: string): string {
  return join(labStateDir(id), 'agents');
}

export class AgentEnforcer implements Enforcer {
  readonly kind = 'agents';
  readonly #id: string;
  readonly #dir: ManifestsDir;
  readonly #log: (line: string) => void;
  /** The lab's cluster at its addresses (labCluster of the plan, which is what labUp reports). */
  readonly #cluster: Cluster;
  /** What the datastore must hold before the first agent starts, so each pod is known before its ADD. */
  readonly #initial: ReadonlyMap<string, string>;
  #prepared: Promise<void> | undefined;
  readonly #groups: NodeAgents[] = [];
  readonly #nodes = new Set<string>();
  readonly #syncTimeoutMs: number;
  readonly #l7Proxy: 'policy' | 'bare';

  /** Throws LabBindError when `initial` names pods or nodes the lab does not have. */
  constructor(
    id: string,
    cluster: Cluster,
    initial: EnforcedState,
    log: (line: string) => void,
    syncTimeoutMs = SYNC_TIMEOUT_MS,
    l7Proxy: 'policy' | 'bare' = 'policy',
  ) {
    this.#id = id;
    this.#syncTimeoutMs = syncTimeoutMs;
    this.#l7Proxy = l7Proxy;
    this.#dir = new ManifestsDir(manifestsPath(id));
    this.#cluster = cluster;
    this.#initial = this.#manifests(initial);
    this.#log = log;
  }

  /** The agents' datastore for `state`: its cluster at the lab's addresses, plus the user's objects. */
  #manifests(state: EnforcedState): Map<string, string> {
    const bound = bindCluster(state.desired.cluster, this.#cluster);
    if (!bound.ok) throw new LabBindError(bound.problems);
    return renderManifests(bound.cluster, state.objects);
  }

  get revision(): number {
    return this.#dir.revision;
  }

  /**
   * The initial manifests, written once. Not before labUp has claimed the lab id, which clears the state
   * dir: hence lazily, from the first CNI host start or from `startMissing`.
   */
  #prepare(): Promise<void> {
    this.#prepared ??= this.#dir.write(this.#initial).then(() => undefined);
    return this.#prepared;
  }

  async #start(nodes: readonly { name: string; netns: string }[], cniDir?: string): Promise<NodeAgents> {
    await this.#prepare();
    for (const n of nodes) this.#nodes.add(n.name);
    const group = await startNodeAgents({
      labId: this.#id,
      nodes,
      datastore: `dir:${this.#dir.path}`,
      stateDir: agentsStateDir(this.#id),
      cni: cniDir !== undefined,
      extraArgs: [
        ...(cniDir === undefined ? [] : ['--cni-state-dir', cniDir]),
        // The daemon writes a change's files back to back and bumps the marker last.
        '--dir-debounce-ms',
        String(DIR_DEBOUNCE_MS),
        '--l7-proxy',
        this.#l7Proxy,
      ],
      // As a kubelet would: an agent that dies is started again, and a change waits for it.
      restart: {},
      onEvent: this.#log,
    });
    this.#groups.push(group);
    try {
      await group.waitReady(READY_TIMEOUT_MS);
    } catch (err) {
      await group.stop();
      throw err;
    }
    this.#log(`agents ready: ${group.agents.map((a) => `${a.node} (pid ${a.pid})`).join(', ')}`);
    return group;
  }

  /** For labUp: the node's agent, started in the node's netns, hosts the node's CNI server. */
  readonly cniHost: CniHost = async (node) => {
    const group = await this.#start([{ name: node.name, netns: node.netns }], cniStateDir(node.stateDir));
    const agent = group.agents[0];
    if (agent?.cniSocket === undefined || agent.agentSocket === undefined)
      throw new Error(`the agent of node ${node.name} serves no CNI socket`);
    const handle: CniHostHandle = {
      socket: agent.cniSocket,
      // ADD registers the pod with the agent and fails rather than attach a pod its agent cannot confirm.
      pluginConfig: { agentSocket: agent.agentSocket, failClosed: true },
      close: () => group.stop(),
    };
    return handle;
  };

  /** Starts an agent on every node that has none yet (nodes without pods get no CNI host from labUp). */
  async startMissing(nodes: readonly { name: string; netns: string }[]): Promise<void> {
    const missing = nodes.filter((n) => !this.#nodes.has(n.name));
    if (missing.length > 0) await this.#start(missing);
    else await this.#prepare();
  }

  /** Writes the last good state back without waiting: the agents converge on it. */
  async restore(state: EnforcedState): Promise<void> {
    await this.#dir.write(this.#manifests(state));
  }

  /** Writes `state` into the datastore and waits until every agent has applied that revision. */
  async enforce(state: EnforcedState): Promise<EnforceSummary> {
    const files = this.#manifests(state);
    const started = performance.now();
    const revision = await this.#dir.write(files);
    await Promise.all(
      this.#groups.map((g) =>
        g.waitSynced === undefined
          ? Promise.reject(new Error('node agents that cannot report their revision'))
          : g.waitSynced(revision, this.#syncTimeoutMs),
      ),
    );
    const ms = Math.round(performance.now() - started);
    const statuses = (await Promise.all(this.#groups.map((g) => g.statuses()))).flat();
    const nodes = statuses
      .map((s): NodeChange => {
        if ('error' in s) return { node: s.node, ms: 0, changed: false, changes: {}, unsupported: [] };
        const change = s.lastChange?.revision === String(revision) ? s.lastChange : undefined;
        return {
          node: s.node,
          ms: change?.ms ?? s.lastSync?.ms ?? 0,
          changed: change !== undefined,
          changes: change?.summary ?? {},
          unsupported: [],
        };
      })
      .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    this.#log(`agents applied revision ${revision} in ${ms}ms`);
    return { datapath: 'nftables', revision, ms, nodes, enforcer: 'agents' };
  }

  async agents(): Promise<AgentNodeStatus[]> {
    const statuses = (await Promise.all(this.#groups.map((g) => g.statuses()))).flat();
    const lives = new Map(this.#groups.flatMap((g) => g.lifecycles().map((l) => [l.node, l] as const)));
    return statuses
      .map((s): AgentNodeStatus => {
        const life = lives.get(s.node);
        const process = life === undefined ? {} : lifecycleFields(life);
        const pid = life?.pid ?? 0;
        if ('error' in s) {
          // Its process is gone (a stale socket refuses): say so rather than "unreachable".
          if (life !== undefined && !life.running)
            return {
              node: s.node,
              pid,
              state: life.restarting ? 'restarting' : 'exited',
              ...process,
            };
          return { node: s.node, pid, state: 'unreachable', error: s.error, ...process };
        }
        return { ...summarize(s, pid), ...process };
      })
      .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  }

  endSupervision(): void {
    for (const g of this.#groups) g.unsupervise();
  }

  /** Stops every agent (the kernel keeps its last state until the lab's netns go). */
  async stop(): Promise<void> {
    await Promise.all(this.#groups.map((g) => g.stop()));
  }
}

function lifecycleFields(
  l: AgentLifecycle,
): Pick<AgentNodeStatus, 'restarts' | 'lastExit' | 'nextRestartAt'> {
  return {
    restarts: l.restarts,
    ...(l.lastExit === undefined ? {} : { lastExit: l.lastExit }),
    ...(l.nextRestartAt === undefined ? {} : { nextRestartAt: l.nextRestartAt }),
  };
}

function summarize(s: AgentStatus, pid: number): AgentNodeStatus {
  return {
    node: s.node,
    pid,
    state: s.state,
    ...(s.appliedRevision === undefined ? {} : { appliedRevision: s.appliedRevision }),
    syncs: s.syncs,
    failures: s.failures,
    ...(s.lastSync?.error === undefined ? {} : { error: s.lastSync.error }),
    ...(s.cni === undefined ? {} : { endpoints: s.cni.endpoints }),
  };
}
