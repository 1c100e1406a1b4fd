/**
 * The registration interface between the plugin and the node's agent: one JSON line each way over a
 * unix stream socket (`agentSocket` in the config).
 *
 * - `endpoint-added` is sent by ADD after the interface works and before ADD returns; the agent answers
 *   `{"ok":true}` only once the endpoint's policy is in the kernel (or it knows none selects it), so a
 *   pod never passes a packet unenforced. `{"ok":false,"reason"}` fails the ADD (code 102).
 * - `endpoint-removed` is sent by DEL and GC, best effort (DEL must succeed when the agent is down).
 * - `ping` is what STATUS and CHECK send.
 * The agent side does not exist yet; test/cni has a fake that speaks this protocol.
 */
import { createConnection } from 'node:net';
import type { EndpointRecord } from './endpoints.js';

export const AGENT_PROTOCOL_VERSION = 1;

export type AgentRequest =
  | { readonly type: 'endpoint-added'; readonly version: 1; readonly endpoint: EndpointRecord }
  | {
      readonly type: 'endpoint-removed';
      readonly version: 1;
      readonly network: string;
      readonly containerId: string;
      readonly ifname: string;
    }
  | { readonly type: 'ping'; readonly version: 1 };

export type AgentReply = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export type AgentOutcome =
  | { readonly kind: 'reply'; readonly reply: AgentReply }
  | { readonly kind: 'unreachable'; readonly error: string };

/** Sends one request; never throws: an agent that cannot be asked is `unreachable` with the reason. */
export function askAgent(socket: string, request: AgentRequest, timeoutMs: number): Promise<AgentOutcome> {
  return new Promise((resolve) => {
    let buf = '';
    let settled = false;
    const done = (o: AgentOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.destroy();
      resolve(o);
    };
    const conn = createConnection({ path: socket });
    const timer = setTimeout(
      () => done({ kind: 'unreachable', error: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(JSON.stringify(request) + '\n'));
    conn.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      try {
        const reply = JSON.parse(buf.slice(0, nl)) as AgentReply;
        done(
          reply.ok === true || reply.ok === false
            ? { kind: 'reply', reply }
            : { kind: 'unreachable', error: 'malformed reply' },
        );
      } catch {
        done({ kind: 'unreachable', error: 'malformed reply' });
      }
    });
    conn.on('error', (e) => done({ kind: 'unreachable', error: e.message }));
    conn.on('close', () => done({ kind: 'unreachable', error: 'connection closed without a reply' }));
  });
}
