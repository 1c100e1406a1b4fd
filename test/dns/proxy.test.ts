/**
 * The node DNS proxy on loopback, in front of the lab's cluster DNS (or a scripted upstream for truncation
 * and silence): policy refusals answered here, allowed queries relayed over UDP and TCP, answers held until
 * learn resolves (bounded), TC → TCP, timeouts → SERVFAIL, garbage survived, bounds and shutdown.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import type { Answer } from 'dns-packet';
import { ClusterDnsServer, buildClusterDnsTable } from '../../src/dns/cluster-dns.js';
import { encodeQuery, parseQuery, respond } from '../../src/dns/message.js';
import type {
  DecideFn,
  DnsProxyOptions,
  DnsQueryEvent,
  DnsQueryInfo,
  LearnFn,
  LearnedAnswer,
} from '../../src/dns/proxy.js';
import { DnsProxy } from '../../src/dns/proxy.js';
import type { DnsClient } from '../../src/dns/transport.js';
import { DnsListener, frame } from '../../src/dns/transport.js';
import { LOOPBACK, addresses, ask, dig, digStatus, firstTtl, noDig, rcode, sendRawUdp } from './client.js';

const HOSTS = [
  { names: ['api.example.com'], addresses: ['192.0.2.10', '192.0.2.11'], ttl: 60 },
  { names: ['v6.example.com'], addresses: ['2001:db8::6'], ttl: 60 },
  { names: ['blocked.example.com'], addresses: ['203.0.113.66'] },
];

const forwardAll: DecideFn = () => ({ action: 'forward' });
const learnNothing: LearnFn = () => Promise.resolve();

/** A proxy with its own upstream per test; everything is closed in afterEach. */
class Harness {
  readonly learnt: LearnedAnswer[] = [];
  readonly decided: DnsQueryInfo[] = [];
  readonly events: DnsQueryEvent[] = [];
  private readonly closers: (() => Promise<void>)[] = [];

  async clusterDns(): Promise<{ server: ClusterDnsServer; port: number }> {
    const server = new ClusterDnsServer({
      table: buildClusterDnsTable({ hosts: HOSTS }, { zones: ['example.com'] }),
    });
    const { port } = await server.listen({ host: LOOPBACK, port: 0 });
    this.closers.push(() => server.close());
    return { server, port };
  }

  /** An upstream that answers as `answer` says (undefined: silence). */
  async scripted(answer: (query: Buffer, client: DnsClient) => Buffer | undefined): Promise<number> {
    const listener = new DnsListener((message, client) => Promise.resolve(answer(message, client)));
    const { port } = await listener.listen({ host: LOOPBACK, port: 0 });
    this.closers.push(() => listener.close());
    return port;
  }

  async proxy(
    upstreamPort: number,
    options: Partial<DnsProxyOptions> = {},
  ): Promise<{ proxy: DnsProxy; port: number }> {
    const decide = options.decide ?? forwardAll;
    const learn = options.learn ?? learnNothing;
    const proxy = new DnsProxy({
      ...options,
      upstream: { host: LOOPBACK, port: upstreamPort },
      decide: (q) => {
        this.decided.push(q);
        return decide(q);
      },
      learn: (a) => {
        this.learnt.push(a);
        return learn(a);
      },
      onQuery: (e) => this.events.push(e),
    });
    const { port } = await proxy.listen({ host: LOOPBACK, port: 0 });
    this.closers.unshift(() => proxy.close());
    return { proxy, port };
  }

  async close(): Promise<void> {
    for (const close of this.closers.splice(0)) await close();
  }
}

/** Answers every query with `count` A records for its name (over TCP), TC and nothing over UDP. */
function truncatingUpstream(count: number) {
  return (message: Buffer, client: DnsClient): Buffer | undefined => {
    const parsed = parseQuery(message);
    if (!parsed.ok) return undefined;
    if (client.transport === 'udp')
      return respond(parsed.query.packet, { truncated: true, recursionAvailable: true });
    const answers: Answer[] = Array.from({ length: count }, (_, i) => ({
      type: 'A',
      name: parsed.query.qname,
      ttl: 300,
      data: `198.51.100.${i + 1}`,
    }));
    return respond(parsed.query.packet, { answers, recursionAvailable: true });
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Polls `condition` every 5 ms, for at most 5 s. */
async function until(condition: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 5000; !condition(); await sleep(5)) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
  }
}

describe('DNS proxy', () => {
  let h: Harness;
  before(() => {
    h = new Harness();
  });
  afterEach(async () => {
    await h.close();
    h = new Harness();
  });
  after(() => h.close());

  it('forwards an allowed UDP query and learns its addresses with their TTL before answering', async () => {
    const { port: up } = await h.clusterDns();
    const { proxy, port } = await h.proxy(up);
    const { packet } = await ask(port, 'API.example.com');
    assert.equal(rcode(packet), 'NOERROR');
    assert.deepEqual(addresses(packet), ['192.0.2.10', '192.0.2.11']);
    assert.equal(firstTtl(packet), 60);
    assert.deepEqual(h.decided, [{ client: LOOPBACK, qname: 'API.example.com', qtype: 'A' }]);
    assert.deepEqual(h.learnt, [
      {
        client: LOOPBACK,
        qname: 'API.example.com',
        answers: [
          { ip: '192.0.2.10', ttl: 60 },
          { ip: '192.0.2.11', ttl: 60 },
        ],
      },
    ]);
    const c = proxy.counters;
    assert.deepEqual(
      [c.queries, c.forwarded, c.refused, c.held, c.holdTimeouts, c.inFlight],
      [1, 1, 0, 1, 0, 0],
    );
    assert.equal(h.events[0]?.outcome, 'forwarded');
  });

  it('forwards over TCP (AAAA) and an answer without addresses is not held', async () => {
    const { port: up } = await h.clusterDns();
    const { proxy, port } = await h.proxy(up);
    assert.deepEqual(addresses((await ask(port, 'v6.example.com', 'AAAA', { tcp: true })).packet), [
      '2001:db8::6',
    ]);
    const nx = await ask(port, 'nope.example.com', 'A', { tcp: true });
    assert.equal(rcode(nx.packet), 'NXDOMAIN');
    assert.equal(proxy.counters.held, 1);
    assert.equal(h.learnt.length, 1);
  });

  it('dig through the proxy, UDP and TCP', { skip: noDig }, async () => {
    const { port: up } = await h.clusterDns();
    const { proxy, port } = await h.proxy(up);
    const udp = await dig(port, ['api.example.com', 'A']);
    assert.equal(digStatus(udp), 'NOERROR');
    assert.match(udp, /api\.example\.com\.\s+60\s+IN\s+A\s+192\.0\.2\.1[01]/);
    const tcp = await dig(port, ['+tcp', 'v6.example.com', 'AAAA']);
    assert.equal(digStatus(tcp), 'NOERROR');
    assert.match(tcp, /v6\.example\.com\.\s+60\s+IN\s+AAAA\s+2001:db8::6/);
    assert.equal(proxy.counters.forwarded, 2);
  });

  it('refuses by policy with the rcode it names, without asking the upstream', async () => {
    const { server, port: up } = await h.clusterDns();
    const decide: DecideFn = ({ qname }) =>
      qname.startsWith('blocked')
        ? { action: 'refuse', rcode: 'REFUSED', rule: 'cnp/egress-dns[0]' }
        : qname.startsWith('hidden')
          ? { action: 'refuse', rcode: 'NXDOMAIN' }
          : { action: 'forward' };
    const { proxy, port } = await h.proxy(up, { decide });
    const refused = await ask(port, 'blocked.example.com');
    assert.equal(rcode(refused.packet), 'REFUSED');
    assert.deepEqual(addresses(refused.packet), []);
    assert.equal(refused.packet.questions?.[0]?.name, 'blocked.example.com');
    const nx = await ask(port, 'hidden.example.com', 'A', { tcp: true });
    assert.equal(rcode(nx.packet), 'NXDOMAIN');
    assert.equal(server.counters.queries, 0);
    assert.deepEqual([proxy.counters.refused, proxy.counters.forwarded], [2, 0]);
    assert.deepEqual(
      h.events.map((e) => [e.outcome, e.rcode, e.rule]),
      [
        ['refused', 'REFUSED', 'cnp/egress-dns[0]'],
        ['refused', 'NXDOMAIN', undefined],
      ],
    );
  });

  it('a policy drop answers nothing, over UDP or TCP, and asks no upstream', async () => {
    const { server, port: up } = await h.clusterDns();
    const { proxy, port } = await h.proxy(up, { decide: () => ({ action: 'drop', rule: 'np/deny-all' }) });
    await assert.rejects(ask(port, 'api.example.com', 'A', { timeoutMs: 300 }));
    await assert.rejects(ask(port, 'api.example.com', 'A', { tcp: true, timeoutMs: 300 }));
    assert.deepEqual([proxy.counters.dropped, proxy.counters.forwarded, server.counters.queries], [2, 0, 0]);
    assert.deepEqual(
      h.events.map((e) => [e.outcome, e.rule]),
      [
        ['dropped', 'np/deny-all'],
        ['dropped', 'np/deny-all'],
      ],
    );
  });

  it('dig sees a policy refusal', { skip: noDig }, async () => {
    const { port: up } = await h.clusterDns();
    const { port } = await h.proxy(up, { decide: () => ({ action: 'refuse', rcode: 'REFUSED' }) });
    assert.equal(digStatus(await dig(port, ['api.example.com'])), 'REFUSED');
    assert.equal(digStatus(await dig(port, ['+tcp', 'api.example.com'])), 'REFUSED');
  });

  it('holds the answer until learn resolves: a 30 ms learn delays it by at least 30 ms', async () => {
    const { port: up } = await h.clusterDns();
    let learntAt = 0;
    const learn: LearnFn = async () => {
      await sleep(30);
      learntAt = performance.now();
    };
    const { proxy, port } = await h.proxy(up, { learn });
    const start = performance.now();
    const reply = await ask(port, 'api.example.com');
    const answeredAt = performance.now();
    assert.ok(reply.ms >= 30, `answered after ${reply.ms.toFixed(1)} ms`);
    assert.ok(learntAt > start && learntAt <= answeredAt, 'the answer came after learn resolved');
    assert.deepEqual([proxy.counters.held, proxy.counters.holdTimeouts], [1, 0]);
    const heldMs = h.events[0]?.heldMs ?? 0;
    assert.ok(heldMs >= 29, `held ${heldMs} ms`);
  });

  it('a learn that never resolves is answered after the bound and counted', async () => {
    const { port: up } = await h.clusterDns();
    const { proxy, port } = await h.proxy(up, {
      learn: () => new Promise<void>(() => undefined),
      holdMs: 100,
    });
    const reply = await ask(port, 'api.example.com');
    assert.deepEqual(addresses(reply.packet), ['192.0.2.10', '192.0.2.11']);
    assert.ok(reply.ms >= 99, `answered after ${reply.ms.toFixed(1)} ms`);
    assert.ok(reply.ms < 1500, `answered after ${reply.ms.toFixed(1)} ms`);
    assert.deepEqual([proxy.counters.held, proxy.counters.holdTimeouts], [1, 1]);
    assert.equal(h.events[0]?.holdTimedOut, true);
  });

  it('a learn that fails is counted and the answer still sent', async () => {
    const { port: up } = await h.clusterDns();
    const { proxy, port } = await h.proxy(up, { learn: () => Promise.reject(new Error('nft said no')) });
    assert.deepEqual(addresses((await ask(port, 'api.example.com')).packet), ['192.0.2.10', '192.0.2.11']);
    assert.deepEqual([proxy.counters.learnErrors, proxy.counters.holdTimeouts], [1, 0]);
  });

  it('a truncated upstream answer is asked again over TCP; the UDP client gets it whole when it fits', async () => {
    const up = await h.scripted(truncatingUpstream(3));
    const { proxy, port } = await h.proxy(up);
    const { packet } = await ask(port, 'many.example.com');
    assert.equal(packet.flag_tc, false);
    assert.deepEqual(addresses(packet), ['198.51.100.1', '198.51.100.2', '198.51.100.3']);
    assert.equal(h.learnt[0]?.answers.length, 3);
    assert.equal(proxy.counters.tcpRetries, 1);
  });

  it('too big for the UDP client: TC, every address learnt first, and the TCP retry gets them all', async () => {
    const up = await h.scripted(truncatingUpstream(25)); // ~830 bytes: dns-packet does not compress names
    const { proxy, port } = await h.proxy(up);
    const udp = await ask(port, 'many.example.com');
    assert.equal(udp.packet.flag_tc, true);
    assert.ok(udp.bytes <= 512);
    assert.equal(h.learnt[0]?.answers.length, 25);
    const tcp = await ask(port, 'many.example.com', 'A', { tcp: true });
    assert.equal(tcp.packet.flag_tc, false);
    assert.equal(addresses(tcp.packet).length, 25);
    // A client that advertises a large EDNS buffer gets it over UDP.
    const edns = await ask(port, 'many.example.com', 'A', { udpSize: 1232 });
    assert.equal(edns.packet.flag_tc, false);
    assert.equal(addresses(edns.packet).length, 25);
    assert.equal(proxy.counters.tcpRetries, 2); // the proxy→upstream leg of the two UDP queries
  });

  it('upstream silence is SERVFAIL after the timeout, counted', async () => {
    const up = await h.scripted(() => undefined);
    const { proxy, port } = await h.proxy(up, { upstreamTimeoutMs: 200 });
    const reply = await ask(port, 'api.example.com');
    assert.equal(rcode(reply.packet), 'SERVFAIL');
    assert.ok(reply.ms >= 190, `answered after ${reply.ms.toFixed(1)} ms`);
    assert.equal(proxy.counters.upstreamFailures, 1);
    assert.equal(h.learnt.length, 0);
    assert.match(h.events[0]?.error ?? '', /timed out/);
  });

  it('an upstream with nothing listening is SERVFAIL', async () => {
    const up = await h.scripted(() => undefined);
    await h.close(); // the upstream's port is now closed: ICMP port unreachable, or silence
    h = new Harness();
    const { proxy, port } = await h.proxy(up, { upstreamTimeoutMs: 500 });
    assert.equal(rcode((await ask(port, 'api.example.com')).packet), 'SERVFAIL');
    assert.equal(proxy.counters.upstreamFailures, 1);
  });

  it('a policy that throws fails closed: SERVFAIL, counted, nothing forwarded', async () => {
    const { server, port: up } = await h.clusterDns();
    const { proxy, port } = await h.proxy(up, {
      decide: () => {
        throw new Error('engine bug');
      },
    });
    assert.equal(rcode((await ask(port, 'api.example.com')).packet), 'SERVFAIL');
    assert.deepEqual(
      [proxy.counters.policyErrors, proxy.counters.forwarded, server.counters.queries],
      [1, 0, 0],
    );
  });

  it('malformed packets are counted and dropped; the proxy keeps answering', async () => {
    const { port: up } = await h.clusterDns();
    const { proxy, port } = await h.proxy(up);
    const response = respond(parseQueryOrThrow(encodeQuery('api.example.com', 'A')), {}); // QR=1
    for (const bytes of [
      Buffer.from('garbage'),
      Buffer.alloc(0),
      Buffer.alloc(11),
      response,
      Buffer.alloc(512, 0xff),
    ]) {
      await sendRawUdp(port, bytes);
    }
    await sendTcp(port, [frame(Buffer.from('garbage over tcp')), Buffer.from([0, 0])]);
    const { packet } = await ask(port, 'api.example.com');
    assert.deepEqual(addresses(packet), ['192.0.2.10', '192.0.2.11']);
    assert.ok(proxy.counters.malformed >= 6, `malformed ${proxy.counters.malformed}`);
    assert.equal(proxy.counters.queries, 1);
  });

  it('a query with two questions is answered FORMERR', async () => {
    const { port: up } = await h.clusterDns();
    const { proxy, port } = await h.proxy(up);
    const packet = parseQueryOrThrow(encodeQuery('a.example.com', 'A', { id: 8 }));
    const two = dnsPacket.encode({
      ...packet,
      questions: [...(packet.questions ?? []), { name: 'b.example.com', type: 'A' }],
    });
    const reply = await rawUdp(port, two);
    assert.equal(rcode(reply), 'FORMERR');
    assert.equal(reply.id, 8);
    assert.equal(proxy.counters.forwarded, 0);
  });

  it('beyond maxInFlight: UDP is dropped and TCP gets SERVFAIL, both counted', async () => {
    const { port: up } = await h.clusterDns();
    const gate = deferred();
    const { proxy, port } = await h.proxy(up, { maxInFlight: 1, holdMs: 10_000, learn: () => gate.promise });
    const first = ask(port, 'api.example.com', 'A', { timeoutMs: 10_000 });
    await until(() => proxy.counters.held === 1); // the first is being held
    await assert.rejects(ask(port, 'v6.example.com', 'AAAA', { timeoutMs: 300 }));
    assert.equal(rcode((await ask(port, 'v6.example.com', 'AAAA', { tcp: true })).packet), 'SERVFAIL');
    gate.resolve();
    assert.deepEqual(addresses((await first).packet), ['192.0.2.10', '192.0.2.11']);
    assert.deepEqual(
      [proxy.counters.overloaded, proxy.counters.holdTimeouts, proxy.counters.inFlight],
      [2, 0, 0],
    );
  });

  it('200 concurrent queries over UDP and TCP are all answered, each learnt once', async () => {
    const { server, port: up } = await h.clusterDns();
    const { proxy, port } = await h.proxy(up, { learn: () => sleep(5) });
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        ask(port, i % 2 ? 'api.example.com' : 'v6.example.com', i % 2 ? 'A' : 'AAAA', { tcp: i % 4 === 0 }),
      ),
    );
    assert.ok(replies.every((r) => addresses(r.packet).length > 0));
    const c = proxy.counters;
    assert.deepEqual([c.queries, c.forwarded, c.held, c.holdTimeouts, c.inFlight], [200, 200, 200, 0, 0]);
    assert.equal(h.learnt.length, 200);
    assert.equal(server.counters.queries, 200);
  });

  it('a restarted proxy on the same port answers the client retry', async () => {
    const { port: up } = await h.clusterDns();
    const first = await h.proxy(up);
    const port = first.port;
    await first.proxy.close();
    await assert.rejects(ask(port, 'api.example.com', 'A', { timeoutMs: 200 }));
    const again = new DnsProxy({
      upstream: { host: LOOPBACK, port: up },
      decide: forwardAll,
      learn: learnNothing,
    });
    await again.listen({ host: LOOPBACK, port });
    try {
      assert.deepEqual(addresses((await ask(port, 'api.example.com')).packet), ['192.0.2.10', '192.0.2.11']);
    } finally {
      await again.close();
    }
  });

  it('close() ends held queries at once, answers none of them and frees the port', async () => {
    const { port: up } = await h.clusterDns();
    const { proxy, port } = await h.proxy(up, { holdMs: 10_000, learn: () => new Promise(() => undefined) });
    const pending = ask(port, 'api.example.com', 'A', { timeoutMs: 1500 });
    await until(() => proxy.counters.held === 1);
    const start = performance.now();
    await proxy.close();
    assert.ok(performance.now() - start < 1000, 'close took too long');
    await assert.rejects(pending);
    await assertPortFree(port);
  });
});

function parseQueryOrThrow(bytes: Buffer) {
  const parsed = parseQuery(bytes);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.query.packet;
}

async function rawUdp(port: number, bytes: Buffer) {
  const socket = createSocket('udp4');
  try {
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no reply')), 2000);
      socket.once('message', (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      socket.send(bytes, port, LOOPBACK);
    });
    return dnsPacket.decode(reply);
  } finally {
    socket.close();
  }
}

/** Writes raw chunks on one TCP connection, then waits for the proxy to close it or 300 ms. */
function sendTcp(port: number, chunks: readonly Buffer[]): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host: LOOPBACK, port }, () => {
      for (const c of chunks) socket.write(c);
    });
    const timer = setTimeout(() => socket.destroy(), 300);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function assertPortFree(port: number): Promise<void> {
  const l = new DnsListener(() => Promise.resolve(undefined));
  await l.listen({ host: LOOPBACK, port });
  await l.close();
}
