/**
 * The baseline we measure against: the classic iptables-CNI layout, from the same resolved endpoint rules
 * as the nftables compiler. Pure. Every packet walks a list: per-pod dispatch rules in FORWARD, then per
 * policy one chain with a rule per peer × port, so cost grows with pods and rules — which is the point.
 *
 *   PAL-FORWARD: ESTABLISHED,RELATED accept; INVALID drop; `-s podIP -j PAL-EGR-<id>`;
 *                `-d podIP -j PAL-ING-<id>`   (PAL-INPUT: the same, egress only: pod → own node)
 *   PAL-ING-<id>: clear the allow mark; `-j PAL-P-<hash>` per policy; mark → ACCEPT; DROP (isolated)
 *   PAL-EGR-<id>: same, but mark → RETURN (the destination's ingress chain must still run)
 *   PAL-P-<hash>: `-s peer -p proto --dport ports -j MARK` (allow), `-j DROP` (deny), ...
 *
 * Only union tiers (Kubernetes NetworkPolicy) are expressed; first-match tiers are reported as
 * unsupported rather than enforced wrongly. The output is a full `iptables-restore` of the filter table.
 */
import type { Family } from '../../ir/cidr.js';
import type { Direction } from '../../ir/policy.js';
import { policyId } from '../../ir/policy.js';
import type { DirectionRules, MatchTerm, NodeRules, ResolvedRule } from './endpoint-rules.js';
import { endpointId } from './nftables.js';
import { shortHash } from './nft-state.js';
import { rangeToCidrs } from './ranges.js';

const ALLOW_BIT = '0x10000';
export const ALLOW_MARK = `${ALLOW_BIT}/${ALLOW_BIT}`;
export const IPT_NFLOG_GROUP = 100;

export interface IptablesScripts {
  /** `iptables-restore` input. */
  readonly v4: string;
  /** `ip6tables-restore` input. */
  readonly v6: string;
  /** Parts of the rules this layout cannot express; they are left out. */
  readonly unsupported: readonly string[];
}

const DIR = {
  Ingress: { chain: 'PAL-ING', peer: '-s', dispatch: '-d', allow: 'ACCEPT' },
  Egress: { chain: 'PAL-EGR', peer: '-d', dispatch: '-s', allow: 'RETURN' },
} as const;

function peerArgs(term: MatchTerm, family: Family, flag: string): string[] | undefined {
  if (term.peers === 'any') return [''];
  const cidrs = term.peers.filter((r) => r.family === family).flatMap(rangeToCidrs);
  return cidrs.length === 0 ? undefined : cidrs.map((c) => `${flag} ${c}`);
}

function portArgs(term: MatchTerm): string[] {
  if (term.ports === 'any') return [''];
  return term.ports.map((p) => {
    const proto = p.protocol.toLowerCase();
    if (p.from === 0 && p.to === 65535) return `-p ${proto}`;
    const ports = p.from === p.to ? `${p.from}` : `${p.from}:${p.to}`;
    return `-p ${proto} -m ${proto} --dport ${ports}`;
  });
}

function target(rule: ResolvedRule): string | undefined {
  switch (rule.action) {
    case 'Allow':
      return `-j MARK --set-xmark ${ALLOW_MARK}`;
    case 'Deny':
      return '-j DROP';
    case 'Reject':
      return '-j REJECT';
    case 'Log':
      return `-j NFLOG --nflog-group ${IPT_NFLOG_GROUP}`;
    case 'Pass':
      return undefined;
  }
}

/** Rule bodies of one policy's chain: a rule per peer × port. */
function policyRules(rules: readonly ResolvedRule[], family: Family, direction: Direction): string[] {
  const out: string[] = [];
  for (const rule of rules) {
    const t = target(rule);
    if (t === undefined) continue;
    for (const term of rule.terms) {
      const peers = peerArgs(term, family, DIR[direction].peer);
      if (peers === undefined) continue;
      for (const peer of peers) {
        for (const port of portArgs(term)) out.push([peer, port, t].filter((s) => s !== '').join(' '));
      }
    }
  }
  return out;
}

interface Script {
  readonly chains: Set<string>;
  readonly rules: string[];
  readonly policyChains: Map<string, string[]>;
}

function directionChain(
  s: Script,
  epChain: string,
  d: DirectionRules,
  family: Family,
  unsupported: string[],
  epKey: string,
): void {
  s.chains.add(epChain);
  s.rules.push(`-A ${epChain} -j MARK --set-xmark 0x0/${ALLOW_BIT}`);
  let isolated = false;
  for (const tier of d.tiers) {
    if (tier.tier.semantics !== 'union') {
      unsupported.push(`${epKey} ${d.direction}: tier ${tier.tier.name} is first-match`);
      continue;
    }
    isolated ||= tier.isolated;
    // A chain per policy, in the order its rules first appear.
    const byPolicy = new Map<string, ResolvedRule[]>();
    for (const r of tier.rules) {
      const id = policyId(r.source.policy);
      byPolicy.set(id, [...(byPolicy.get(id) ?? []), r]);
    }
    for (const rules of byPolicy.values()) {
      const body = policyRules(rules, family, d.direction);
      const name = `PAL-P-${shortHash(`${d.direction}\n${body.join('\n')}`, 10)}`;
      if (!s.policyChains.has(name)) s.policyChains.set(name, body);
      s.rules.push(`-A ${epChain} -j ${name}`);
    }
  }
  s.rules.push(`-A ${epChain} -m mark --mark ${ALLOW_MARK} -j ${DIR[d.direction].allow}`);
  if (isolated) s.rules.push(`-A ${epChain} -j DROP`);
}

function familyScript(node: NodeRules, family: Family, unsupported: string[]): string {
  const s: Script = { chains: new Set(['PAL-FORWARD']), rules: [], policyChains: new Map() };
  const dispatch: string[] = [];
  // All egress dispatch before any ingress dispatch: an egress RETURN must still reach the ingress rules.
  for (const direction of ['Egress', 'Ingress'] as const) {
    for (const ep of node.endpoints) {
      const d = direction === 'Ingress' ? ep.ingress : ep.egress;
      const ips = ep.ips.filter((r) => r.family === family);
      if (!d || ips.length === 0) continue;
      const chain = `${DIR[direction].chain}-${endpointId(ep.key)}`;
      for (const addr of ips.flatMap(rangeToCidrs)) {
        dispatch.push(`-A PAL-FORWARD ${DIR[direction].dispatch} ${addr} -j ${chain}`);
      }
      directionChain(s, chain, d, family, family === 4 ? unsupported : [], ep.key);
    }
  }
  const lines = [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ...[...s.chains, ...s.policyChains.keys()].map((c) => `:${c} - [0:0]`),
    ':PAL-INPUT - [0:0]',
    '-A INPUT -j PAL-INPUT',
    '-A FORWARD -j PAL-FORWARD',
    ...['PAL-FORWARD', 'PAL-INPUT'].flatMap((c) => [
      `-A ${c} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
      `-A ${c} -m conntrack --ctstate INVALID -j DROP`,
    ]),
    ...dispatch,
    // A pod talking to its own node's addresses: egress policy applies there too.
    ...dispatch.filter((l) => l.includes(' -s ')).map((l) => l.replace('-A PAL-FORWARD', '-A PAL-INPUT')),
    ...s.rules,
    ...[...s.policyChains].flatMap(([name, body]) => body.map((b) => `-A ${name} ${b}`)),
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}

export function compileIptables(node: NodeRules): IptablesScripts {
  const unsupported: string[] = [];
  return { v4: familyScript(node, 4, unsupported), v6: familyScript(node, 6, unsupported), unsupported };
}
