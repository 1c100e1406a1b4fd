/**
 * A flow's L7 decisions as a first-match table, for a proxy to enforce without asking us per request.
 *
 * `evaluateHttp` (l7.ts) decides one request by walking the pipeline. A proxy sees requests we never see,
 * so the node compiles, per (client, server, port), what every request would get: for each direction where
 * L7 rules have a say, the HTTP entries that can match the flow in walk order (tier, policy, rule, entry),
 * each with the decision a request gets when that entry is the first one it matches, and the decision for
 * a request that matches none. Each decision is computed by the same walk, with an oracle in place of the
 * request (only that entry matches), so the table cannot mean something the walk does not:
 * `decideByTable(table, req)` equals `evaluateHttp(model, flow, req)` (test/engine/l7-table.test.ts checks
 * it on generated policies and requests, wherever the table says it is `exact`).
 *
 * That "the first entry matched decides" holds for each semantics once entries that decide like no match
 * at all are left out: Cilium's union allows on the first matching entry of the deciding tier's allows in
 * order; Antrea's one rule allows on any of its entries; Calico's walk stops at the first rule (in walk
 * order) whose HTTP match hits, or earlier at a rule without one, which the oracle's walk sees too.
 */
import type { Direction, Flow, HttpRule, HttpSemantics } from '../ir/index.js';
import type { Verdict } from '../ir/flow.js';
import type { DirectionDetail } from './evaluate.js';
import { evaluateDetailed } from './evaluate.js';
import type { EntryMatcher, HttpL7, HttpRequest, HttpVerdict, L7Decision } from './l7.js';
import { deniedResponse, directionL7, httpOf, httpRuleMatches } from './l7.js';
import { ruleMatches } from './match.js';
import type { PolicyModel } from './model.js';
import { rulesOf } from './pipeline.js';

/** One HTTP entry of one rule, and what a request whose first match it is gets. */
export interface HttpTableEntry {
  readonly semantics: HttpSemantics;
  readonly rule: HttpRule;
  readonly decision: L7Decision;
}

/** One direction's L7 layer: the first entry that matches decides, else `fallback`. */
export interface DirectionTable {
  readonly direction: Direction;
  readonly entries: readonly HttpTableEntry[];
  readonly fallback: L7Decision;
  /**
   * False when two entries decide together otherwise than the first of them alone, which only Calico
   * HTTP rules of several policies sharing a union stage (the Kubernetes stage) can do: a request matching
   * both gets the first entry's decision from a proxy, and the walk may differ. Checked pairwise on up to
   * PAIR_CHECK_LIMIT Calico entries; beyond that, assumed false.
   */
  readonly exact: boolean;
}

/** The most Calico entries of one direction whose pairs are checked (each pair is one walk). */
export const PAIR_CHECK_LIMIT = 32;

export interface HttpDecisionTable {
  /** The L3/L4 verdict (a proxy only sees flows it allowed; the table still says it). */
  readonly l4: Verdict;
  /** Egress (the client's side) before ingress; only directions where L7 rules have a say. */
  readonly directions: readonly DirectionTable[];
}

const NONE: EntryMatcher = () => ({ matched: false, headerActions: [] });

interface Candidate {
  readonly l7: HttpL7;
  readonly index: number;
  readonly rule: HttpRule;
}

/** A matcher under which exactly the given entries match. */
function oracle(matching: readonly Candidate[]): EntryMatcher {
  return (l7, index) => ({
    matched: matching.some((c) => c.l7 === l7 && c.index === index),
    headerActions: [],
  });
}

/**
 * Whether every pair of Calico candidates decides together as the table does (the first kept entry of
 * the two, else the fallback); see DirectionTable.exact.
 */
function pairsAgree(
  all: readonly { readonly c: Candidate; readonly solo: L7Decision; readonly kept: boolean }[],
  fallback: L7Decision,
  decide: (both: readonly Candidate[]) => L7Decision | undefined,
): boolean {
  const calico = all.filter((x) => (x.c.l7.semantics ?? 'envoy-regex') === 'calico-alp');
  if (calico.length < 2) return true;
  if (calico.length > PAIR_CHECK_LIMIT) return false;
  for (const [n, x] of calico.entries()) {
    for (const y of calico.slice(n + 1)) {
      const want = x.kept ? x.solo : y.kept ? y.solo : fallback;
      const got = decide([x.c, y.c]);
      if (got === undefined || !sameDecision(got, want)) return false;
    }
  }
  return true;
}

/** The HTTP entries that can take part for the direction, in walk order. */
function candidates(model: PolicyModel, d: DirectionDetail): Candidate[] {
  const query = d.query;
  if (query === undefined) return [];
  const out: Candidate[] = [];
  for (let t = 0; t < model.tiers.length; t++) {
    for (const policy of query.policies(t)) {
      for (const rule of rulesOf(policy, query.direction)) {
        const l7 = httpOf(rule);
        if (l7 === undefined || !ruleMatches(query.check(policy, rule))) continue;
        l7.rules.forEach((r, index) => out.push({ l7, index, rule: r }));
      }
    }
  }
  return out;
}

function sameDecision(a: L7Decision, b: L7Decision): boolean {
  return (
    a.allowed === b.allowed &&
    a.why === b.why &&
    a.entry === b.entry &&
    a.semantics === b.semantics &&
    JSON.stringify(a.by) === JSON.stringify(b.by)
  );
}

/** The table of one flow (a TCP flow: HTTP needs TCP). */
export function httpDecisionTable(model: PolicyModel, flow: Flow): HttpDecisionTable {
  const detail = evaluateDetailed(model, flow);
  const l4 = detail.verdict;
  if (!l4.allowed) return { l4, directions: [] };
  const directions: DirectionTable[] = [];
  for (const d of [detail.egress, detail.ingress]) {
    const fallback = directionL7(model, detail.stages, d, NONE);
    if (fallback === undefined) continue;
    const entries: HttpTableEntry[] = [];
    const all: { c: Candidate; solo: L7Decision; kept: boolean }[] = [];
    for (const c of candidates(model, d)) {
      const solo = directionL7(model, detail.stages, d, oracle([c]));
      if (solo === undefined) continue;
      // An entry whose solo decision is the fallback's takes no part (an allow of a tier the walk passed
      // over, a rule shadowed by an earlier one): left in, it would shadow later entries that do.
      const kept = !sameDecision(solo, fallback);
      all.push({ c, solo, kept });
      if (kept) entries.push({ semantics: c.l7.semantics ?? 'envoy-regex', rule: c.rule, decision: solo });
    }
    const exact = pairsAgree(all, fallback, (both) => directionL7(model, detail.stages, d, oracle(both)));
    directions.push({ direction: d.verdict.direction, entries, fallback, exact });
  }
  return { l4, directions };
}

/** One request decided by the table: what `evaluateHttp` decides for it. */
export function decideByTable(table: HttpDecisionTable, req: HttpRequest): HttpVerdict {
  const { l4 } = table;
  if (!l4.allowed)
    return { l4, allowed: false, response: l4.action === 'Reject' ? 'reset' : 'dropped', l7: [] };
  const l7: L7Decision[] = [];
  for (const t of table.directions) {
    let decision = t.fallback;
    for (const e of t.entries) {
      const m = httpRuleMatches(e.semantics, e.rule, req);
      if (!m.matched) continue;
      decision =
        m.headerActions.length === 0 ? e.decision : { ...e.decision, headerActions: m.headerActions };
      break;
    }
    l7.push(decision);
    if (!decision.allowed)
      return { l4, allowed: false, response: deniedResponse(decision.semantics, req), l7 };
  }
  return { l4, allowed: true, response: 'forwarded', l7 };
}
