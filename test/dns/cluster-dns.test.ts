/**
 * The lab's cluster DNS: the record table as pure lookups (Kubernetes DNS names, external hosts, NXDOMAIN
 * vs NODATA vs REFUSED), then the server on loopback answering real UDP and TCP queries, from dns-packet
 * and from dig.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ClusterDnsInputError,
  ClusterDnsServer,
  buildClusterDnsTable,
  dashedIp,
  safeBuildClusterDnsTable,
} from '../../src/dns/cluster-dns.js';
import type { ClusterDnsRecords, DnsLookup } from '../../src/dns/cluster-dns.js';
import { LOOPBACK, addresses, ask, dig, digStatus, firstTtl, noDig, rcode, sendRawUdp } from './client.js';

const RECORDS: ClusterDnsRecords = {
  namespaces: ['empty'],
  pods: [
    { namespace: 'prod', name: 'web-0', ips: ['10.244.1.3', 'fd00::a'] },
    { namespace: 'dev', name: 'client', ips: ['10.244.2.7'] },
  ],
  services: [
    { namespace: 'prod', name: 'web', clusterIPs: ['10.96.0.20'], endpoints: [{ ips: ['10.244.1.3'] }] },
    {
      namespace: 'prod',
      name: 'db',
      clusterIPs: [],
      endpoints: [{ ips: ['10.244.1.4'], hostname: 'db-0' }, { ips: ['10.244.1.5'] }],
    },
  ],
  hosts: [
    { names: ['api.example.com', 'API2.example.com.'], addresses: ['192.0.2.10', '2001:db8::10'] },
    { names: ['short.example.net'], addresses: ['198.51.100.7'], ttl: 1 },
  ],
};

function summary(result: DnsLookup): string {
  return result.kind === 'answer'
    ? `answer ${result.records.map((r) => `${r.ip}/${r.ttl}`).join(',')}`
    : result.kind;
}

describe('cluster DNS table', () => {
  const table = buildClusterDnsTable(RECORDS, { ttl: 30, zones: ['example.com'] });
  const cases: [string, string, string, string][] = [
    ['service ClusterIP', 'web.prod.svc.cluster.local', 'A', 'answer 10.96.0.20/30'],
    ['trailing dot and case do not matter', 'WEB.prod.svc.Cluster.Local.', 'A', 'answer 10.96.0.20/30'],
    [
      'headless service: its ready endpoints',
      'db.prod.svc.cluster.local',
      'A',
      'answer 10.244.1.4/30,10.244.1.5/30',
    ],
    [
      'endpoint hostname under a headless service',
      'db-0.db.prod.svc.cluster.local',
      'A',
      'answer 10.244.1.4/30',
    ],
    ['an A-only name asked for AAAA is NODATA', 'web.prod.svc.cluster.local', 'AAAA', 'nodata'],
    ['a name with records asked for TXT is NODATA', 'web.prod.svc.cluster.local', 'TXT', 'nodata'],
    ['empty non-terminal is NODATA (RFC 8020)', 'prod.svc.cluster.local', 'A', 'nodata'],
    ['the zone apex exists', 'cluster.local', 'A', 'nodata'],
    ['unknown service', 'nope.prod.svc.cluster.local', 'A', 'nxdomain'],
    ['unknown namespace', 'web.nowhere.svc.cluster.local', 'A', 'nxdomain'],
    ['pod A record, dashed IPv4', '10-244-1-3.prod.pod.cluster.local', 'A', 'answer 10.244.1.3/30'],
    [
      'pods insecure: any address in a namespace that exists',
      '10-9-9-9.empty.pod.cluster.local',
      'A',
      'answer 10.9.9.9/30',
    ],
    ['pod AAAA record, dashed IPv6', 'fd00--a.prod.pod.cluster.local', 'AAAA', 'answer fd00::a/30'],
    ['pod IPv4 name asked for AAAA', '10-244-1-3.prod.pod.cluster.local', 'AAAA', 'nodata'],
    ['pod name in an unknown namespace', '10-244-1-3.nowhere.pod.cluster.local', 'A', 'nxdomain'],
    ['pod name that is no address', 'web-0.prod.pod.cluster.local', 'A', 'nxdomain'],
    ['namespace under pod. exists', 'prod.pod.cluster.local', 'A', 'nodata'],
    ['external host A', 'api.example.com', 'A', 'answer 192.0.2.10/30'],
    ['external host AAAA', 'api.example.com', 'AAAA', 'answer 2001:db8::10/30'],
    [
      'external name registered with a trailing dot and capitals',
      'api2.example.com',
      'A',
      'answer 192.0.2.10/30',
    ],
    ['unknown name in a served external zone', 'other.example.com', 'A', 'nxdomain'],
    [
      'external host with its own TTL, outside any served zone',
      'short.example.net',
      'A',
      'answer 198.51.100.7/1',
    ],
    ['below an external name outside any zone', 'x.short.example.net', 'A', 'refused'],
    ['a name this server does not serve', 'www.example.org', 'A', 'refused'],
  ];
  for (const [what, name, type, expected] of cases) {
    it(`${what}: ${name} ${type} → ${expected}`, () => {
      assert.equal(summary(table.lookup(name, type)), expected);
    });
  }

  it('pods verified: only addresses of pods in that namespace', () => {
    const verified = buildClusterDnsTable(RECORDS, { pods: 'verified' });
    assert.equal(summary(verified.lookup('10-244-1-3.prod.pod.cluster.local', 'A')), 'answer 10.244.1.3/5');
    assert.equal(verified.lookup('10-244-2-7.prod.pod.cluster.local', 'A').kind, 'nxdomain');
    assert.equal(verified.lookup('10-9-9-9.empty.pod.cluster.local', 'A').kind, 'nxdomain');
  });

  it('a custom cluster domain moves every name', () => {
    const t = buildClusterDnsTable(RECORDS, { clusterDomain: 'lab.internal' });
    assert.equal(t.lookup('web.prod.svc.lab.internal', 'A').kind, 'answer');
    assert.equal(t.lookup('web.prod.svc.cluster.local', 'A').kind, 'refused');
  });

  it('negative answers name the zone whose SOA they carry', () => {
    assert.deepEqual(table.lookup('nope.prod.svc.cluster.local', 'A'), {
      kind: 'nxdomain',
      zone: 'cluster.local',
    });
    assert.deepEqual(table.lookup('other.example.com', 'A'), { kind: 'nxdomain', zone: 'example.com' });
  });

  it('bad input: every problem reported, the throwing form carries them', () => {
    const bad: ClusterDnsRecords = {
      pods: [{ namespace: 'prod', name: 'p', ips: ['10.0.0.300'] }],
      hosts: [
        { names: ['ok.example.com', 'bad_.-x..example.com'], addresses: ['192.0.2.1', 'nope'], ttl: -1 },
      ],
    };
    const result = safeBuildClusterDnsTable(bad);
    assert.equal(result.ok, false);
    const paths = result.ok ? [] : result.problems.map((p) => p.path);
    assert.deepEqual(paths.sort(), [
      'hosts[0].names[0].ips[1]',
      'hosts[0].names[1]',
      'hosts[0].ttl',
      'pods[0].ips[0]',
    ]);
    assert.throws(() => buildClusterDnsTable(bad), ClusterDnsInputError);
  });

  it('dashed IPs', () => {
    assert.equal(dashedIp('192-0-2-1'), '192.0.2.1');
    assert.equal(dashedIp('2001-db8--1'), '2001:db8::1');
    assert.equal(dashedIp('2001-0db8-0-0-0-0-0-1'), '2001:db8::1');
    assert.equal(dashedIp('1-2-3'), undefined);
    assert.equal(dashedIp('web'), undefined);
  });
});

describe('cluster DNS server on loopback', () => {
  const server = new ClusterDnsServer({ table: buildClusterDnsTable(RECORDS, { ttl: 30 }) });
  let port = 0;
  before(async () => {
    port = (await server.listen({ host: LOOPBACK, port: 0 })).port;
  });
  after(() => server.close());

  it('UDP: a service A record, authoritative, TTL as configured', async () => {
    const { packet } = await ask(port, 'web.prod.svc.cluster.local');
    assert.equal(rcode(packet), 'NOERROR');
    assert.equal(packet.flag_aa, true);
    assert.deepEqual(addresses(packet), ['10.96.0.20']);
    assert.equal(firstTtl(packet), 30);
  });

  it('TCP: an external host AAAA', async () => {
    const { packet } = await ask(port, 'api.example.com', 'AAAA', { tcp: true });
    assert.deepEqual(addresses(packet), ['2001:db8::10']);
  });

  it('the answer repeats the name as the client spelt it (0x20)', async () => {
    const { packet } = await ask(port, 'WeB.PrOd.svc.cluster.local');
    assert.equal(packet.answers?.[0]?.name, 'WeB.PrOd.svc.cluster.local');
  });

  it('NXDOMAIN in the cluster zone carries its SOA; other zones are REFUSED', async () => {
    const nx = await ask(port, 'nope.prod.svc.cluster.local');
    assert.equal(rcode(nx.packet), 'NXDOMAIN');
    assert.equal(nx.packet.authorities?.[0]?.type, 'SOA');
    const refused = await ask(port, 'www.example.org');
    assert.equal(rcode(refused.packet), 'REFUSED');
  });

  it('dig over UDP and over TCP', { skip: noDig }, async () => {
    const udp = await dig(port, ['10-244-1-3.prod.pod.cluster.local', 'A']);
    assert.equal(digStatus(udp), 'NOERROR');
    assert.match(udp, /10-244-1-3\.prod\.pod\.cluster\.local\.\s+30\s+IN\s+A\s+10\.244\.1\.3/);
    const tcp = await dig(port, ['+tcp', 'api.example.com', 'A']);
    assert.equal(digStatus(tcp), 'NOERROR');
    assert.match(tcp, /api\.example\.com\.\s+30\s+IN\s+A\s+192\.0\.2\.10/);
    assert.equal(digStatus(await dig(port, ['nope.prod.svc.cluster.local'])), 'NXDOMAIN');
    assert.equal(digStatus(await dig(port, ['+tcp', 'www.example.org'])), 'REFUSED');
  });

  it('a table swap is seen by the next query', async () => {
    server.setTable(
      buildClusterDnsTable({ hosts: [{ names: ['new.example.com'], addresses: ['203.0.113.5'] }] }),
    );
    try {
      assert.deepEqual(addresses((await ask(port, 'new.example.com')).packet), ['203.0.113.5']);
      assert.equal(rcode((await ask(port, 'web.prod.svc.cluster.local')).packet), 'NXDOMAIN');
    } finally {
      server.setTable(buildClusterDnsTable(RECORDS, { ttl: 30 }));
    }
  });

  it('garbage is counted and dropped; the server still answers', async () => {
    const before = server.counters.malformed;
    await sendRawUdp(port, Buffer.from('not dns at all'));
    await sendRawUdp(port, Buffer.alloc(0));
    const { packet } = await ask(port, 'web.prod.svc.cluster.local');
    assert.deepEqual(addresses(packet), ['10.96.0.20']);
    assert.equal(server.counters.malformed, before + 2);
  });
});
