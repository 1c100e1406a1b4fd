/**
 * The `in-process` enforcer: the daemon itself resolves, compiles and applies every node's rules through
 * enforceLab (iptables, and nftables on request). enforceLab diffs against the kernel, so a change sends
 * only the difference.
 */
import { formatUnsupported } from '../../datapath/index.js';
import type { EnforceableLab } from '../enforce.js';
import { enforceLab } from '../enforce.js';
import type { EnforcedState, Enforcer } from './enforcer.js';
import type { EnforceSummary, LabDatapath } from './protocol.js';

export class InProcessEnforcer implements Enforcer {
  readonly kind = 'in-process';
  readonly #lab: EnforceableLab;
  readonly #datapath: LabDatapath;
  #revision = 0;

  constructor(lab: EnforceableLab, datapath: LabDatapath) {
    this.#lab = lab;
    this.#datapath = datapath;
  }

  async enforce(state: EnforcedState): Promise<EnforceSummary> {
    const report = await enforceLab(this.#lab, state.desired, { datapath: this.#datapath });
    this.#revision++;
    return {
      datapath: this.#datapath,
      revision: this.#revision,
      ms: report.ms,
      nodes: report.nodes.map((n) => ({
        node: n.node,
        ms: n.ms,
        changed: n.changed,
        changes: n.changes,
        unsupported: n.unsupported.map(formatUnsupported),
      })),
    };
  }

  /** enforceLab tears everything down first after a failure, then applies the last good state. */
  async restore(state: EnforcedState): Promise<void> {
    await enforceLab(this.#lab, state.desired, { datapath: this.#datapath });
  }

  agents(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  /** It supervises nothing. */
  endSupervision(): void {
    return;
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}
