/**
 * Who puts the lab's desired state into the nodes' kernels. Two implementations, one contract:
 * `agents` (agents.ts: one `palisade agent` per node reading the lab's manifests directory, as a cluster
 * does it; nftables only) and `in-process` (in-process.ts: the daemon itself through enforceLab; iptables,
 * or on request). The daemon does not know which one it holds.
 */
import type { DesiredState } from './desired.js';
import type { PolicyObjects } from './manifests.js';
import type { AgentNodeStatus, EnforceSummary, LabEnforcer } from './protocol.js';

/** What is enforced: the model, and the user's policy objects as written (what the agents' datastore holds). */
export interface EnforcedState {
  readonly desired: DesiredState;
  readonly objects: PolicyObjects;
}

export interface Enforcer {
  readonly kind: LabEnforcer;
  /**
   * Programs every node with `state` and resolves once every kernel holds it; `revision` in the summary
   * numbers the states enforced. Rejects when a node did not take it: the kernels may then hold part of it.
   */
  enforce(state: EnforcedState): Promise<EnforceSummary>;
  /** After a failed enforce: puts `state` (the last one enforced) back, so the lab means what it says. */
  restore(state: EnforcedState): Promise<void>;
  /** One per node for `lab status`; undefined when no agents run. */
  agents(): Promise<readonly AgentNodeStatus[] | undefined>;
  /**
   * The lab is going down: a process of its that exits from now on is not started again (the netns it
   * would run in are about to go). What runs keeps running until stop().
   */
  endSupervision(): void;
  /** Stops what it runs (the kernels keep their last state until the lab's netns go). Idempotent. */
  stop(): Promise<void>;
}
