import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explain, formatExplanation } from '../../src/engine/explain.js';
import { buildModel } from '../../src/engine/model.js';
import type { Policy } from '../../src/ir/index.js';
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
} from './builders.js';

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

  void it('notes that FQDN peers never match at L3', () => {
    const e = run([
      netpol('x/out', isolating('Egress'), egress(rule('Allow', [{ kind: 'fqdn', pattern: '*.b' }]))),
    ]);
    assert.match(e.egress.policies[0]?.rules[0]?.notes.join(' ') ?? '', /FQDN/);
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
        'ingress y/b: selected by NetworkPolicy y/deny-all (Ingress); no rule allows TCP/80 from x/a → DENIED',
        '  [kubernetes] NetworkPolicy y/deny-all (isolates)',
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
        'ingress y/b: selected by NetworkPolicy y/allow (Ingress); rule 0 (Allow) of NetworkPolicy y/allow [kubernetes] matches TCP/80 from x/a → allowed',
        '  [kubernetes] NetworkPolicy y/allow (isolates)',
        '    rule 0 Allow: matched, decided',
      ],
    },
    {
      name: 'rejected on egress',
      policies: [tiered('admin', 'no-out', 3, egress(rule('Reject')))],
      lines: [
        'TCP/80 x/a → y/b: REJECTED',
        'egress x/a: selected by AdminNetworkPolicy no-out (Egress); rule 0 (Reject) of AdminNetworkPolicy no-out [admin] matches TCP/80 to y/b → REJECTED',
        '  [admin] AdminNetworkPolicy no-out',
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
