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

/** Lines of the v4 script with hashed chain names made readable. */
function lines(policies: Policy[]): string[] {
  return compile(policies)
    .v4.split('\n')
    .map((l) =>
      l.replace(/PAL-(ING|EGR)-[0-9a-f]{8}/g, 'PAL-$1-id').replace(/PAL-P-[0-9a-f]{10}/g, 'PAL-P-h'),
    );
}

describe('iptables baseline compiler', () => {
  it('no policy: only the shortcut rules', () => {
    const l = lines([]);
    assert.ok(l.includes('-A PAL-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'));
    assert.equal(l.filter((x) => x.includes('PAL-ING') || x.includes('PAL-EGR')).length, 0);
  });

  const cases: { name: string; policies: Policy[]; want: string[] }[] = [
    {
      name: 'deny-all ingress: dispatch, clear mark, mark check, drop',
      policies: [netpol('deny', 'x', 'a', {})],
      want: [
        '-A PAL-FORWARD -d 10.0.1.1/32 -j PAL-ING-id',
        '-A PAL-ING-id -j MARK --set-xmark 0x0/0x10000',
        '-A PAL-ING-id -m mark --mark 0x10000/0x10000 -j ACCEPT',
        '-A PAL-ING-id -j DROP',
      ],
    },
    {
      name: 'a rule per peer × port in the policy chain',
      policies: [
        netpol('p', 'x', 'a', {
          ingress: [rule([podPeer('b'), cidrPeer('192.0.2.0/24', ['192.0.2.0/25'])], [tcp(80), tcp(90, 99)])],
        }),
      ],
      want: [
        '-A PAL-P-h -s 10.0.1.2/32 -p tcp -m tcp --dport 80 -j MARK --set-xmark 0x10000/0x10000',
        '-A PAL-P-h -s 10.0.1.2/32 -p tcp -m tcp --dport 90:99 -j MARK --set-xmark 0x10000/0x10000',
        '-A PAL-P-h -s 192.0.2.128/25 -p tcp -m tcp --dport 80 -j MARK --set-xmark 0x10000/0x10000',
        '-A PAL-P-h -s 192.0.2.128/25 -p tcp -m tcp --dport 90:99 -j MARK --set-xmark 0x10000/0x10000',
      ],
    },
    {
      name: 'egress allow returns so that ingress dispatch still runs',
      policies: [netpol('e', 'x', 'a', { isolates: ['Egress'], egress: [rule('any', 'any')] })],
      want: [
        '-A PAL-FORWARD -s 10.0.1.1/32 -j PAL-EGR-id',
        '-A PAL-INPUT -s 10.0.1.1/32 -j PAL-EGR-id',
        '-A PAL-EGR-id -m mark --mark 0x10000/0x10000 -j RETURN',
        '-A PAL-P-h -j MARK --set-xmark 0x10000/0x10000',
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const l = lines(c.policies);
      for (const w of c.want) assert.ok(l.includes(w), `missing: ${w}\n${l.join('\n')}`);
    });
  }

  it('reports first-match tiers as unsupported instead of enforcing them wrongly', () => {
    const admin: Policy = {
      ...netpol('adm', 'x', 'a', { ingress: [rule('any', 'any', { action: 'Deny' })] }),
      tier: 'admin',
    };
    assert.deepEqual(compile([admin]).unsupported, ['x/a Ingress: tier admin is first-match']);
  });
});
