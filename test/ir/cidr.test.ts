import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  canonicalIp,
  cidrContainsIp,
  cidrLast,
  cidrWithin,
  formatCidr,
  formatIp,
  parseCidr,
  parseIp,
} from '../../src/ir/index.js';

describe('parseIp / canonicalIp', () => {
  const cases: [string, string | undefined][] = [
    ['10.0.0.1', '10.0.0.1'],
    ['255.255.255.255', '255.255.255.255'],
    ['256.0.0.1', undefined],
    ['10.0.0', undefined],
    ['010.0.0.1', undefined], // leading zeros are ambiguous; the API server rejects them
    ['fd00::1', 'fd00::1'],
    ['FD00:0:0:0:0:0:0:1', 'fd00::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // RFC 5952: the first longest zero run
    ['::', '::'],
    ['::ffff:10.0.0.1', '::ffff:a00:1'],
    ['1::2::3', undefined],
    ['fd00::g', undefined],
    ['', undefined],
  ];
  for (const [input, want] of cases) {
    it(`${JSON.stringify(input)} → ${String(want)}`, () => assert.equal(canonicalIp(input), want));
  }

  it('round-trips every IPv4 and IPv6 value through text', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), (v) => {
        assert.deepEqual(parseIp(formatIp({ family: 4, value: v })), { family: 4, value: v });
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (v) => {
        assert.deepEqual(parseIp(formatIp({ family: 6, value: v })), { family: 6, value: v });
      }),
    );
  });
});

describe('parseCidr and containment', () => {
  it('clears host bits and rejects bad prefixes', () => {
    assert.equal(formatCidr(parseCidr('10.1.2.3/8')!), '10.0.0.0/8');
    assert.equal(parseCidr('10.0.0.0/33'), undefined);
    assert.equal(parseCidr('10.0.0.0'), undefined);
    assert.equal(parseCidr('10.0.0.0/08'), undefined);
    assert.equal(formatCidr(parseCidr('fd00::1/64')!), 'fd00::/64');
    assert.equal(parseCidr('fd00::/129'), undefined);
  });

  const containment: [string, string, boolean][] = [
    ['10.0.0.0/24', '10.0.0.255', true],
    ['10.0.0.0/24', '10.0.1.0', false],
    ['0.0.0.0/0', '1.2.3.4', true],
    ['0.0.0.0/0', 'fd00::1', false], // families never mix
    ['fd00::/8', 'fd12::1', true],
    ['10.0.0.7/32', '10.0.0.7', true],
  ];
  for (const [c, ip, want] of containment) {
    it(`${c} ∋ ${ip} is ${String(want)}`, () =>
      assert.equal(cidrContainsIp(parseCidr(c)!, parseIp(ip)!), want));
  }

  it('cidrWithin agrees with containment of both ends', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 32 }),
        (a, p, b, q) => {
          const ip = (n: number) => formatIp({ family: 4, value: BigInt(n) });
          const inner = parseCidr(`${ip(a)}/${p}`)!;
          const outer = parseCidr(`${ip(b)}/${q}`)!;
          const ends =
            cidrContainsIp(outer, { family: 4, value: inner.base }) &&
            cidrContainsIp(outer, { family: 4, value: cidrLast(inner) });
          assert.equal(cidrWithin(inner, outer), ends);
        },
      ),
    );
  });
});
