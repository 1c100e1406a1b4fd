/**
 * The agent's L7 side: after each reconcile, before the datapath applies (so the proxy knows every table
 * before the kernel steers a packet to it), the node's maps are compiled from the model and the steered
 * ports of the node's rules, and the proxy is started (on the first steered port) or updated. The proxy's
 * log lines come back as attributed requests.
 */
import { spawnSync } from 'node:child_process';
import type { NodeRules } from '../datapath/index.js';
import { L7_PROXY_PORT } from '../datapath/index.js';
import type { PolicyModel } from '../engine/index.js';
import type { L7LogLine } from './log-line.js';
import { parseL7LogLine } from './log-line.js';
import type { InexactFlow, OutcomeInfo, SteeredEndpoint } from './node-l7.js';
import { NO_SAY, compileNodeL7 } from './node-l7.js';
import type { ProxyEvent, ProxyStatus } from './proxy.js';
import { L7Proxy } from './proxy.js';

export interface L7Request {
  readonly line: L7LogLine;
  /** Who decided: the layer that denied, else the ingress layer, else the egress layer. */
  readonly outcome: string;
  readonly info: OutcomeInfo | undefined;
  /** The model the request was decided under (the last one given to the proxy). */
  readonly model: PolicyModel | undefined;
}

export interface L7ControllerOptions {
  /** The proxy's directory: configuration, maps, sockets. */
  readonly dir: string;
  readonly port?: number;
  readonly mode?: 'policy' | 'bare';
  readonly binary?: string;
  readonly onRequest?: (r: L7Request) => void;
  readonly onEvent?: (e: ProxyEvent) => void;
  /** Flows whose tables a first-match proxy cannot express exactly; told once per change of the list. */
  readonly onInexact?: (flows: readonly InexactFlow[]) => void;
}

export interface L7Status extends ProxyStatus {
  readonly steeredEndpoints: number;
}

/** `setpriv --pdeathsig KILL` when it works: the proxy must not outlive its agent (it would hold the port). */
function deathSignalPrefix(): string[] {
  return spawnSync('setpriv', ['--pdeathsig', 'KILL', 'true']).status === 0
    ? ['setpriv', '--pdeathsig', 'KILL']
    : [];
}

/** The steered ports of the node's endpoints (the datapath's NodeRules). */
export function steeredEndpoints(rules: NodeRules): SteeredEndpoint[] {
  return rules.endpoints.flatMap((e) =>
    e.l7 === undefined ? [] : [{ endpoint: e.key, ingress: e.l7.ingress, egress: e.l7.egress }],
  );
}

export class L7Controller {
  readonly #opts: L7ControllerOptions;
  #proxy: L7Proxy | undefined;
  #model: PolicyModel | undefined;
  /** Outcomes of this and the previous compile: a line logged just before a change still finds its own. */
  #outcomes = new Map<string, OutcomeInfo>();
  #previousOutcomes = new Map<string, OutcomeInfo>();
  #inexact = '';
  #steered = 0;

  constructor(opts: L7ControllerOptions) {
    this.#opts = opts;
  }

  /** Brings the proxy in line with the model; a no-op until the node has a steered port. */
  async prepare(model: PolicyModel, rules: NodeRules): Promise<void> {
    const steered = steeredEndpoints(rules);
    this.#steered = steered.length;
    if (steered.length === 0 && this.#proxy === undefined) return;
    const l7 = compileNodeL7(model, steered);
    this.#previousOutcomes = this.#outcomes;
    this.#outcomes = new Map(l7.outcomes);
    this.#model = model;
    const inexact = JSON.stringify(l7.inexact);
    if (inexact !== this.#inexact) {
      this.#inexact = inexact;
      if (l7.inexact.length > 0) this.#opts.onInexact?.(l7.inexact);
    }
    if (this.#proxy === undefined) {
      const proxy = new L7Proxy({
        dir: this.#opts.dir,
        port: this.#opts.port ?? L7_PROXY_PORT,
        mode: this.#opts.mode ?? 'policy',
        prefix: deathSignalPrefix(),
        ...(this.#opts.binary === undefined ? {} : { binary: this.#opts.binary }),
        onLog: (line) => this.#onLog(line),
        ...(this.#opts.onEvent === undefined ? {} : { onEvent: this.#opts.onEvent }),
      });
      await proxy.start(l7);
      this.#proxy = proxy;
      return;
    }
    await this.#proxy.update(l7);
  }

  #info(outcome: string): OutcomeInfo | undefined {
    return this.#outcomes.get(outcome) ?? this.#previousOutcomes.get(outcome);
  }

  #onLog(text: string): void {
    const line = parseL7LogLine(text);
    if (line === undefined) return;
    let outcome = line.outcome;
    if (outcome === NO_SAY && line.egress !== '-' && line.egress !== NO_SAY) outcome = line.egress;
    this.#opts.onRequest?.({ line, outcome, info: this.#info(outcome), model: this.#model });
  }

  status(): L7Status | undefined {
    const s = this.#proxy?.status();
    return s === undefined ? undefined : { ...s, steeredEndpoints: this.#steered };
  }

  async stop(): Promise<void> {
    await this.#proxy?.stop();
  }
}
