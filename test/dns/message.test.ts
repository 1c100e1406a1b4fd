/**
 * DNS message helpers without sockets: what a query parse decides, which addresses an answer gives for the
 * name asked (CNAME chains, TTLs, records slipped in for other names), UDP size limits and TCP framing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import type { Answer } from 'dns-packet';
import {
  CLASSIC_UDP_SIZE,
  MAX_UDP_SIZE,
  answeredAddresses,
  decodeMessage,
  encodeQuery,
  fitUdp,
  parseQuery,
  parseResponse,
  respond,
  udpLimit,
} from '../../src/dns/message.js';
import { FrameReader, frame } from '../../src/dns/transport.js';

function queryPacket(name = 'www.example.com', udpSize?: number) {
  const parsed = parseQuery(
    encodeQuery(name, 'A', { id: 42, ...(udpSize === undefined ? {} : { udpSize }) }),
  );
  assert.ok(parsed.ok);
  return parsed.query;
}

function answer(answers: Answer[]) {
  const decoded = decodeMessage(respond(queryPacket().packet, { answers }));
  assert.ok(decoded);
  return decoded;
}

describe('DNS messages', () => {
  describe('parseQuery', () => {
    const cases: [string, Buffer, string][] = [
      ['a query', encodeQuery('a.example.com', 'AAAA'), 'ok'],
      ['empty', Buffer.alloc(0), 'drop'],
      ['short header', Buffer.alloc(11), 'drop'],
      ['text', Buffer.from('GET / HTTP/1.1\r\n\r\n'), 'drop'],
      ['a response', respond(queryPacket().packet, {}), 'drop'],
      [
        'no question',
        dnsPacket.encode({ type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [] }),
        'FORMERR',
      ],
      [
        'opcode NOTIFY',
        dnsPacket.encode({ type: 'query', id: 1, flags: 4 << 11, questions: [{ name: 'a', type: 'SOA' }] }),
        'NOTIMP',
      ],
    ];
    for (const [what, bytes, expected] of cases) {
      it(`${what} → ${expected}`, () => {
        const parsed = parseQuery(bytes);
        assert.equal(parsed.ok ? 'ok' : parsed.drop ? 'drop' : parsed.rcode, expected);
      });
    }

    it('keeps the name as asked and the raw bytes', () => {
      const bytes = encodeQuery('MiXeD.Example.com', 'TXT');
      const parsed = parseQuery(bytes);
      assert.ok(parsed.ok);
      assert.equal(parsed.query.qname, 'MiXeD.Example.com');
      assert.equal(parsed.query.qtype, 'TXT');
      assert.equal(parsed.query.raw, bytes);
    });
  });

  it('parseResponse rejects an answer to another id or question', () => {
    const q = queryPacket('a.example.com');
    const other = queryPacket('b.example.com');
    assert.ok(parseResponse(respond(q.packet, {}), q));
    assert.equal(parseResponse(respond(other.packet, {}), q), undefined);
    assert.equal(parseResponse(respond({ ...q.packet, id: 43 }, {}), q), undefined);
    assert.equal(parseResponse(q.raw, q), undefined); // a query is not an answer
  });

  it('refusals keep id, question and RD; rcode as asked', () => {
    const q = queryPacket('x.example.com');
    const decoded = decodeMessage(
      respond(q.packet, { rcode: 'NXDOMAIN', recursionAvailable: true }),
    ) as ReturnType<typeof decodeMessage> & { rcode: string };
    assert.equal(decoded.id, 42);
    assert.equal(decoded.rcode, 'NXDOMAIN');
    assert.equal(decoded.flag_rd, true);
    assert.equal(decoded.flag_ra, true);
    assert.equal(decoded.flag_qr, true);
    assert.equal(decoded.questions?.[0]?.name, 'x.example.com');
  });

  describe('answeredAddresses', () => {
    it('follows a CNAME chain in any order and takes the least TTL on the way', () => {
      const decoded = answer([
        { type: 'A', name: 'edge.cdn.example.net', ttl: 300, data: '192.0.2.1' },
        { type: 'CNAME', name: 'www.example.com', ttl: 30, data: 'www.cdn.example.net' },
        { type: 'CNAME', name: 'www.cdn.example.net', ttl: 600, data: 'EDGE.cdn.example.net' },
        { type: 'AAAA', name: 'edge.cdn.example.net', ttl: 10, data: '2001:db8::1' },
      ]);
      assert.deepEqual(answeredAddresses(decoded, 'WWW.example.com'), [
        { ip: '192.0.2.1', ttl: 30 },
        { ip: '2001:db8::1', ttl: 10 },
      ]);
    });

    it('ignores addresses for names off the chain', () => {
      const decoded = answer([
        { type: 'A', name: 'www.example.com', ttl: 60, data: '192.0.2.1' },
        { type: 'A', name: 'evil.example.org', ttl: 60, data: '203.0.113.9' },
      ]);
      assert.deepEqual(answeredAddresses(decoded, 'www.example.com'), [{ ip: '192.0.2.1', ttl: 60 }]);
    });

    it('survives a CNAME loop', () => {
      const decoded = answer([
        { type: 'CNAME', name: 'www.example.com', ttl: 60, data: 'b.example.com' },
        { type: 'CNAME', name: 'b.example.com', ttl: 60, data: 'www.example.com' },
      ]);
      assert.deepEqual(answeredAddresses(decoded, 'www.example.com'), []);
    });

    it('one address twice keeps its least TTL', () => {
      const decoded = answer([
        { type: 'A', name: 'www.example.com', ttl: 60, data: '192.0.2.1' },
        { type: 'CNAME', name: 'www.example.com', ttl: 5, data: 'c.example.com' },
        { type: 'A', name: 'c.example.com', ttl: 60, data: '192.0.2.1' },
      ]);
      assert.deepEqual(answeredAddresses(decoded, 'www.example.com'), [{ ip: '192.0.2.1', ttl: 5 }]);
    });
  });

  it('UDP limit: 512 without EDNS, the advertised size within [512, 1232] with it', () => {
    assert.equal(udpLimit(queryPacket().packet), CLASSIC_UDP_SIZE);
    assert.equal(udpLimit(queryPacket('a', 1000).packet), 1000);
    assert.equal(udpLimit(queryPacket('a', 100).packet), CLASSIC_UDP_SIZE);
    assert.equal(udpLimit(queryPacket('a', 65000).packet), MAX_UDP_SIZE);
  });

  it('fitUdp truncates what does not fit and keeps the rest', () => {
    const q = queryPacket();
    const answers: Answer[] = Array.from({ length: 40 }, (_, i) => ({
      type: 'A',
      name: 'www.example.com',
      ttl: 1,
      data: `192.0.2.${i}`,
    }));
    const big = respond(q.packet, { answers });
    const fitted = decodeMessage(fitUdp(q.packet, big));
    assert.equal(fitted?.flag_tc, true);
    assert.equal(fitted?.answers?.length, 0);
    const small = respond(q.packet, { answers: answers.slice(0, 2) });
    assert.equal(fitUdp(q.packet, small), small);
  });

  it('TCP framing: messages split and joined across chunks come out whole', () => {
    const a = encodeQuery('a.example.com', 'A');
    const b = encodeQuery('b.example.com', 'AAAA');
    const stream = Buffer.concat([frame(a), frame(b)]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const reader = new FrameReader();
      const out = [...reader.push(stream.subarray(0, cut)), ...reader.push(stream.subarray(cut))];
      assert.deepEqual(out, [a, b], `cut at ${cut}`);
    }
    assert.throws(() => frame(Buffer.alloc(0x10000)), RangeError);
  });
});
