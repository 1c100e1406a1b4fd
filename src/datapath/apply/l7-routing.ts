/**
 * The policy routing L7 steering needs, per address family, in a node's network namespace: the rule
 * `fwmark L7_MARK/L7_MARK lookup L7_ROUTE_TABLE` and that table's one route, `local default dev lo`, which
 * deliver the packets the `l7_prerouting` chain marked to the local proxy socket TPROXY assigned them to
 * (l7-steering.ts), and a guard rule for reverse-path checks (see RULES). Kernel state outside nftables, so the nftables backend ensures it next to its table:
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

/**
 * The two rules, by selector (what `ip rule show` and `del` match on) and preference.
 * - `guard`: with `src_valid_mark=1` (wg-quick sets it) the reverse-path check of a marked packet looks
 *   its source up with the mark, from `lo`; our table would answer "local" and strict rp_filter would drop
 *   the packet as a martian (seen in l7-steering.netns.test.ts). Marked lookups from `lo` — reverse-path
 *   checks; nothing marks locally sent packets — are sent to `main` instead, one preference earlier.
 * - `steer`: every other packet with the mark is delivered locally.
 */
const RULES = [
  {
    name: 'guard',
    selector: ['fwmark', MARK, 'iif', 'lo', 'lookup', 'main'],
    priority: L7_RULE_PRIORITY - 1,
  },
  { name: 'steer', selector: ['fwmark', MARK, 'lookup', TABLE], priority: L7_RULE_PRIORITY },
] as const;

const opts = (t: RoutingTarget) => (t.netns === undefined ? {} : { netns: t.netns });
const routeSpec = (f: Family) => ['local', DEFAULT[f], 'dev', 'lo', 'table', TABLE];

interface Present {
  /** Which of RULES are there, in RULES order. */
  readonly rules: readonly boolean[];
  readonly route: boolean;
}

/**
 * What the family has of the rules and the route. A family the namespace does not support (IPv6
 * disabled) has none of them.
 */
async function present(f: Family, t: RoutingTarget): Promise<Present> {
  const rules: boolean[] = [];
  for (const r of RULES) {
    const shown = await run(['ip', `-${f}`, 'rule', 'show', ...r.selector], opts(t));
    rules.push(shown.code === 0 && shown.stdout.trim() !== '');
  }
  const route = await run(['ip', `-${f}`, 'route', 'show', 'table', TABLE], opts(t));
  // A table that does not exist yet is an error here, and means no route.
  return { rules, route: route.code === 0 && route.stdout.includes('local') };
}

/** The families whose rules and route are all in place. */
export async function readL7Routing(t: RoutingTarget = {}): Promise<Family[]> {
  const out: Family[] = [];
  for (const f of FAMILIES) {
    const p = await present(f, t);
    if (p.route && p.rules.every(Boolean)) out.push(f);
  }
  return out;
}

/** Adds what `family` lacks of the rules and the route; true when something was added. */
export async function ensureL7Routing(family: Family, t: RoutingTarget = {}): Promise<boolean> {
  const p = await present(family, t);
  // The route first: a rule pointing at an empty table would route marked packets nowhere.
  if (!p.route) await runChecked(['ip', `-${family}`, 'route', 'replace', ...routeSpec(family)], opts(t));
  // `replace` is idempotent for the route; rules have no replace, hence the check.
  for (const [i, r] of RULES.entries())
    if (p.rules[i] !== true)
      await runChecked(
        ['ip', `-${family}`, 'rule', 'add', ...r.selector, 'priority', String(r.priority)],
        opts(t),
      );
  return !p.route || !p.rules.every(Boolean);
}

/**
 * Removes the family's rules (every copy: someone may have added one twice) and route; true when there
 * was something to remove. Absent state is success, as a CNI DEL is.
 */
export async function removeL7Routing(family: Family, t: RoutingTarget = {}): Promise<boolean> {
  const p = await present(family, t);
  let removed = false;
  // The steering rule first: the guard alone changes nothing.
  for (const i of [1, 0]) {
    const r = RULES[i];
    if (r === undefined || p.rules[i] !== true) continue;
    // Bounded: each round deletes one copy; a rule that will not go is an error, not a loop.
    for (let n = 0; n < 16; n++) {
      const argv = ['ip', `-${family}`, 'rule', 'del', ...r.selector];
      const res = await run(argv, opts(t));
      if (res.code !== 0) {
        if (n === 0) throw new CommandError(argv, `exited with ${res.code}`, res.stderr, res.code);
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
