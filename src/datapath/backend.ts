/**
 * The one interface every datapath implements (ARCHITECTURE.md "Layout"; the backends are listed by name
 * in registry.ts). A datapath takes one node's resolved rules (NodeRules, endpoint-rules.ts) and keeps a
 * node's kernel in step with them:
 *
 *   compile(rules) → desired state   pure: no I/O, no clock (STYLE.md §3); it may remember what it compiled
 *                                    last time, as long as the result equals a from-scratch compile
 *   apply(desired) → result          the only write to the kernel
 *   readBack()                       what the kernel holds, read from the kernel (not from memory)
 *   teardown()                       removes what the datapath put there
 *
 * and states what it can enforce in a capability record. A part of a policy a datapath cannot express is
 * left out and reported as `Unsupported`, naming the capability it lacks; the conformance suites skip a
 * case by the same names, so a skip always says which capability is missing.
 *
 * `none` (nothing enforced) is not a backend: it has no desired state and no capability to conform to, and
 * "tear down whatever another datapath left" is a property of the registry (every backend's teardown),
 * not of any one backend. The lab and the benchmark treat it as the absence of a backend.
 */
import type { NodeRules } from './compile/endpoint-rules.js';

/** What a datapath may be able to enforce, each with the sentence a skip prints. */
export const CAPABILITIES = {
  statefulReplies: 'replies of an allowed connection pass (connection tracking)',
  tiers: 'ordered tiers: Pass, first-match tiers, an admin Deny over a Kubernetes allow',
  reject: 'Reject answers at once (TCP reset, ICMP admin-prohibited)',
  log: 'Log and Deny copy the packet to the flow log (nflog)',
  strictCut: "connections strict mode cut stay cut (the conntrack mark's bit is dropped)",
  l7Redirect: 'ports with L7 rules are steered to the node proxy',
  incrementalApply: 're-applying the same state writes nothing; a change writes only what differs',
  nestedExclusions: 'subtracting an earlier rule of the policy that has negations (notPeers/notPorts) itself',
  icmpCodeWithoutType: 'an ICMP code match without an ICMP type',
} as const;

export type Capability = keyof typeof CAPABILITIES;
export type Capabilities = { readonly [K in Capability]: boolean };
export const CAPABILITY_NAMES = Object.keys(CAPABILITIES) as Capability[];

/** A part of the rules the datapath left out because it lacks `capability`. */
export interface Unsupported {
  readonly capability: Capability;
  /** Which rule, in words (direction, tier, policy, rule index). */
  readonly where: string;
}

export function formatUnsupported(u: Unsupported): string {
  return `${u.where}: needs ${u.capability} (${CAPABILITIES[u.capability]}); left out`;
}

/** How big a state is, in the units the backends share (0 where a backend has none of a kind). */
export interface StateSize {
  readonly chains: number;
  readonly sets: number;
  readonly maps: number;
  /** Elements of every set and map. */
  readonly elements: number;
  readonly rules: number;
}

export interface Compiled<D> {
  readonly desired: D;
  readonly size: StateSize;
  readonly unsupported: readonly Unsupported[];
}

export interface ApplyOptions {
  /**
   * Compare against the kernel, read back, rather than against the datapath's memory of its last apply
   * (repairs hand edits). Backends that always rewrite everything ignore it.
   */
  readonly verify?: boolean;
}

/** The kernel objects an apply wrote, by name: the measure of how incremental a change was. */
export interface Touched {
  readonly chains: readonly string[];
  readonly sets: readonly string[];
}

export interface ApplyResult {
  /** Whether the kernel was written to. */
  readonly changed: boolean;
  /** What changed, counted in the backend's own units (for logs, reports, `lab apply`). */
  readonly summary: Readonly<Record<string, number>>;
  readonly touched: Touched;
}

export interface KernelState {
  readonly size: StateSize;
  /** Parts of the kernel state the datapath could not read back. */
  readonly unreadable: readonly string[];
}

export interface DatapathTarget {
  /** Named network namespace (`ip netns list`) to act in; absent: the caller's own. */
  readonly netns?: string;
}

/**
 * One backend bound to one target (a node's netns). It may keep memory between calls (an incremental
 * compiler, the state it last applied), which is why the agent and the lab keep one per node.
 */
export interface NodeDatapath<D = unknown> {
  readonly backend: DatapathBackend<D>;
  readonly target: DatapathTarget;
  /** Pure: same rules in, same result out, whatever was compiled before. */
  compile(rules: NodeRules): Compiled<D>;
  /** Brings the kernel to `desired`; applies run one at a time, in call order. */
  apply(desired: D, options?: ApplyOptions): Promise<ApplyResult>;
  /** What the kernel holds; undefined when it holds nothing of this datapath. */
  readBack(): Promise<KernelState | undefined>;
  /** Removes what this datapath programmed; true when there was something to remove. */
  teardown(): Promise<boolean>;
}

export interface DatapathBackend<D = unknown> {
  readonly name: string;
  /** One line for `--help` and reports. */
  readonly description: string;
  readonly capabilities: Capabilities;
  /** The commands it runs (each answers `--version`): a host without one cannot use the backend. */
  readonly tools: readonly string[];
  create(target?: DatapathTarget): NodeDatapath<D>;
}

/** The capabilities of `needed` the backend lacks, in CAPABILITIES order. */
export function lacking(backend: DatapathBackend, needed: Iterable<Capability>): Capability[] {
  const want = new Set(needed);
  return CAPABILITY_NAMES.filter((c) => want.has(c) && !backend.capabilities[c]);
}

/**
 * Why a case needing `needed` cannot run on the backend (for a test's `skip`), or undefined when it can:
 * `iptables lacks strictCut (connections strict mode cut stay cut)`.
 */
export function lackReason(backend: DatapathBackend, needed: Iterable<Capability>): string | undefined {
  const missing = lacking(backend, needed);
  if (missing.length === 0) return undefined;
  return `${backend.name} lacks ${missing.map((c) => `${c} (${CAPABILITIES[c]})`).join(', ')}`;
}
