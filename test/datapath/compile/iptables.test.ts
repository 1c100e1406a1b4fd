import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileIptables, resolveNodeRules } from '../../../src/datapath/index.js';
import { buildModel } from '../../../src/engine/index.js';
import type { Policy } from '../../../src/ir/index.js';
import { cidrPeer, cluster, netpol, pod, podPeer, rule, tcp } from '../support/builders.js';

const a = pod('x', 'a', '10.0.1.1');
const b = pod('x', 'b', '10.0.1.2');

function compile(policies: Policy[]): ReturnType<typeof compileIptables> {
  return compileIptables(resolveNodeRules(buildModel(cluster([a, b]), policies), 'node-1'));
}

/** Lines of the script with hashed chain names made readable. */
function lines(policies: Policy[], family: 'v4' | 'v6' = 'v4'): string[] {
  const script = compile(policies)[family];
  return script
    .split('\n')
    .map((l) =>
      l.replace(/PAL-(I|E)-[0-9a-f]{8}-/g, 'PAL-$1-id-').replace(/PAL-([SXL])-[0-9a-f]{10}/g, 'PAL-$1-h'),
    );
}

const admin = (p: Policy): Policy => ({ ...p, tier: 'admin', isolates: [] });

describe('iptables baseline compiler', () => {
  it('no policy: only the shortcut rules', () => {
    const l = lines([]);
    assert.ok(l.includes('-A PAL-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'));
    assert.ok(l.includes('-A PAL-FORWARD -g PAL-ING-DISPATCH'));
    assert.equal(l.filter((x) => /PAL-[IE]-id/.test(x)).length, 0);
  });

  const cases: { name: string; policies: Policy[]; want: string[]; family?: 'v4' | 'v6' }[] = [
    {
      name: 'deny-all ingress: dispatch, then the isolation drop (with an nflog copy)',
      policies: [netpol('deny', 'x', 'a', {})],
      want: [
        '-A PAL-ING-DISPATCH -d 10.0.1.1/32 -g PAL-I-id-0',
        '-A PAL-I-id-0 -j PAL-DENY',
        '-A PAL-DENY -j NFLOG --nflog-group 101',
        '-A PAL-DENY -j DROP',
      ],
    },
    {
      name: 'a rule per peer × port in a step chain shared between endpoints',
      policies: [
        netpol('p', 'x', 'a', {
          ingress: [rule([podPeer('b'), cidrPeer('192.0.2.0/24', ['192.0.2.0/25'])], [tcp(80), tcp(90, 99)])],
        }),
      ],
      want: [
        '-A PAL-I-id-0 -j PAL-S-h',
        '-A PAL-S-h -s 10.0.1.2/32 -p tcp -m tcp --dport 80 -j ACCEPT',
        '-A PAL-S-h -s 10.0.1.2/32 -p tcp -m tcp --dport 90:99 -j ACCEPT',
        '-A PAL-S-h -s 192.0.2.128/25 -p tcp -m tcp --dport 80 -j ACCEPT',
        '-A PAL-S-h -s 192.0.2.128/25 -p tcp -m tcp --dport 90:99 -j ACCEPT',
      ],
    },
    {
      name: 'egress allow goes on to the ingress dispatch, so that the destination still decides',
      policies: [netpol('e', 'x', 'a', { isolates: ['Egress'], egress: [rule('any', 'any')] })],
      want: [
        '-A PAL-FORWARD -s 10.0.1.1/32 -g PAL-E-id-0',
        '-A PAL-INPUT -s 10.0.1.1/32 -g PAL-E-id-0',
        '-A PAL-S-h -g PAL-ING-DISPATCH',
        '-A PAL-ING-DISPATCH -j ACCEPT',
      ],
    },
    {
      name: 'first-match tiers in order: admin Deny, Pass to the Kubernetes tier, Reject answers TCP with a reset',
      policies: [
        admin(
          netpol('adm', 'x', 'a', {
            ingress: [
              rule([podPeer('b')], [tcp(80)], { action: 'Deny' }),
              rule('any', [tcp(81)], { action: 'Pass', passTo: 'kubernetes' }),
              rule('any', [tcp(82)], { action: 'Reject' }),
            ],
          }),
        ),
        netpol('k', 'x', 'a', { ingress: [rule([podPeer('b')], 'any')] }),
      ],
      want: [
        '-A PAL-I-id-0 -j PAL-S-h',
        '-A PAL-S-h -s 10.0.1.2/32 -p tcp -m tcp --dport 80 -j PAL-DENY',
        '-A PAL-I-id-0 -p tcp -m tcp --dport 81 -g PAL-I-id-1',
        '-A PAL-S-h -p tcp -m tcp --dport 82 -j PAL-REJECT',
        '-A PAL-I-id-0 -g PAL-I-id-1',
        '-A PAL-REJECT -p tcp -j REJECT --reject-with tcp-reset',
        '-A PAL-REJECT -j REJECT --reject-with icmp-admin-prohibited',
        '-A PAL-I-id-1 -j PAL-DENY',
      ],
    },
    {
      name: 'negations: a sub-chain returns for the excluded peers first',
      policies: [netpol('n', 'x', 'a', { ingress: [rule('any', [tcp(80)], { notPeers: [podPeer('b')] })] })],
      want: [
        '-A PAL-S-h -j PAL-X-h',
        '-A PAL-X-h -s 10.0.1.2/32 -j RETURN',
        '-A PAL-X-h -p tcp -m tcp --dport 80 -j ACCEPT',
      ],
    },
    {
      name: 'ICMP type and code (IPv4 and IPv6 scripts each take their family)',
      policies: [
        netpol('i', 'x', 'a', {
          ingress: [
            rule('any', [
              { kind: 'icmp', family: 4, type: 8, code: 0 },
              { kind: 'icmp', family: 6, type: 128 },
            ]),
          ],
        }),
      ],
      want: ['-A PAL-S-h -p icmp --icmp-type 8/0 -j ACCEPT'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const l = lines(c.policies, c.family);
      for (const w of c.want) assert.ok(l.includes(w), `missing: ${w}\n${l.join('\n')}`);
    });
  }

  it('reports what it cannot express instead of enforcing it wrongly', () => {
    const p = netpol('shadow', 'x', 'a', {
      ingress: [
        rule('any', [tcp(80)], { notPeers: [podPeer('b')] }),
        rule('any', [tcp(80)], { action: 'Deny' }),
      ],
    });
    assert.deepEqual(compile([p]).unsupported, [
      {
        capability: 'nestedExclusions',
        where:
          'Ingress tier kubernetes NetworkPolicy x/shadow rule 1: would subtract Ingress tier kubernetes ' +
          'NetworkPolicy x/shadow rule 0, which has negations (notPeers/notPorts)',
      },
    ]);
    assert.deepEqual(compile([admin(p)]).unsupported, [], 'first-match tiers need no subtraction');
  });

  it('reports HTTP rules as needing l7Redirect, once per rule, and enforces their L3/L4 allow', () => {
    const l7 = { kind: 'http' as const, rules: [{ method: 'GET' }] };
    const p = netpol('web', 'x', undefined, { ingress: [rule([podPeer('b')], [tcp(80)], { l7 })] });
    const out = compile([p]);
    assert.deepEqual(out.unsupported, [
      {
        capability: 'l7Redirect',
        where:
          'Ingress tier kubernetes NetworkPolicy x/web rule 0: its HTTP rules (the L3/L4 allow is enforced alone)',
      },
    ]);
    assert.equal(
      out.v4,
      compile([netpol('web', 'x', undefined, { ingress: [rule([podPeer('b')], [tcp(80)])] })]).v4,
    );
  });
});
