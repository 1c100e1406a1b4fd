/**
 * The rule sets the datapath benchmark enforces. Pure. N Kubernetes NetworkPolicy ingress entries select
 * the server, one ipBlock /32 peer × one TCP port each, and only the last entries match the clients:
 * iptables walks every entry before it reaches the match (one rule per peer × port), nftables finds it
 * with one set lookup (the entries merge into one concatenated set). Policies are written as manifests
 * and go through the Kubernetes dialect like any user's, so the benchmark measures the same path.
 *
 * Beside them one small policy selects an idle pod: editing it is the "one-policy change at N" (the
 * applier must still read back and diff the N-entry table), without ever touching the measured traffic.
 */
import { collectingReporter, networkPolicyToIr } from '../../dialects/index.js';
import type { Obj } from '../../dialects/index.js';
import type { Policy } from '../../ir/policy.js';

export const BENCH_NAMESPACE = 'bench';
export const SERVER_LABELS = { app: 'pal-bench-server' } as const;
export const IDLE_LABELS = { app: 'pal-bench-idle' } as const;
/** Ports the server listens on: nginx (connection rate, latency) and iperf3 (throughput). */
export const HTTP_PORT = 80;
export const IPERF_PORT = 5201;
/** Entries per NetworkPolicy: real clusters spread large rule sets over many policies. */
export const ENTRIES_PER_POLICY = 1000;
/**
 * Filler peers come from 198.18.0.0/15 (RFC 2544, benchmarking), which no lab address uses: 131,072
 * addresses, so up to that many entries never match a client.
 */
const FILLER_BASE = (198 << 24) | (18 << 16);
export const MAX_RULES = 1 << 17;

export interface RuleSetOptions {
  /** Entries in total; the last `clients.length × 2` are the matching ones (when n allows). */
  readonly n: number;
  /** Client pod IPs: each gets one entry per server port, at the very end. */
  readonly clients: readonly string[];
}

function ip(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

interface Entry {
  readonly cidr: string;
  readonly port: number;
}

/** The entries in written order: fillers, then the clients'. Fewer than clients × ports: clients only. */
export function ruleEntries(opts: RuleSetOptions): Entry[] {
  if (!Number.isInteger(opts.n) || opts.n < 0 || opts.n > MAX_RULES) {
    throw new RangeError(`rule count must be an integer in 0..${MAX_RULES}, got ${opts.n}`);
  }
  if (opts.n === 0) return [];
  const matching = opts.clients.flatMap((c) =>
    [HTTP_PORT, IPERF_PORT].map((port) => ({ cidr: `${c}/32`, port })),
  );
  const fillers = Math.max(0, opts.n - matching.length);
  // Filler ports spread over 10000..29999 so that neither peer nor port alone would short-cut a walk.
  const filler = Array.from({ length: fillers }, (_, i) => ({
    cidr: `${ip(FILLER_BASE + i)}/32`,
    port: 10000 + (i % 20000),
  }));
  return [...filler, ...matching];
}

function networkPolicy(name: string, podLabels: Record<string, string>, entries: readonly Entry[]): Obj {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: BENCH_NAMESPACE },
    spec: {
      podSelector: { matchLabels: podLabels },
      policyTypes: ['Ingress'],
      ingress: entries.map((e) => ({
        from: [{ ipBlock: { cidr: e.cidr } }],
        ports: [{ protocol: 'TCP', port: e.port }],
      })),
    },
  };
}

/** The manifests of the rule set: `ceil(n / ENTRIES_PER_POLICY)` policies, named in written order. */
export function ruleManifests(opts: RuleSetOptions): Obj[] {
  const entries = ruleEntries(opts);
  const out: Obj[] = [];
  for (let i = 0; i < entries.length; i += ENTRIES_PER_POLICY) {
    const name = `pal-bench-rules-${String(i / ENTRIES_PER_POLICY).padStart(4, '0')}`;
    out.push(networkPolicy(name, SERVER_LABELS, entries.slice(i, i + ENTRIES_PER_POLICY)));
  }
  return out;
}

/** The small policy on the idle pod; `revision` changes its one port, so each revision is one edit. */
export function smallPolicyManifest(revision: number): Obj {
  return networkPolicy('pal-bench-small', IDLE_LABELS, [
    { cidr: '192.0.2.1/32', port: 9000 + (revision % 1000) },
  ]);
}

export class RuleSetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RuleSetError';
  }
}

/** Manifests → IR through the Kubernetes dialect; a diagnostic here is a bug in this module. */
export function toPolicies(manifests: readonly Obj[]): Policy[] {
  return manifests.map((m, doc) => {
    const r = collectingReporter({ file: '<bench>', doc });
    const p = networkPolicyToIr(m, r, { file: '<bench>', doc });
    if (p === undefined || r.errorCount > 0) {
      throw new RuleSetError(`bench policy ${doc} does not load: ${JSON.stringify(r.diagnostics)}`);
    }
    return p;
  });
}

/** The whole policy set at `n` entries with the small policy at `revision`. */
export function benchPolicies(opts: RuleSetOptions, revision: number): Policy[] {
  return toPolicies([...ruleManifests(opts), smallPolicyManifest(revision)]);
}
