/**
 * Strict mode: cutting the connections a policy change stopped allowing. The nft table accepts `ct state
 * established` before any policy, so a connection opened under an old policy keeps flowing until its
 * conntrack entry goes. After every apply that changed the kernel, `StrictMode` lists the table
 * (conntrack.ts), `planCuts` (pure) evaluates each entry's original direction with the engine, as a new
 * connection would be, and the denied entries get the `STRICT_CUT_MARK` bit in their conntrack mark, which
 * the table's first rule drops in both directions.
 *
 * Marking, not deleting: after a deletion the kernel picks a TCP stream up again mid-flow (with
 * nf_conntrack_tcp_loose=1, the default), possibly in the reverse direction, which policy may allow; and
 * turning that sysctl off for the whole netns makes every connection conntrack has no entry for (opened
 * before conntrack was active there, or whose entry was lost) `ct state invalid`, which the table drops.
 * A marked entry stays, so the connection can neither be picked up again nor be confused with another.
 *
 * A mark is not for ever: every sweep also evaluates the entries earlier sweeps cut, and clears the bit of
 * those that policy allows again. Otherwise a flow whose 5-tuple never changes (a UDP client on a fixed
 * port, a TCP peer retransmitting) would stay cut after its allow came back: each of its packets refreshes
 * the marked entry's timeout before the table drops it, so the entry would never expire.
 *
 * Only the sides this node's datapath enforces count: the egress of a source pod hosted here and the
 * ingress of a destination pod hosted here (the other ends belong to other nodes' agents). Connections the
 * node itself opened are skipped: they leave through `output`, which Palisade never filters, so cutting
 * them would enforce something the datapath does not.
 */
import { performance } from 'node:perf_hooks';
import { evaluate } from '../engine/index.js';
import type { PolicyModel } from '../engine/index.js';
import { STRICT_CUT_MARK } from '../datapath/index.js';
import type { NodeRules } from '../datapath/index.js';
import { endpointKey, policyId } from '../ir/index.js';
import type { DirectionVerdict, Protocol } from '../ir/index.js';
import type { AppliedState } from './agent.js';
import type { ConntrackEntry } from './conntrack.js';
import { listConntrack, localAddresses, markConntrack, tupleText } from './conntrack.js';
import type { Logger } from './log.js';
import { errorText } from './sources/source.js';

const PROTOCOLS: Readonly<Record<string, Protocol>> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' };

/** TCP/SCTP states in which no more data can flow: nothing to cut. */
const FINISHED = new Set(['TIME_WAIT', 'CLOSE', 'CLOSED', 'SHUTDOWN_ACK_SENT']);

export interface Cut {
  readonly entry: ConntrackEntry;
  /** Which enforced side denies it and why, e.g. `ingress of pal/b: isolated by NetworkPolicy/pal/x`. */
  readonly reason: string;
}

export interface CutPlan {
  readonly cut: readonly Cut[];
  /** Entries an earlier sweep cut that policy allows again: their mark bit is cleared. */
  readonly restore: readonly ConntrackEntry[];
  /** Entries with a pod of this node on an enforced side, evaluated with the engine. */
  readonly evaluated: number;
  /** Entries of this node's pods the engine cannot evaluate (ICMP and other non-L4 protocols). */
  readonly unevaluated: number;
}

export interface PlanInput {
  readonly model: PolicyModel;
  readonly rules: NodeRules;
  /** Addresses of the node (netns) itself: connections it opened are never filtered, so never cut. */
  readonly localAddresses: ReadonlySet<string>;
}

function denial(side: 'egress' | 'ingress', pod: string, v: DirectionVerdict): string {
  const by =
    v.decidedBy !== undefined
      ? `${v.decidedBy.action} rule ${v.decidedBy.rule} of ${policyId(v.decidedBy.policy)} (tier ${v.decidedBy.tier})`
      : v.reason === 'isolated'
        ? `isolated by ${v.selectedBy.map(policyId).join(', ') || 'policy'}`
        : v.reason;
  return `${side} of ${pod}: ${by}`;
}

/**
 * The entries a strict sweep marks: connections this node enforces that policy no longer allows and that
 * no earlier sweep has cut already; and the ones it unmarks: cut earlier, allowed again.
 */
export function planCuts(entries: Iterable<ConntrackEntry>, input: PlanInput): CutPlan {
  const { model, rules, localAddresses } = input;
  const hosted = new Set(rules.endpoints.map((e) => e.key));
  const podHere = (ip: string): string | undefined => {
    const ep = model.endpointsByIp.get(ip);
    if (ep === undefined || ep.hostNetwork) return undefined;
    const key = endpointKey(ep);
    return hosted.has(key) ? key : undefined;
  };
  // Connections differ mostly by source port: one evaluation per (src, dst, proto, port).
  const verdicts = new Map<string, string | null>();
  const cut: Cut[] = [];
  const restore: ConntrackEntry[] = [];
  let evaluated = 0;
  let unevaluated = 0;
  for (const e of entries) {
    if (localAddresses.has(e.src)) continue;
    const marked = e.mark !== undefined && (e.mark & STRICT_CUT_MARK) !== 0;
    const srcPod = podHere(e.src);
    const dstPod = podHere(e.replySrc);
    if (srcPod === undefined && dstPod === undefined) continue;
    if (e.state !== undefined && FINISHED.has(e.state)) continue;
    const protocol = PROTOCOLS[e.proto];
    const dport = e.replySport ?? e.dport;
    if (protocol === undefined || dport === undefined) {
      unevaluated += 1;
      continue;
    }
    evaluated += 1;
    const key = `${e.src}|${e.replySrc}|${protocol}|${dport}`;
    let reason = verdicts.get(key);
    if (reason === undefined) {
      const v = evaluate(model, {
        src: { kind: 'ip', ip: e.src },
        dst: { kind: 'ip', ip: e.replySrc },
        protocol,
        port: dport,
      });
      reason =
        srcPod !== undefined && !v.egress.allowed
          ? denial('egress', srcPod, v.egress)
          : dstPod !== undefined && !v.ingress.allowed
            ? denial('ingress', dstPod, v.ingress)
            : null;
      verdicts.set(key, reason);
    }
    if (marked && reason === null) restore.push(e);
    else if (!marked && reason !== null) cut.push({ entry: e, reason });
  }
  return { cut, restore, evaluated, unevaluated };
}

/** One sweep after a change, for `palisade status`. */
export interface SweepRecord {
  readonly at: string;
  readonly ms: number;
  /** The apply generation the sweep followed. */
  readonly generation: number;
  readonly listed: number;
  readonly evaluated: number;
  readonly unevaluated: number;
  readonly cut: number;
  /** Entries cut earlier whose mark this sweep cleared: policy allows them again. */
  readonly restored: number;
  readonly truncated: boolean;
}

export interface StrictStatus {
  readonly enabled: boolean;
  /** Connections cut since the agent started. */
  readonly cutTotal: number;
  readonly sweeps: number;
  readonly lastSweep?: SweepRecord;
  readonly error?: string;
}

export const STRICT_DISABLED: StrictStatus = { enabled: false, cutTotal: 0, sweeps: 0 };

export interface StrictOptions {
  /** Named netns the agent enforces in; absent: its own. */
  readonly netns?: string;
  readonly log: Logger;
  /** Entries read per sweep at most; the rest waits for the next change. Default 100k. */
  readonly maxEntries?: number;
  /** Told how many connections each sweep cut (metrics). */
  readonly onCut?: (n: number) => void;
}

/** How many cut tuples a log line names. */
const LOGGED = 5;

/** The agent's `onApplied` hook for strict mode: after every apply that changed the kernel, a sweep. */
export class StrictMode {
  private cutTotal = 0;
  private sweeps = 0;
  private lastSweep: SweepRecord | undefined;
  private error: string | undefined;

  constructor(private readonly opts: StrictOptions) {}

  readonly onApplied = async (applied: AppliedState): Promise<void> => {
    if (!applied.changed) return;
    try {
      await this.sweep(applied);
      this.error = undefined;
    } catch (e) {
      // Logged here rather than thrown, so hooks composed after this one still run.
      this.error = errorText(e);
      this.opts.log('error', 'strict: sweep failed; established connections stay as they are', {
        error: this.error,
      });
    }
  };

  private async sweep(applied: AppliedState): Promise<void> {
    const { netns, log } = this.opts;
    const started = performance.now();
    const maxEntries = this.opts.maxEntries ?? 100_000;
    const [listing, local] = await Promise.all([listConntrack(netns, maxEntries), localAddresses(netns)]);
    if (listing.truncated)
      log('warn', 'strict: conntrack table over the sweep cap; entries past it wait for the next change', {
        maxEntries,
      });
    const plan = planCuts(listing.entries, {
      model: applied.model,
      rules: applied.rules,
      localAddresses: local,
    });
    const cut = await markConntrack(
      netns,
      plan.cut.map((c) => c.entry),
      STRICT_CUT_MARK,
    );
    const restored = await markConntrack(netns, plan.restore, STRICT_CUT_MARK, { clear: true });
    this.sweeps += 1;
    this.cutTotal += cut;
    this.lastSweep = {
      at: new Date().toISOString(),
      ms: Math.round((performance.now() - started) * 10) / 10,
      generation: applied.generation,
      listed: listing.entries.length,
      evaluated: plan.evaluated,
      unevaluated: plan.unevaluated,
      cut,
      restored,
      truncated: listing.truncated,
    };
    if (cut > 0) {
      this.opts.onCut?.(cut);
      log('info', `strict: cut ${cut} connections no longer allowed`, {
        connections: plan.cut.slice(0, LOGGED).map((c) => ({ tuple: tupleText(c.entry), denied: c.reason })),
        ...(plan.cut.length > LOGGED ? { more: plan.cut.length - LOGGED } : {}),
        ms: this.lastSweep.ms,
      });
    }
    if (restored > 0)
      log('info', `strict: ${restored} cut connections allowed again; their cut mark is cleared`, {
        connections: plan.restore.slice(0, LOGGED).map(tupleText),
        ...(plan.restore.length > LOGGED ? { more: plan.restore.length - LOGGED } : {}),
      });
  }

  status(): StrictStatus {
    return {
      enabled: true,
      cutTotal: this.cutTotal,
      sweeps: this.sweeps,
      ...(this.lastSweep === undefined ? {} : { lastSweep: this.lastSweep }),
      ...(this.error === undefined ? {} : { error: this.error }),
    };
  }
}
