/**
 * Golden cases for what the Kubernetes-only compiler could not express: admin tiers, priority groups,
 * shadowing inside one policy, Pass targets, Reject, Log, negations and ICMP. Each case states the verdicts
 * it expects (checked through the nft interpreter and against the engine) and keeps the compiled script
 * in test/datapath/golden/tiers/<name>.nft for review.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { compileNftables, renderTable, resolveNodeRules } from '../../../src/datapath/index.js';
import { buildModel, evaluate } from '../../../src/engine/index.js';
import type { Policy, Rule, Tier } from '../../../src/ir/index.js';
import { KUBERNETES_TIER, SELECT_ALL, TIER_ORDER } from '../../../src/ir/index.js';
import { cluster, netpol, node, pod, podPeer, rule, tcp } from '../support/builders.js';
import { connectionVerdict } from '../support/nft-interpreter.js';

const GOLDEN = join(import.meta.dirname, '../../../../test/datapath/golden/tiers');
const UPDATE = process.env['PAL_UPDATE_GOLDEN'] === '1';

const a = pod('x', 'a', '10.0.1.1');
const b = pod('x', 'b', '10.0.1.2');
const c = pod('x', 'c', '10.0.1.3');
const PODS = { a, b, c };
const CLUSTER = cluster([a, b, c], [node('node-1', '10.255.0.1')]);
const EMERGENCY: Tier = { name: 'emergency', order: TIER_ORDER.antrea + 50, semantics: 'first-match' };

/** A policy of `dialect` selecting pod `on` in `tier` at `priority`, ingress rules as given. */
function policy(
  dialect: 'admin-network-policy' | 'calico' | 'antrea',
  name: string,
  tier: string,
  priority: number,
  on: string,
  ingress: Rule[],
  isolates: Policy['isolates'] = [],
): Policy {
  return {
    ref: { dialect, kind: dialect === 'admin-network-policy' ? 'AdminNetworkPolicy' : 'NetworkPolicy', name },
    tier,
    priority,
    subject: {
      namespaces: { kind: 'selector', selector: SELECT_ALL },
      pods: { kind: 'match', requirements: [{ key: 'pod', op: 'In', values: [on] }] },
    },
    isolates,
    ingress: ingress.map((r, index) => ({ ...r, index })),
    egress: [],
  };
}

const k8sAllow = (from: string, to: string): Policy =>
  netpol(`allow-${from}`, 'x', to, { ingress: [rule([podPeer(from)], 'any')] });

interface Case {
  readonly name: string;
  readonly policies: Policy[];
  readonly tiers?: Tier[];
  /** "b>a:80" (TCP), "b>a:53/UDP", "b>a:icmp8/0" → expected verdict. */
  readonly expect: Readonly<Record<string, 'accept' | 'drop' | 'reject'>>;
}

const CASES: Case[] = [
  {
    name: 'anp-deny-beats-kubernetes-allow',
    policies: [
      policy('admin-network-policy', 'no-b', 'admin', 10, 'a', [
        rule([podPeer('b')], [tcp(80)], { action: 'Deny' }),
      ]),
      k8sAllow('b', 'a'),
      k8sAllow('c', 'a'),
    ],
    expect: { 'b>a:80': 'drop', 'b>a:81': 'accept', 'c>a:80': 'accept' },
  },
  {
    name: 'same-policy-allow-shadows-its-deny',
    // Calico, default tier: "allow from b, then deny everything" — b stays allowed although the group's
    // deny steps come before its allows.
    policies: [
      policy('calico', 'allow-b-deny-rest', KUBERNETES_TIER, 100, 'a', [
        rule([podPeer('b')], [tcp(80)]),
        rule('any', 'any', { action: 'Deny' }),
      ]),
    ],
    expect: { 'b>a:80': 'accept', 'b>a:81': 'drop', 'c>a:80': 'drop' },
  },
  {
    name: 'priority-groups-deny-over-allow-first-deny-names-the-action',
    policies: [
      policy('calico', 'p1-reject-c', KUBERNETES_TIER, 100, 'a', [
        rule([podPeer('c')], 'any', { action: 'Reject' }),
      ]),
      policy('calico', 'p2-allow-all', KUBERNETES_TIER, 100, 'a', [rule('any', 'any')]),
      policy('calico', 'p3-deny-all', KUBERNETES_TIER, 100, 'a', [
        rule('any', [tcp(81)], { action: 'Deny' }),
      ]),
      policy('calico', 'q-deny-b', KUBERNETES_TIER, 200, 'a', [
        rule([podPeer('b')], 'any', { action: 'Deny' }),
      ]),
    ],
    expect: { 'b>a:80': 'accept', 'b>a:81': 'drop', 'c>a:80': 'reject', 'c>a:81': 'reject' },
  },
  {
    name: 'pass-to-the-kubernetes-stage-skips-later-admin-tiers',
    tiers: [EMERGENCY],
    policies: [
      policy('admin-network-policy', 'pass-b', 'admin', 10, 'a', [
        rule([podPeer('b')], 'any', { action: 'Pass', passTo: KUBERNETES_TIER }),
      ]),
      policy('antrea', 'deny-all', 'emergency', 5, 'a', [rule('any', 'any', { action: 'Deny' })]),
      k8sAllow('b', 'a'),
    ],
    expect: { 'b>a:80': 'accept', 'c>a:80': 'drop' },
  },
  {
    name: 'reject-resets-tcp-log-goes-on',
    policies: [
      policy('admin-network-policy', 'log-and-reject', 'admin', 10, 'a', [
        rule('any', 'any', { action: 'Log' }),
        rule([podPeer('c')], [tcp(80)], { action: 'Reject' }),
      ]),
    ],
    expect: { 'b>a:80': 'accept', 'c>a:80': 'reject', 'c>a:53/UDP': 'accept' },
  },
  {
    name: 'icmp-echo-and-negations',
    // Calico tier before the default one: allow ping except from c, and every TCP port but 22; the tier
    // isolates, so the rest is dropped at its end.
    tiers: [{ name: 'security', order: TIER_ORDER.calicoBefore + 1, semantics: 'first-match' }],
    policies: [
      policy(
        'calico',
        'ping-and-tcp',
        'security',
        1,
        'a',
        [
          rule('any', [{ kind: 'icmp', family: 4, type: 8 }], { notPeers: [podPeer('c')] }),
          rule('any', [{ kind: 'protocol', protocol: 'TCP' }], { notPorts: [tcp(22)] }),
        ],
        ['Ingress'],
      ),
    ],
    expect: {
      'b>a:icmp8/0': 'accept',
      'c>a:icmp8/0': 'drop',
      'b>a:icmp13/0': 'drop',
      'c>a:80': 'accept',
      'c>a:22': 'drop',
      'b>a:53/UDP': 'drop',
    },
  },
];

function probe(spec: string): {
  src: string;
  dst: string;
  protocol: 'TCP' | 'UDP' | 'ICMP';
  port: number;
  icmp?: { type: number; code: number };
} {
  const m = /^(\w+)>(\w+):(?:icmp(\d+)\/(\d+)|(\d+)(?:\/(TCP|UDP))?)$/.exec(spec);
  if (!m) throw new Error(`bad probe ${spec}`);
  const [, src = '', dst = '', type, code, port, proto] = m;
  if (type !== undefined)
    return { src, dst, protocol: 'ICMP', port: 0, icmp: { type: Number(type), code: Number(code) } };
  return { src, dst, protocol: proto === 'UDP' ? 'UDP' : 'TCP', port: Number(port) };
}

describe('nftables compiler: tiers, groups and every action (golden)', () => {
  for (const c of CASES) {
    const model = buildModel(CLUSTER, c.policies, c.tiers ?? []);
    const table = compileNftables(resolveNodeRules(model, 'node-1'));
    const tables = new Map([['node-1', table]]);

    it(`${c.name}: verdicts`, () => {
      const got: Record<string, string> = {};
      for (const spec of Object.keys(c.expect)) {
        const p = probe(spec);
        const src = PODS[p.src as keyof typeof PODS];
        const dst = PODS[p.dst as keyof typeof PODS];
        got[spec] = connectionVerdict(tables, src, dst, p.protocol, p.port, p.icmp).verdict;
        if (p.protocol !== 'ICMP') {
          // The same answer as the engine, the source of truth.
          const v = evaluate(model, {
            src: { kind: 'endpoint', endpoint: src },
            dst: { kind: 'endpoint', endpoint: dst },
            protocol: p.protocol,
            port: p.port,
          });
          assert.equal(
            got[spec],
            v.allowed ? 'accept' : v.action === 'Reject' ? 'reject' : 'drop',
            `${spec} vs engine`,
          );
        }
      }
      assert.deepEqual(got, c.expect);
    });

    it(`${c.name}: golden nft script`, () => {
      const text = renderTable(table);
      const file = join(GOLDEN, `${c.name}.nft`);
      if (UPDATE) {
        mkdirSync(GOLDEN, { recursive: true });
        writeFileSync(file, text);
      }
      assert.ok(existsSync(file), `${file} is missing: run the tests with PAL_UPDATE_GOLDEN=1 and review it`);
      assert.equal(text, readFileSync(file, 'utf8'));
    });
  }
});
