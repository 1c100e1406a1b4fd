import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explain, formatExplanation } from '../../src/engine/explain.js';
import { buildModel } from '../../src/engine/model.js';
import type { Peer, Policy } from '../../src/ir/index.js';
import {
  cluster,
  egress,
  flow,
  ingress,
  ips,
  isolating,
  labels,
  netpol,
  pod,
  podsIn,
  rule,
  sel,
  tcp,
  tiered,
  dialectPolicy,
  passTo,
  titled,
  unless,
  cidr,
} from './builders.js';
import { L7_NOTE } from '../../src/engine/explain.js';
import type { Tier } from '../../src/ir/index.js';
import { KUBERNETES_TIER, TIER_ORDER } from '../../src/ir/index.js';

const A = pod('x/a', labels({ app: 'a' }), ips('10.0.0.1'));
const B = pod('y/b', labels({ app: 'b' }), ips('10.0.0.2'));
const CLUSTER = cluster([A, B]);
const run = (policies: Policy[], port = 80) => explain(buildModel(CLUSTER, policies), flow(A, B, port));

void describe('explain', () => {
  void it('reports rules with the part that did not match', () => {
    const e = run([
      netpol(
        'y/web',
        isolating('Ingress'),
        ingress(
          rule('Allow', [podsIn(['z'])], [tcp(80)]),
          rule('Allow', [podsIn(['x'])], [tcp(443)]),
          rule('Allow', [podsIn(['z'])], [tcp(443)]),
        ),
      ),
    ]);
    assert.deepEqual(
      e.ingress.policies.map((p) => [p.policy.name, p.isolates, p.rules.map((r) => r.outcome)]),
      [['web', true, ['peer-mismatch', 'port-mismatch', 'peer-and-port-mismatch']]],
    );
    assert.equal(e.verdict.allowed, false);
    assert.deepEqual(e.egress.policies, []);
  });

  void it('marks the deciding, logged and unreached rules of a first-match tier', () => {
    const e = run([tiered('admin', 'adm', 1, ingress(rule('Log'), rule('Deny'), rule('Allow')))]);
    assert.deepEqual(
      e.ingress.policies[0]?.rules.map((r) => r.outcome),
      ['logged', 'decided', 'not-reached'],
    );
  });

  void it('marks a pass', () => {
    const e = run([tiered('admin', 'adm', 1, egress(rule('Pass')))]);
    assert.deepEqual(
      e.egress.policies[0]?.rules.map((r) => r.outcome),
      ['passed'],
    );
  });

  void it('notes that FQDN peers match nothing while no resolution is given', () => {
    const fqdn: Peer = { kind: 'fqdn', pattern: '*.b', semantics: 'network-policy-api', matchesPods: true };
    const e = run([netpol('x/out', isolating('Egress'), egress(rule('Allow', [fqdn])))]);
    const notes = e.egress.policies[0]?.rules[0]?.notes.join(' ') ?? '';
    assert.match(notes, /none are given here \(model resolutions with --dns NAME=IP\)/);
    assert.match(notes, /no name is learnt for/);
  });

  void it('says which negation excluded the flow', () => {
    const e = run([
      netpol('y/web', isolating('Ingress'), ingress(unless(rule('Allow'), [cidr('10.0.0.0/31')]))),
      netpol('y/ports', isolating('Ingress'), ingress(unless(rule('Allow'), [], [tcp(443), tcp(80)]))),
    ]);
    assert.deepEqual(
      e.ingress.policies.map((p) => [p.policy.name, p.rules[0]?.outcome, p.rules[0]?.notes]),
      [
        ['ports', 'excluded', ['excluded by notPorts[1] (TCP/80)']],
        ['web', 'excluded', ['excluded by notPeers[0] (10.0.0.0/31)']],
      ],
    );
    assert.match(
      formatExplanation(e),
      /rule 0 Allow: matched, but excluded by a negation\n {6}note: excluded by notPeers\[0\]/,
    );
  });

  void it('notes that an HTTP match is decided by the node proxy on rules that matched at L3/L4', () => {
    const l7 = { kind: 'http', rules: [{ method: 'GET', path: '/' }] } as const;
    const e = run([
      netpol(
        'y/web',
        isolating('Ingress'),
        ingress({ ...rule('Allow', [podsIn(['z'])]), l7 }, { ...rule('Allow'), l7 }),
      ),
    ]);
    // The first rule's peer misses (and says why); only the rule that matched carries the L7 note.
    assert.deepEqual(
      e.ingress.policies[0]?.rules.map((r) => r.notes.filter((n) => n === L7_NOTE)),
      [[], [L7_NOTE]],
    );
    assert.match(e.ingress.policies[0]?.rules[0]?.notes[0] ?? '', /^peer 0 .* is not selected$/);
    assert.match(L7_NOTE, /decided per request by the node proxy/);
  });

  void it('records a pass jump with the tier it continued at and the tiers it skipped', () => {
    const tiers: Tier[] = [
      { name: 'securityops', order: TIER_ORDER.antrea + 100, semantics: 'first-match', dialect: 'antrea' },
      { name: 'application', order: TIER_ORDER.antrea + 250, semantics: 'first-match', dialect: 'antrea' },
    ];
    const model = buildModel(
      CLUSTER,
      [
        dialectPolicy(
          'antrea',
          'securityops',
          'hand-off',
          1,
          ingress(titled(passTo(KUBERNETES_TIER), 'to-k8s')),
        ),
        dialectPolicy('antrea', 'application', 'y/app', 1, ingress(rule('Deny'))),
        netpol('y/web', isolating('Ingress'), ingress(titled(rule('Allow'), 'web'))),
      ],
      tiers,
    );
    const e = explain(model, flow(A, B));
    assert.equal(e.verdict.allowed, true);
    assert.deepEqual(
      e.ingress.policies.map(
        (p) =>
          `${p.tier}:${p.rules.map((r) => `${r.outcome}${r.passedTo ? `>${r.passedTo}` : ''}`).join(',')}`,
      ),
      ['securityops:passed>kubernetes', 'application:not-reached', 'kubernetes:decided'],
    );
    const lines = formatExplanation(e).split('\n');
    assert.ok(
      lines.includes(
        '  pass: rule 0 "to-k8s" (Pass) of antrea GlobalNetworkPolicy hand-off in tier securityops → continues at tier kubernetes (passTo kubernetes), skipping application',
      ),
      lines.join('\n'),
    );
    assert.ok(
      lines.includes('    rule 0 "to-k8s" Pass: matched, passed to tier kubernetes'),
      lines.join('\n'),
    );
    assert.match(
      lines.find((l) => l.startsWith('ingress')) ?? '',
      /rule 0 "web" \(Allow\) of kubernetes NetworkPolicy y\/web in tier kubernetes matches/,
    );
  });

  void it('names the dialect of a decision in the Kubernetes stage', () => {
    const e = run([
      netpol('y/web', isolating('Ingress'), ingress(rule('Allow'))),
      dialectPolicy(
        'cilium',
        KUBERNETES_TIER,
        'y/no-a',
        0,
        ingress(titled(rule('Deny', [podsIn(['x'])]), 'no-x')),
      ),
    ]);
    assert.equal(e.verdict.allowed, false);
    assert.match(
      formatExplanation(e),
      /rule 0 "no-x" \(Deny\) of cilium CiliumNetworkPolicy y\/no-a in tier kubernetes matches TCP\/80 from x\/a → DENIED/,
    );
  });

  void it('is plain JSON data', () => {
    const e = run([netpol('y/deny', isolating('Ingress'))]);
    assert.deepEqual(JSON.parse(JSON.stringify(e)), e);
  });
});

void describe('formatExplanation', () => {
  const cases: { name: string; policies: Policy[]; lines: string[] }[] = [
    {
      name: 'isolated destination',
      policies: [netpol('y/deny-all', isolating('Ingress'))],
      lines: [
        'TCP/80 x/a → y/b: DENIED',
        'egress x/a: not isolated (no policy selects it) → allowed',
        'ingress y/b: selected by kubernetes NetworkPolicy y/deny-all (Ingress); isolated in tier kubernetes and no rule allows TCP/80 from x/a → DENIED',
        '  [tier kubernetes] kubernetes NetworkPolicy y/deny-all (isolates)',
        '    no rules',
      ],
    },
    {
      name: 'allowed by a rule',
      policies: [
        netpol('y/allow', isolating('Ingress'), ingress(rule('Allow', [podsIn(['x'], sel({ app: 'a' }))]))),
      ],
      lines: [
        'TCP/80 x/a → y/b: ALLOWED',
        'egress x/a: not isolated (no policy selects it) → allowed',
        'ingress y/b: selected by kubernetes NetworkPolicy y/allow (Ingress); rule 0 (Allow) of kubernetes NetworkPolicy y/allow in tier kubernetes matches TCP/80 from x/a → allowed',
        '  [tier kubernetes] kubernetes NetworkPolicy y/allow (isolates)',
        '    rule 0 Allow: matched, decided',
      ],
    },
    {
      name: 'rejected on egress',
      policies: [tiered('admin', 'no-out', 3, egress(rule('Reject')))],
      lines: [
        'TCP/80 x/a → y/b: REJECTED',
        'egress x/a: selected by admin-network-policy AdminNetworkPolicy no-out (Egress); rule 0 (Reject) of admin-network-policy AdminNetworkPolicy no-out in tier admin matches TCP/80 to y/b → REJECTED',
        '  [tier admin] admin-network-policy AdminNetworkPolicy no-out',
        '    rule 0 Reject: matched, decided',
        'ingress y/b: not isolated (no policy selects it) → allowed',
      ],
    },
  ];
  for (const c of cases) {
    void it(c.name, () => assert.deepEqual(formatExplanation(run(c.policies)).split('\n'), c.lines));
  }

  void it('says when the source is its own destination', () => {
    const text = formatExplanation(explain(buildModel(CLUSTER, []), flow(A, A)));
    assert.match(text, /egress x\/a: traffic to itself \(loopback\) → allowed/);
  });
});
