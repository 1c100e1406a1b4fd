/**
 * The agent's side of the plugin's registration protocol (src/cni/agent-client.ts): one JSON line in, one
 * JSON line out, on a unix socket. `endpoint-added` is answered `{"ok":true}` only once a sync that saw
 * the registration has put the pod's rules in the kernel, so a pod never passes a packet unenforced; a
 * pod the datastore does not know within `waitMs` is refused with the reason, which fails the ADD.
 *
 * Which sync saw which registration: the agent reads the registry through `registered()` when it
 * reconciles, and calls `onApplied` after that same sync's apply (syncs never overlap), so the registry
 * version read last is the one the kernel now holds.
 */
import { chmod, mkdir, unlink } from 'node:fs/promises';
import type { Server, Socket } from 'node:net';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import type { AgentReply, AgentRequest } from '../cni/agent-client.js';
import { socketInUse } from '../cni/server.js';
import type { PolicyModel } from '../engine/index.js';
import type { AppliedState } from './agent.js';
import type { EndpointRegistry, RegisteredEndpoint } from './endpoints-registry.js';
import { endpointOf } from './endpoints-registry.js';
import type { Logger } from './log.js';
import { errorText } from './sources/source.js';
import { SocketInUseError } from './status-server.js';

/**
 * Default wait for a pod to show up: below the plugin's default agentTimeoutMs (5 s), so that with
 * default settings the plugin hears the agent's reason instead of timing out itself.
 */
export const DEFAULT_REGISTRATION_WAIT_MS = 4000;
const MAX_REQUEST_BYTES = 1024 * 1024;

export interface CniHostStatus {
  readonly agentSocket: string;
  readonly cniSocket?: string;
  /** Attachments registered (from ADD, or read back from the plugin's records at start). */
  readonly endpoints: number;
  /** ADDs waiting for their pod's rules. */
  readonly pending: number;
}

export interface RegistrarOptions {
  readonly node: string;
  readonly registry: EndpointRegistry;
  readonly waitMs: number;
  readonly log: Logger;
  /** Asks the agent for a sync (Agent.requestSync). */
  readonly requestSync: () => void;
  /** Why the last sync failed, if it did: said when a wait ends without the rules in the kernel. */
  readonly lastError: () => string | undefined;
  /** The agent's state, for `ping`. */
  readonly state: () => string;
}

interface Pending {
  readonly endpoint: RegisteredEndpoint;
  /** The registry version that includes this endpoint. */
  readonly version: number;
  readonly resolve: (reply: AgentReply) => void;
}

export type Reply = AgentReply & Readonly<Record<string, unknown>>;

export class Registrar {
  readonly #opts: RegistrarOptions;
  readonly #pending = new Set<Pending>();
  /** Registry version the running (or last) sync reconciled. */
  #reconciled = 0;
  /** Registry version the kernel holds, with the model it was applied from. */
  #applied = -1;
  #model: PolicyModel | undefined;

  constructor(opts: RegistrarOptions) {
    this.#opts = opts;
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** For AgentOptions.registered. */
  readonly registered = (): ReadonlyMap<string, readonly string[]> => {
    this.#reconciled = this.#opts.registry.version;
    return this.#opts.registry.ipsByPod();
  };

  /** For AgentOptions.onApplied (composed with the other hooks). */
  readonly onApplied = (applied: AppliedState): void => {
    this.#applied = this.#reconciled;
    this.#model = applied.model;
    for (const p of [...this.#pending]) {
      const verdict = this.#check(p);
      if (verdict !== undefined) p.resolve(verdict);
    }
  };

  /** Answers one request; never throws. `closed` resolves if the client hangs up first. */
  async handle(request: unknown, closed: Promise<void>): Promise<Reply> {
    const req = request as Partial<AgentRequest> | null;
    if (typeof req !== 'object' || req === null || typeof req.type !== 'string')
      return { ok: false, reason: 'malformed request: expected {"type": …}' };
    switch (req.type) {
      case 'ping':
        return { ok: true, node: this.#opts.node, state: this.#opts.state() };
      case 'endpoint-removed': {
        const r = req as Extract<AgentRequest, { type: 'endpoint-removed' }>;
        if (
          typeof r.network !== 'string' ||
          typeof r.containerId !== 'string' ||
          typeof r.ifname !== 'string'
        )
          return { ok: false, reason: 'endpoint-removed needs network, containerId and ifname' };
        if (this.#opts.registry.remove(r.network, r.containerId, r.ifname)) this.#opts.requestSync();
        return { ok: true };
      }
      case 'endpoint-added': {
        const r = req as Extract<AgentRequest, { type: 'endpoint-added' }>;
        if (typeof r.endpoint !== 'object' || r.endpoint === null || !Array.isArray(r.endpoint.ips))
          return { ok: false, reason: 'endpoint-added needs an endpoint record' };
        const endpoint = endpointOf(r.endpoint);
        if (!endpoint.ok) return { ok: false, reason: endpoint.error.message };
        return this.#added(endpoint.value, closed);
      }
      default:
        return { ok: false, reason: `unknown request type ${JSON.stringify(req.type)}` };
    }
  }

  #added(endpoint: RegisteredEndpoint, closed: Promise<void>): Promise<Reply> {
    const { registry, log } = this.#opts;
    registry.add(endpoint);
    const started = Date.now();
    return new Promise<Reply>((resolve) => {
      let done = false;
      const finish = (reply: AgentReply): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.#pending.delete(pending);
        if (!reply.ok) {
          // The ADD fails and rolls back: its addresses must not stay mapped to the pod.
          if (registry.remove(endpoint.network, endpoint.containerId, endpoint.ifname))
            this.#opts.requestSync();
        }
        log(reply.ok ? 'info' : 'warn', reply.ok ? 'endpoint enforced' : 'endpoint refused', {
          pod: endpoint.pod,
          ips: endpoint.ips,
          containerId: endpoint.containerId,
          ms: Date.now() - started,
          ...(reply.ok ? {} : { reason: reply.reason }),
        });
        resolve(reply);
      };
      const pending: Pending = { endpoint, version: registry.version, resolve: finish };
      const timer = setTimeout(
        () => finish({ ok: false, reason: this.#timeoutReason(endpoint) }),
        this.#opts.waitMs,
      );
      this.#pending.add(pending);
      // A client that gave up (its own timeout) has rolled back or attached without us: forget it.
      void closed.then(() => finish({ ok: false, reason: 'the plugin hung up before the answer' }));
      this.#opts.requestSync();
    });
  }

  /** ok / refusal once the kernel holds a sync that saw `p`; undefined while it must wait. */
  #check(p: Pending): AgentReply | undefined {
    if (this.#applied < p.version || this.#model === undefined) return undefined;
    const e = this.#model.endpointsByKey.get(p.endpoint.pod);
    if (e === undefined || e.node === undefined) return undefined; // the datastore may still be catching up
    if (e.hostNetwork)
      return { ok: false, reason: `pod ${p.endpoint.pod} is a host-network pod in the datastore` };
    if (e.node !== this.#opts.node)
      return {
        ok: false,
        reason: `pod ${p.endpoint.pod} is scheduled on node ${e.node}, not on ${this.#opts.node} (this agent's node)`,
      };
    if (!p.endpoint.ips.every((ip) => e.ips.includes(ip))) return undefined;
    return { ok: true };
  }

  #timeoutReason(endpoint: RegisteredEndpoint): string {
    const waited = `${(this.#opts.waitMs / 1000).toFixed(1)}s`;
    const e = this.#model?.endpointsByKey.get(endpoint.pod);
    if (this.#model !== undefined && e === undefined)
      return `pod ${endpoint.pod} unknown to the agent's datastore (waited ${waited})`;
    if (e !== undefined && e.node === undefined)
      return `pod ${endpoint.pod} has no spec.nodeName in the agent's datastore (waited ${waited})`;
    const why = this.#opts.lastError();
    return (
      `the rules of pod ${endpoint.pod} are not in the kernel after ${waited}` +
      (why === undefined ? ' (the agent has not synced yet)' : `: the last apply failed: ${why}`)
    );
  }

  /** Refuses every waiting ADD (the agent is stopping). */
  cancelAll(reason: string): void {
    for (const p of [...this.#pending]) p.resolve({ ok: false, reason });
  }
}

export interface RegistrationServer {
  readonly path: string;
  close(): Promise<void>;
}

function serveConnection(sock: Socket, registrar: Registrar, log: Logger): void {
  let buf = '';
  let answered = false;
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  sock.setEncoding('utf8');
  sock.on('error', () => undefined); // a client that hangs up early is not our problem
  sock.on('data', (chunk: string) => {
    if (answered) return;
    buf += chunk;
    if (buf.length > MAX_REQUEST_BYTES) {
      answered = true;
      sock.end(`${JSON.stringify({ ok: false, reason: 'request too large' })}\n`);
      return;
    }
    const nl = buf.indexOf('\n');
    if (nl < 0) return;
    answered = true;
    let request: unknown;
    try {
      request = JSON.parse(buf.slice(0, nl));
    } catch {
      sock.end(`${JSON.stringify({ ok: false, reason: 'malformed request: not JSON' })}\n`);
      return;
    }
    registrar.handle(request, closed).then(
      (reply) => {
        if (!sock.destroyed) sock.end(`${JSON.stringify(reply)}\n`);
      },
      (e: unknown) => {
        log('error', 'registration request failed', { error: errorText(e) });
        if (!sock.destroyed) sock.end(`${JSON.stringify({ ok: false, reason: errorText(e) })}\n`);
      },
    );
  });
}

/** Listens on `path` (root-only), replacing a stale socket file but never a live agent's. */
export async function serveRegistration(
  path: string,
  registrar: Registrar,
  log: Logger,
): Promise<RegistrationServer> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  if (await socketInUse(path)) throw new SocketInUseError(path);
  await unlink(path).catch(() => undefined);
  const server: Server = createServer((sock) => serveConnection(sock, registrar, log));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(path, 0o600);
  return {
    path,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await unlink(path).catch(() => undefined);
    },
  };
}
