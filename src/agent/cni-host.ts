/**
 * The agent as the node's CNI host: it serves the registration protocol (registration.ts) on the agent
 * socket the conflist names, and, with a CNI socket, runs the request server the shim forwards to
 * (src/cni/server.ts) in its own process. ADDs run by that server register over the same agent socket as
 * a plugin run as a separate process would: one code path, at the cost of a local connect.
 *
 * On start it reads back the plugin's endpoint records, so a restarted agent keeps enforcing the IPs of
 * pods attached before it started.
 */
import { DEFAULT_STATE_DIR as DEFAULT_CNI_STATE_DIR } from '../cni/config.js';
import type { CniServer } from '../cni/server.js';
import { startCniServer } from '../cni/server.js';
import type { AgentStatus, AppliedState } from './agent.js';
import { EndpointRegistry } from './endpoints-registry.js';
import type { Logger } from './log.js';
import type { CniHostStatus, RegistrationServer } from './registration.js';
import { DEFAULT_REGISTRATION_WAIT_MS, Registrar, serveRegistration } from './registration.js';

export { DEFAULT_CNI_STATE_DIR };

export interface CniHostOptions {
  readonly node: string;
  /** Where the registration protocol is served: the conflist's `agentSocket`. */
  readonly agentSocket: string;
  /** Where the shim's requests are served; absent: plugins run as their own processes. */
  readonly cniSocket?: string;
  /** The plugin's `stateDir`, whose endpoint records are read at start. */
  readonly cniStateDir: string;
  readonly waitMs?: number;
  readonly log: Logger;
}

/** What the agent needs of it (AgentOptions), and what needs the agent. */
export interface CniHost {
  readonly registered: () => ReadonlyMap<string, readonly string[]>;
  readonly onApplied: (applied: AppliedState) => void;
  readonly status: () => CniHostStatus;
  /** Connects the host to the running agent: syncs on registration, state for `ping`. */
  attach(agent: { requestSync(): void; status(): AgentStatus }): void;
  close(): Promise<void>;
}

export async function startCniHost(opts: CniHostOptions): Promise<CniHost> {
  const registry = new EndpointRegistry();
  const { loaded, skipped } = await registry.load(opts.cniStateDir);
  for (const why of skipped) opts.log('warn', 'endpoint record not registered', { reason: why });
  if (loaded > 0) opts.log('info', 'endpoints read back from the plugin records', { endpoints: loaded });
  let agent: { requestSync(): void; status(): AgentStatus } | undefined;
  const registrar = new Registrar({
    node: opts.node,
    registry,
    waitMs: opts.waitMs ?? DEFAULT_REGISTRATION_WAIT_MS,
    log: opts.log,
    requestSync: () => agent?.requestSync(),
    lastError: () => {
      const last = agent?.status().lastSync;
      return last?.ok === false ? last.error : undefined;
    },
    state: () => agent?.status().state ?? 'starting',
  });
  const registration: RegistrationServer = await serveRegistration(opts.agentSocket, registrar, opts.log);
  let cni: CniServer | undefined;
  try {
    if (opts.cniSocket !== undefined) cni = await startCniServer(opts.cniSocket);
  } catch (e) {
    await registration.close();
    throw e;
  }
  return {
    registered: registrar.registered,
    onApplied: registrar.onApplied,
    status: () => ({
      agentSocket: registration.path,
      ...(cni === undefined ? {} : { cniSocket: cni.socket }),
      endpoints: registry.size,
      pending: registrar.pending,
    }),
    attach(a) {
      agent = a;
    },
    async close() {
      registrar.cancelAll('the agent is stopping');
      await cni?.close();
      await registration.close();
    },
  };
}
