/**
 * The flow log's line (ARCHITECTURE.md "Contracts": fields modelled on Hubble's Flow). One record must
 * answer "why was this dropped?" on its own: the verdict, both endpoints, the policy and rule that decided
 * (or the default that did), a sentence saying so, and the kernel's own tag.
 */
import type { Labels } from '../../ir/index.js';

export interface FlowEndpoint {
  readonly ip: string;
  readonly port?: number;
  /** Present when the address belongs to a pod of the policy model. */
  readonly namespace?: string;
  readonly pod?: string;
  readonly labels?: Labels;
}

/** The policy that decided (flow-log contract: tier, kind, namespace, name, rule). */
export interface PolicyAttribution {
  readonly tier: string;
  readonly dialect: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
  /**
   * Index of the rule in the policy's rules for the direction. Absent when no rule matched and the
   * policy's isolation denied (Kubernetes default deny, Calico's end-of-tier drop).
   */
  readonly rule?: number;
  readonly ruleName?: string;
  readonly action: string;
}

export type FlowVerdict = 'allowed' | 'denied';

/**
 * - `engine`: the engine, run on the model the table was compiled from, reaches the kernel's verdict;
 * - `stale`: it does not (the model changed since, or the packet was not judged by Palisade's table,
 *   e.g. it came from the node itself): the kernel's verdict is recorded, the engine's is in `reason`;
 * - `none`: nothing to attribute (no model yet, or a protocol the engine does not judge by port).
 */
export type Attribution = 'engine' | 'stale' | 'none';

export interface KernelView {
  /**
   * `ct-new`: conntrack confirmed a new connection (it passed every hook); `nflog`: a rule logged it;
   * `l7-proxy`: the node's L7 proxy logged a request.
   */
  readonly source: 'nflog' | 'ct-new' | 'l7-proxy';
  readonly group?: number;
  /** The logging rule's nflog prefix: `pal <deny|reject|isolated|log> <I|E> <tier> <policy>`. */
  readonly prefix?: string;
  readonly in?: string;
  readonly out?: string;
}

export interface FlowRecord {
  readonly time: string;
  readonly node: string;
  readonly verdict: FlowVerdict;
  /** For denials: Deny drops silently, Reject answers (TCP reset / ICMP). */
  readonly action?: 'Deny' | 'Reject';
  /**
   * `verdict`: the connection's fate; `log`: a copy made by a Log rule (the verdict is the engine's);
   * `l7`: one HTTP request the node's L7 proxy decided (see `l7`).
   */
  readonly type: 'verdict' | 'log' | 'l7';
  /** The side whose policy decided, as enforced on this node. */
  readonly direction?: 'ingress' | 'egress';
  readonly source: FlowEndpoint;
  readonly destination: FlowEndpoint;
  readonly protocol: string;
  readonly icmp?: { readonly type: number; readonly code: number };
  readonly policy?: PolicyAttribution;
  /** Why, in one sentence: the deciding rule or default, with subject, peer and port. */
  readonly reason: string;
  readonly attribution: Attribution;
  readonly kernel: KernelView;
  /** Events of this flow key not written since the key's previous line (rate limiting). */
  readonly suppressed?: number;
  /** With `type: 'l7'`: the request and what the client observed. */
  readonly l7?: L7View;
}

/** One HTTP request as the node's L7 proxy saw and decided it (modelled on Hubble's L7 HTTP flow). */
export interface L7View {
  readonly method: string;
  /** The request target with its query. */
  readonly path: string;
  readonly host: string;
  /** `HTTP/1.1` or `HTTP/2`. */
  readonly protocol: string;
  readonly grpc: boolean;
  /** The status the client got (-1: none, the connection was reset). */
  readonly status: number;
  /** What the client observed (ARCHITECTURE.md "Contracts"): forwarded, http:403, grpc:7, reset. */
  readonly response: string;
  /** Which HTTP entry of the deciding rule matched (its index in the rule's list), when one did. */
  readonly entry?: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A line of a flow log, checked only as far as readers rely on; undefined for anything else. */
export function parseFlowRecord(line: string): FlowRecord | undefined {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isObject(o)) return undefined;
  if (typeof o['time'] !== 'string' || Number.isNaN(Date.parse(o['time']))) return undefined;
  if (o['verdict'] !== 'allowed' && o['verdict'] !== 'denied') return undefined;
  if (!isObject(o['source']) || !isObject(o['destination'])) return undefined;
  if (typeof o['source']['ip'] !== 'string' || typeof o['destination']['ip'] !== 'string') return undefined;
  if (typeof o['protocol'] !== 'string' || typeof o['reason'] !== 'string') return undefined;
  return o as unknown as FlowRecord;
}
