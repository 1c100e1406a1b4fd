/**
 * The baseline we measure against: the classic iptables-CNI layout, from the same resolved endpoint rules
 * and the same tier plans (tier-plan.ts) as the nftables compiler. Pure. Every packet walks lists: per-pod
 * dispatch rules, then per tier a rule per peer × port, so cost grows with pods and rules — the point.
 *
 *   PAL-FORWARD:  ESTABLISHED,RELATED accept; INVALID drop; `-s podIP -g PAL-E-<id>-0`; `-g PAL-ING-DISPATCH`
 *   PAL-INPUT:    the same egress dispatch (a pod talking to its own node), then the INPUT policy
 *   PAL-ING-DISPATCH: `-d podIP -g PAL-I-<id>-0`; ACCEPT
 *   PAL-I/E-<id>-<n>: one chain per tier; per plan step `-j PAL-S-<hash>` (shared between endpoints), or
 *                 for Pass the rules inline (`-g` the chain of the tier the walk continues at); at the end
 *                 `-j PAL-DENY` (isolated) or `-g` the next tier (last: ingress ACCEPT, egress
 *                 `-g PAL-ING-DISPATCH`, so the destination's ingress still runs)
 *   PAL-S-<hash>: the step's rules: allow (ACCEPT / `-g PAL-ING-DISPATCH`), `-j PAL-DENY` (NFLOG + DROP),
 *                 `-j PAL-REJECT` (NFLOG + TCP reset / ICMP admin-prohibited), `-g PAL-L-<hash>` (Log:
 *                 NFLOG, then back to the tier chain)
 *   PAL-X-<hash>: one entry that needs subtraction (negations, or earlier rules of its policy that decided
 *                 otherwise): `… -j RETURN` for every excluded term, then the entry's own rules
 * Every path ends in a terminal verdict (no verdict ever RETURNs to the base chain), which is what lets an
 * entry live in a sub-chain whose RETURN means "not this entry". What the layout cannot express is left out
 * and listed in `unsupported`: subtracting a rule that has negations itself (it would need two RETURNs),
 * an ICMP code without a type, and the HTTP rules of an Allow, whose ports nothing steers to the L7 proxy
 * (the capabilities `nestedExclusions`, `icmpCodeWithoutType` and `l7Redirect` of backend.ts). The output
 * is a full `iptables-restore` of the filter table.
 */
import type { Family } from '../../ir/cidr.js';
import type { Direction } from '../../ir/policy.js';
import type { Unsupported } from '../backend.js';
import type { DirectionRules, MatchTerm, NodeRules, ResolvedRule, TierRules } from './endpoint-rules.js';
import { endpointId } from './nftables.js';
import { shortHash } from './nft-state.js';
import { rangeToCidrs } from './ranges.js';
import type { PlanEntry, PlanStep } from './tier-plan.js';
import { tierPlan } from './tier-plan.js';

export const IPT_NFLOG_GROUP = 100;
export const IPT_DENY_NFLOG_GROUP = 101;
const ING_DISPATCH = 'PAL-ING-DISPATCH';

export interface IptablesScripts {
  /** `iptables-restore` input. */
  readonly v4: string;
  /** `ip6tables-restore` input. */
  readonly v6: string;
  /** Parts of the rules this layout cannot express; they are left out. */
  readonly unsupported: readonly Unsupported[];
}

const DIR = {
  Ingress: { chain: 'PAL-I', peer: '-s', dispatch: '-d' },
  Egress: { chain: 'PAL-E', peer: '-d', dispatch: '-s' },
} as const;

const ICMP = {
  4: { proto: 'icmp', flag: '--icmp-type', reject: 'icmp-admin-prohibited' },
  6: { proto: 'ipv6-icmp', flag: '--icmpv6-type', reject: 'icmp6-adm-prohibited' },
} as const;

interface Script {
  readonly family: Family;
  readonly chains: Map<string, string[]>;
  readonly unsupported: Unsupported[];
}

function peerArgs(term: MatchTerm, family: Family, flag: string): string[] {
  if (term.peers === 'any') return [''];
  return term.peers
    .filter((r) => r.family === family)
    .flatMap((r) => rangeToCidrs(r).map((c) => `${flag} ${c}`));
}

function portArgs(s: Script, term: MatchTerm, where: string): string[] {
  if (term.ports === 'any') return [''];
  const out: string[] = [];
  for (const p of term.ports) {
    if (p.protocol === 'ICMP') {
      if (p.family !== s.family) continue;
      const icmp = ICMP[s.family];
      if (p.type === undefined && p.code !== undefined) {
        s.unsupported.push({ capability: 'icmpCodeWithoutType', where });
        continue;
      }
      const type =
        p.type === undefined ? '' : ` ${icmp.flag} ${p.type}${p.code === undefined ? '' : `/${p.code}`}`;
      out.push(`-p ${icmp.proto}${type}`);
      continue;
    }
    const proto = p.protocol.toLowerCase();
    if (p.from === 0 && p.to === 65535) out.push(`-p ${proto}`);
    else out.push(`-p ${proto} -m ${proto} --dport ${p.from === p.to ? p.from : `${p.from}:${p.to}`}`);
  }
  return out;
}

/** Match arguments of every peer × port combination of the terms. */
function matches(s: Script, terms: readonly MatchTerm[], direction: Direction, where: string): string[] {
  return terms.flatMap((t) => {
    const ports = portArgs(s, t, where);
    return peerArgs(t, s.family, DIR[direction].peer).flatMap((peer) =>
      ports.map((port) => [peer, port].filter((x) => x !== '').join(' ')),
    );
  });
}

const line = (m: string, target: string): string => (m === '' ? target : `${m} ${target}`);

function where(r: ResolvedRule): string {
  const p = r.source.policy;
  return `${r.source.direction} tier ${r.source.tier} ${p.kind} ${p.namespace ?? ''}/${p.name} rule ${r.source.rule}`;
}

/** A chain named by its content, so equal content is shared. */
function sharedChain(s: Script, prefix: string, body: string[]): string {
  const name = `${prefix}-${shortHash(body.join('\n'), 10)}`;
  if (!s.chains.has(name)) s.chains.set(name, body);
  return name;
}

/** Rules of one entry jumping to `target`; a sub-chain when something must be subtracted first. */
function entryRules(s: Script, e: PlanEntry, direction: Direction, target: string): string[] {
  const own = matches(s, e.rule.terms, direction, where(e.rule));
  if (e.unless.length === 0 && e.rule.exclude.length === 0) return own.map((m) => line(m, target));
  const body: string[] = [];
  for (const u of e.unless) {
    if (u.exclude.length > 0) {
      s.unsupported.push({
        capability: 'nestedExclusions',
        where: `${where(e.rule)}: would subtract ${where(u)}, which has negations (notPeers/notPorts)`,
      });
      return [];
    }
    body.push(...matches(s, u.terms, direction, where(u)).map((m) => line(m, '-j RETURN')));
  }
  body.push(...matches(s, e.rule.exclude, direction, where(e.rule)).map((m) => line(m, '-j RETURN')));
  body.push(...own.map((m) => line(m, target)));
  return [`-j ${sharedChain(s, 'PAL-X', body)}`];
}

function logPrefix(step: PlanStep, direction: Direction, tier: string): string {
  const p = step.policies[0];
  const who = p === undefined ? '' : `${p.kind}/${p.namespace ?? ''}/${p.name}`;
  // --nflog-prefix takes at most 64 characters.
  return `pal log ${direction[0]} ${tier} ${who}`.replace(/[^A-Za-z0-9_./:+ -]/g, '_').slice(0, 64);
}

interface TierContext {
  readonly direction: Direction;
  readonly tier: TierRules;
  readonly chains: readonly { readonly index: number; readonly name: string }[];
}

const allowTarget = (d: Direction): string => (d === 'Ingress' ? '-j ACCEPT' : `-g ${ING_DISPATCH}`);

function continueTarget(c: TierContext, at: number): string {
  const next = c.chains.find((ch) => ch.index >= at);
  return next ? `-g ${next.name}` : allowTarget(c.direction);
}

function stepTarget(s: Script, c: TierContext, step: PlanStep): string {
  switch (step.verdict) {
    case 'allow':
      return allowTarget(c.direction);
    case 'deny':
      return '-j PAL-DENY';
    case 'reject':
      return '-j PAL-REJECT';
    case 'pass':
      return continueTarget(c, step.continueAt ?? c.tier.index + 1);
    case 'log': {
      const prefix = logPrefix(step, c.direction, c.tier.tier.name);
      const body = [`-j NFLOG --nflog-group ${IPT_NFLOG_GROUP} --nflog-prefix "${prefix}"`];
      return `-g ${sharedChain(s, 'PAL-L', body)}`;
    }
  }
}

function tierChain(s: Script, c: TierContext): string[] {
  const out: string[] = [];
  for (const step of tierPlan(c.tier)) {
    const target = stepTarget(s, c, step);
    const rules = step.entries.flatMap((e) => entryRules(s, e, c.direction, target));
    if (rules.length === 0) continue;
    // Pass targets name this endpoint's chains: inline. Everything else is shared between endpoints.
    if (step.verdict === 'pass') out.push(...rules);
    else out.push(`-j ${sharedChain(s, 'PAL-S', rules)}`);
  }
  if (c.tier.isolated) out.push('-j PAL-DENY');
  else out.push(continueTarget(c, c.tier.index + 1));
  return out;
}

function directionChains(s: Script, id: string, d: DirectionRules): string {
  const chains = d.tiers.map((t, i) => ({ index: t.index, name: `${DIR[d.direction].chain}-${id}-${i}` }));
  d.tiers.forEach((tier, i) => {
    s.chains.set(
      (chains[i] as { name: string }).name,
      tierChain(s, { direction: d.direction, tier, chains }),
    );
  });
  return (chains[0] as { name: string }).name;
}

function familyScript(node: NodeRules, family: Family, unsupported: Unsupported[]): string {
  const s: Script = { family, chains: new Map(), unsupported };
  const egress: string[] = [];
  const ingress: string[] = [];
  for (const ep of node.endpoints) {
    const ips = ep.ips.filter((r) => r.family === family).flatMap(rangeToCidrs);
    if (ips.length === 0) continue;
    const id = endpointId(ep.key);
    if (ep.egress) {
      const first = directionChains(s, id, ep.egress);
      egress.push(...ips.map((ip) => `-s ${ip} -g ${first}`));
    }
    if (ep.ingress) {
      const first = directionChains(s, id, ep.ingress);
      ingress.push(...ips.map((ip) => `-d ${ip} -g ${first}`));
    }
  }
  const icmp = ICMP[family];
  const fixed: [string, string[]][] = [
    ['PAL-DENY', [`-j NFLOG --nflog-group ${IPT_DENY_NFLOG_GROUP}`, '-j DROP']],
    [
      'PAL-REJECT',
      [
        `-j NFLOG --nflog-group ${IPT_DENY_NFLOG_GROUP}`,
        '-p tcp -j REJECT --reject-with tcp-reset',
        `-j REJECT --reject-with ${icmp.reject}`,
      ],
    ],
    [ING_DISPATCH, [...ingress, '-j ACCEPT']],
  ];
  const conntrack = [
    '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    '-m conntrack --ctstate INVALID -j DROP',
  ];
  const all: [string, string[]][] = [
    ['PAL-FORWARD', [...conntrack, ...egress, `-g ${ING_DISPATCH}`]],
    // A pod talking to its own node's addresses: egress policy applies there too.
    ['PAL-INPUT', [...conntrack, ...egress]],
    ...fixed,
    ...s.chains,
  ];
  const lines = [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ...all.map(([c]) => `:${c} - [0:0]`),
    '-A INPUT -j PAL-INPUT',
    '-A FORWARD -j PAL-FORWARD',
    ...all.flatMap(([c, body]) => body.map((b) => `-A ${c} ${b}`)),
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Allows that carry HTTP rules: this layout has no steering to the L7 proxy, so their HTTP rules are left
 * out and the L3/L4 allow alone is enforced (every request on the port passes).
 */
function l7Unsupported(node: NodeRules, unsupported: Unsupported[]): void {
  for (const ep of node.endpoints)
    for (const d of [ep.ingress, ep.egress])
      for (const t of d?.tiers ?? [])
        for (const p of t.policies)
          for (const r of p.rules)
            if (r.l7 === 'http')
              unsupported.push({
                capability: 'l7Redirect',
                where: `${where(r)}: its HTTP rules (the L3/L4 allow is enforced alone)`,
              });
}

export function compileIptables(node: NodeRules): IptablesScripts {
  const unsupported: Unsupported[] = [];
  l7Unsupported(node, unsupported);
  const v4 = familyScript(node, 4, unsupported);
  const v6 = familyScript(node, 6, unsupported);
  // Both families walk the same rules: each finding once.
  const seen = new Map(unsupported.map((u) => [`${u.capability} ${u.where}`, u]));
  return { v4, v6, unsupported: [...seen.values()] };
}
