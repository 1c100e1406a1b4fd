/**
 * The policy routing L7 steering needs, per address family, in a node's network namespace: the rule
 * `fwmark L7_MARK/L7_MARK lookup L7_ROUTE_TABLE` and that table's one route, `local default dev lo`, which
 * deliver the packets the `l7_prerouting` chain marked to the local proxy socket TPROXY assigned them to
 * (l7-steering.ts). Kernel state outside nftables, so the nftables backend ensures it next to its table:
 * before a transaction that starts steering a family (a steered packet must never be routed away from
 * the proxy), and removes it after one that stops. Every operation is idempotent.
 */
import type { Family } from '../../ir/cidr.js';
import { L7_MARK, L7_ROUTE_TABLE } from '../l7-steering.js';
import { CommandError, run, runChecked } from '../../util/process.js';

export interface RoutingTarget {
  /** Named network namespace to act in; absent: the caller's own. */
  readonly netns?: string;
}

/**
 * The rule's preference: ahead of `main` (32766) and of the rules other software puts at the default
 * 32765, so that a steered packet is delivered locally whatever else routes pod traffic.
 */
export const L7_RULE_PRIORITY = 100;

const FAMILIES: readonly Family[] = [4, 6];
const MARK = `0x${L7_MARK.toString(16)}/0x${L7_MARK.toString(16)}`;
const TABLE = String(L7_ROUTE_TABLE);
const DEFAULT: Record<Family, string> = { 4: '0.0.0.0/0', 6: '::/0' };

const opts = (t: RoutingTarget) => (t.netns === undefined ? {} : { netns: t.netns });
const ruleSelector = ['fwmark', MARK, 'lookup', TABLE];
const routeSpec = (f: Family) => ['local', DEFAULT[f], 'dev', 'lo', 'table', TABLE];

/**
 * Whether the family has the rule and the route. A family the namespace does not support (IPv6 disabled)
 * has neither.
 */
async function present(f: Family, t: RoutingTarget): Promise<{ rule: boolean; route: boolean }> {
  const rule = await run(['ip', `-${f}`, 'rule', 'show', ...ruleSelector], opts(t));
  const route = await run(['ip', `-${f}`, 'route', 'show', 'table', TABLE], opts(t));
  return {
    rule: rule.code === 0 && rule.stdout.trim() !== '',
    // A table that does not exist yet is an error here, and means no route.
    route: route.code === 0 && route.stdout.includes('local'),
  };
}

/** The families whose rule and route are both in place. */
export async function readL7Routing(t: RoutingTarget = {}): Promise<Family[]> {
  const out: Family[] = [];
  for (const f of FAMILIES) {
    const p = await present(f, t);
    if (p.rule && p.route) out.push(f);
  }
  return out;
}

/** Adds what `family` lacks of the rule and the route; true when something was added. */
export async function ensureL7Routing(family: Family, t: RoutingTarget = {}): Promise<boolean> {
  const p = await present(family, t);
  // `replace` is idempotent for the route; the rule has no replace, hence the check.
  if (!p.route) await runChecked(['ip', `-${family}`, 'route', 'replace', ...routeSpec(family)], opts(t));
  if (!p.rule)
    await runChecked(
      ['ip', `-${family}`, 'rule', 'add', ...ruleSelector, 'priority', String(L7_RULE_PRIORITY)],
      opts(t),
    );
  return !p.rule || !p.route;
}

/**
 * Removes the family's rule (every copy: someone may have added it twice) and route; true when there was
 * something to remove. Absent state is success, as a CNI DEL is.
 */
export async function removeL7Routing(family: Family, t: RoutingTarget = {}): Promise<boolean> {
  const p = await present(family, t);
  let removed = false;
  if (p.rule) {
    // Bounded: each round deletes one copy; a rule that will not go is an error, not a loop.
    for (let i = 0; i < 16; i++) {
      const argv = ['ip', `-${family}`, 'rule', 'del', ...ruleSelector];
      const r = await run(argv, opts(t));
      if (r.code !== 0) {
        if (i === 0) throw new CommandError(argv, `exited with ${r.code}`, r.stderr, r.code);
        break;
      }
      removed = true;
    }
  }
  if (p.route) {
    await runChecked(['ip', `-${family}`, 'route', 'del', ...routeSpec(family)], opts(t));
    removed = true;
  }
  return removed;
}

/**
 * Brings the routing to exactly `families` (the others removed); true when anything changed. `phase`
 * splits it around an nftables transaction: `add` before (only additions), `remove` after.
 */
export async function syncL7Routing(
  families: readonly Family[],
  phase: 'add' | 'remove',
  t: RoutingTarget = {},
): Promise<boolean> {
  let changed = false;
  for (const f of FAMILIES) {
    if (phase === 'add' && families.includes(f)) changed = (await ensureL7Routing(f, t)) || changed;
    if (phase === 'remove' && !families.includes(f)) changed = (await removeL7Routing(f, t)) || changed;
  }
  return changed;
}
