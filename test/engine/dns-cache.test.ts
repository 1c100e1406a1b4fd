/** The DNS cache model (src/engine/dns-cache.ts): what a node's proxy learnt, for how long. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { addressesOf, emptyDnsCache, expire, learn, learntNames } from '../../src/engine/dns-cache.js';
import type { DnsAnswer, DnsCache } from '../../src/engine/dns-cache.js';

const answer = (name: string, ips: string[], ttl: number, at = 0): DnsAnswer => ({ name, ips, ttl, at });

void describe('DNS cache', () => {
  void it('an address holds for its TTL from the answer, and not at its expiry (NPEP-133: stop new connections)', () => {
    const c = learn(emptyDnsCache(), answer('api.example.com', ['192.0.2.10'], 30, 100));
    assert.deepEqual([...learntNames(c, 100)], [['192.0.2.10', ['api.example.com']]]);
    assert.deepEqual([...learntNames(c, 129.999)], [['192.0.2.10', ['api.example.com']]]);
    assert.deepEqual([...learntNames(c, 130)], []);
  });

  void it('the minimum TTL floors short TTLs (Cilium --tofqdns-min-ttl, Antrea fqdnCacheMinTTL)', () => {
    const c = learn(emptyDnsCache(300), answer('a.example', ['192.0.2.1'], 5));
    assert.equal(learntNames(c, 299).size, 1);
    assert.equal(learntNames(c, 300).size, 0);
    const long = learn(emptyDnsCache(300), answer('a.example', ['192.0.2.1'], 3600));
    assert.equal(learntNames(long, 3599).size, 1, 'a TTL above the floor is kept');
  });

  void it('a TTL of 0 with no floor teaches nothing usable', () => {
    const c = learn(emptyDnsCache(), answer('a.example', ['192.0.2.1'], 0));
    assert.equal(learntNames(c, 0).size, 0);
  });

  void it('the same address again keeps the later expiry (Antrea fqdn.go onDNSResponse laterOf)', () => {
    let c = learn(emptyDnsCache(), answer('a.example', ['192.0.2.1'], 100, 0));
    c = learn(c, answer('a.example', ['192.0.2.1'], 10, 50));
    assert.equal(learntNames(c, 99).size, 1, 'a shorter later answer does not cut the record short');
    c = learn(c, answer('a.example', ['192.0.2.1'], 100, 50));
    assert.equal(learntNames(c, 149).size, 1, 'a longer later answer extends it');
  });

  void it('an address missing from a newer answer lives on until its own expiry (fqdn.go: "retain it")', () => {
    let c = learn(emptyDnsCache(), answer('a.example', ['192.0.2.1'], 100, 0));
    c = learn(c, answer('a.example', ['192.0.2.2'], 100, 10));
    assert.deepEqual(addressesOf(learntNames(c, 50), 'a.example'), ['192.0.2.1', '192.0.2.2']);
    assert.deepEqual(addressesOf(learntNames(c, 105), 'a.example'), ['192.0.2.2']);
  });

  void it('names are canonical (case, trailing dot) and addresses canonical (IPv6 compressed)', () => {
    const c = learn(emptyDnsCache(), answer('API.Example.COM.', ['2001:db8:0:0:0:0:0:1', 'not-an-ip'], 60));
    assert.deepEqual([...learntNames(c, 0)], [['2001:db8::1', ['api.example.com']]]);
    assert.deepEqual(addressesOf(learntNames(c, 0), 'api.example.com.'), ['2001:db8::1']);
  });

  void it('one address learnt for several names lists each name', () => {
    let c = learn(emptyDnsCache(), answer('b.example', ['198.51.100.7'], 60));
    c = learn(c, answer('a.example', ['198.51.100.7'], 60));
    assert.deepEqual(learntNames(c, 0).get('198.51.100.7'), ['a.example', 'b.example']);
  });

  void it('learn never changes its argument; a negative TTL or floor is refused', () => {
    const empty = emptyDnsCache();
    learn(empty, answer('a.example', ['192.0.2.1'], 60));
    assert.equal(empty.records.size, 0);
    assert.throws(() => learn(empty, answer('a.example', ['192.0.2.1'], -1)), RangeError);
    assert.throws(() => emptyDnsCache(-5), RangeError);
  });

  void it('expire(now) keeps exactly what learntNames(now) shows', () => {
    const ttl = fc.integer({ min: 0, max: 1000 });
    const ans = fc.record({
      name: fc.constantFrom('a.example', 'b.example', 'c.example'),
      ips: fc.subarray(['192.0.2.1', '192.0.2.2', '198.51.100.1'], { minLength: 1 }),
      ttl,
      at: fc.integer({ min: 0, max: 1000 }),
    });
    fc.assert(
      fc.property(
        fc.array(ans, { maxLength: 8 }),
        fc.integer({ min: 0, max: 1000 }),
        ttl,
        (answers, now, minTtl) => {
          const c = answers.reduce((acc: DnsCache, a) => learn(acc, a), emptyDnsCache(minTtl));
          assert.deepEqual(learntNames(expire(c, now), now), learntNames(c, now));
          for (const [name, byIp] of expire(c, now).records)
            for (const expires of byIp.values()) assert.ok(expires > now, `${name} kept past its expiry`);
        },
      ),
    );
  });
});
