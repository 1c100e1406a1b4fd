/**
 * The node's DNS proxy (issue 12): every query from a pod is put to a policy; a refused one is answered
 * here with the rcode the policy names, an allowed one is relayed as written to the cluster DNS, and its
 * answer is held until `learn` says the addresses it carries are in the kernel — so the pod's first
 * connection after the lookup finds them — or until `holdMs` has passed, when it is answered anyway and
 * counted (a late learn must cost a retry, never a hung lookup).
 *
 * Upstream: over TCP for a TCP client; for a UDP client over UDP, then TCP when the answer comes back
 * truncated, so learn sees every address; the UDP client gets the whole answer when it fits its buffer,
 * else TC and retries over TCP (RFC 7766). No answer
 * within `upstreamTimeoutMs` (UDP and TCP together) is SERVFAIL, counted as an upstream failure.
 *
 * What the caller decides, not this module:
 * - the policy (`decide`): the qname is passed as asked (case kept, no trailing dot), matching is the
 *   engine's;
 * - TTLs: `learn` gets each address with the TTL the answer gives it (the least along its CNAME chain);
 *   raising it to a minimum, as Cilium's `--tofqdns-min-ttl` does, is the caller's, and so is expiry;
 * - which clients reach the proxy (the datapath steers pods' DNS to it).
 *
 * Bounded: at most `maxInFlight` queries are handled at once (UDP beyond that is dropped, the client
 * retries; TCP gets SERVFAIL); bytes that are not a DNS query are counted and dropped.
 */
import { isIP } from 'node:net';
import type { ParsedQuery, Rcode } from './message.js';
import { answeredAddresses, fitUdp, parseQuery, parseResponse, rcodeOf, respond } from './message.js';
import type { DnsClient, DnsListenerLimits, DnsTransport, ListenAddress } from './transport.js';
import { DnsListener } from './transport.js';
import type { UpstreamAddress } from './upstream.js';
import { UpstreamError, exchangeTcp, exchangeUdp } from './upstream.js';

export interface DnsQueryInfo {
  /** The querying pod's address as the proxy sees it. */
  readonly client: string;
  readonly qname: string;
  /** `A`, `AAAA`, `TXT`, … (`UNKNOWN_<n>` for types without a name). */
  readonly qtype: string;
}

export type DnsDecision =
  | { readonly action: 'forward' }
  | { readonly action: 'refuse'; readonly rcode: 'REFUSED' | 'NXDOMAIN'; readonly rule?: string }
  /**
   * No answer at all: the engine's `dropped` (the query's own flow denied at L3/L4), for a datapath that
   * steers queries to the proxy before deciding L3/L4. The client times out, as it would on packets.
   */
  | { readonly action: 'drop'; readonly rule?: string };

export type DecideFn = (query: DnsQueryInfo) => DnsDecision | Promise<DnsDecision>;

export interface LearnedAnswer {
  readonly client: string;
  readonly qname: string;
  readonly answers: readonly { readonly ip: string; readonly ttl: number }[];
}

/** Resolves once the addresses are enforceable (e.g. in the kernel's sets); may reject. */
export type LearnFn = (answer: LearnedAnswer) => Promise<void>;

/** One line per query, for the flow log and metrics; never blocks the answer. */
export interface DnsQueryEvent extends DnsQueryInfo {
  readonly transport: DnsTransport;
  /**
   * `forwarded`: relayed and answered with the upstream's rcode; `refused`: answered here by policy;
   * `servfail`: the policy or the upstream failed; `dropped`: not answered (policy drop, or over the
   * in-flight bound on UDP).
   */
  readonly outcome: 'forwarded' | 'refused' | 'servfail' | 'dropped';
  readonly rcode?: string;
  readonly rule?: string;
  readonly answers?: LearnedAnswer['answers'];
  /** How long the answer waited for learn, ms. */
  readonly heldMs?: number;
  readonly holdTimedOut?: boolean;
  readonly error?: string;
}

export interface DnsProxyOptions extends DnsListenerLimits {
  readonly upstream: UpstreamAddress;
  readonly decide: DecideFn;
  readonly learn: LearnFn;
  /** How long an answer waits for learn. Default 100 ms. */
  readonly holdMs?: number;
  /** For the whole exchange with the upstream (UDP, then TCP on truncation). Default 2000 ms. */
  readonly upstreamTimeoutMs?: number;
  /** Queries handled at once. Default 1024. */
  readonly maxInFlight?: number;
  readonly onQuery?: (event: DnsQueryEvent) => void;
}

export interface DnsProxyCounters {
  /** DNS queries received (malformed packets not included). */
  readonly queries: number;
  /** Answered here by policy (REFUSED or NXDOMAIN). */
  readonly refused: number;
  /** Left unanswered by policy (`drop`). */
  readonly dropped: number;
  /** Relayed to the upstream. */
  readonly forwarded: number;
  /** Answers held for learn (those with at least one address). */
  readonly held: number;
  /** Held answers sent because holdMs passed before learn resolved. */
  readonly holdTimeouts: number;
  /** learn rejected (the answer was still sent). */
  readonly learnErrors: number;
  /** Upstream exchanges that failed or timed out (answered SERVFAIL). */
  readonly upstreamFailures: number;
  /** Upstream answers that came back truncated and were asked again over TCP. */
  readonly tcpRetries: number;
  /** Bytes that were not a DNS query, dropped; and queries we do not serve (opcode, question count). */
  readonly malformed: number;
  /** Queries dropped or SERVFAILed because maxInFlight were being handled. */
  readonly overloaded: number;
  /** decide threw or rejected (answered SERVFAIL: the proxy fails closed). */
  readonly policyErrors: number;
  /** Queries being handled now. */
  readonly inFlight: number;
}

type MutableCounters = { -readonly [K in keyof DnsProxyCounters]: number };

export class DnsProxy {
  private readonly listener: DnsListener;
  private readonly holdMs: number;
  private readonly upstreamTimeoutMs: number;
  private readonly maxInFlight: number;
  private readonly shutdown = new AbortController();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly count: MutableCounters = {
    queries: 0,
    refused: 0,
    dropped: 0,
    forwarded: 0,
    held: 0,
    holdTimeouts: 0,
    learnErrors: 0,
    upstreamFailures: 0,
    tcpRetries: 0,
    malformed: 0,
    overloaded: 0,
    policyErrors: 0,
    inFlight: 0,
  };

  constructor(private readonly options: DnsProxyOptions) {
    if (isIP(options.upstream.host) === 0) {
      throw new TypeError(
        `DnsProxy: upstream host ${JSON.stringify(options.upstream.host)} is not an IP address`,
      );
    }
    this.holdMs = positive('holdMs', options.holdMs ?? 100);
    this.upstreamTimeoutMs = positive('upstreamTimeoutMs', options.upstreamTimeoutMs ?? 2000);
    this.maxInFlight = positive('maxInFlight', options.maxInFlight ?? 1024);
    this.listener = new DnsListener((message, client) => this.track(this.handle(message, client)), options);
  }

  listen(at: ListenAddress): Promise<ListenAddress> {
    return this.listener.listen(at);
  }

  get counters(): DnsProxyCounters {
    return { ...this.count };
  }

  /**
   * Stops listening, cuts upstream exchanges and holds short, and waits for every query being handled
   * to finish (none is answered after close).
   */
  async close(): Promise<void> {
    this.shutdown.abort(new Error('DNS proxy closed'));
    await this.listener.close();
    await Promise.allSettled([...this.pending]);
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work)).catch(() => undefined);
    return work;
  }

  private async handle(message: Buffer, client: DnsClient): Promise<Buffer | undefined> {
    if (this.shutdown.signal.aborted) return undefined;
    const parsed = parseQuery(message);
    if (!parsed.ok) {
      this.count.malformed++;
      return parsed.drop
        ? undefined
        : respond(parsed.packet, { rcode: parsed.rcode, recursionAvailable: true });
    }
    const query = parsed.query;
    this.count.queries++;
    const info: DnsQueryInfo = { client: client.address, qname: query.qname, qtype: query.qtype };
    const base = { ...info, transport: client.transport };
    if (this.count.inFlight >= this.maxInFlight) {
      this.count.overloaded++;
      this.emit({ ...base, outcome: client.transport === 'udp' ? 'dropped' : 'servfail', rcode: 'SERVFAIL' });
      return client.transport === 'udp' ? undefined : this.servfail(query);
    }
    this.count.inFlight++;
    try {
      return await this.resolve(query, client, info);
    } finally {
      this.count.inFlight--;
    }
  }

  private async resolve(
    query: ParsedQuery,
    client: DnsClient,
    info: DnsQueryInfo,
  ): Promise<Buffer | undefined> {
    const base = { ...info, transport: client.transport };
    let decision: DnsDecision;
    try {
      decision = await this.options.decide(info);
    } catch (err) {
      this.count.policyErrors++;
      this.emit({ ...base, outcome: 'servfail', rcode: 'SERVFAIL', error: `policy: ${message(err)}` });
      return this.servfail(query);
    }
    if (decision.action === 'drop') {
      this.count.dropped++;
      this.emit({
        ...base,
        outcome: 'dropped',
        ...(decision.rule === undefined ? {} : { rule: decision.rule }),
      });
      return undefined;
    }
    if (decision.action === 'refuse') {
      this.count.refused++;
      this.emit({
        ...base,
        outcome: 'refused',
        rcode: decision.rcode,
        ...(decision.rule === undefined ? {} : { rule: decision.rule }),
      });
      return respond(query.packet, { rcode: decision.rcode satisfies Rcode, recursionAvailable: true });
    }

    this.count.forwarded++;
    let answer: Buffer;
    try {
      answer = await this.exchange(query, client.transport);
    } catch (err) {
      if (this.shutdown.signal.aborted) return undefined;
      this.count.upstreamFailures++;
      this.emit({ ...base, outcome: 'servfail', rcode: 'SERVFAIL', error: `upstream: ${message(err)}` });
      return this.servfail(query);
    }
    const decoded = parseResponse(answer, query);
    const answers = decoded ? answeredAddresses(decoded, query.qname) : [];
    let held: { heldMs: number; holdTimedOut: boolean } | undefined;
    if (answers.length > 0) held = await this.hold({ client: client.address, qname: query.qname, answers });
    if (this.shutdown.signal.aborted) return undefined;
    this.emit({
      ...base,
      outcome: 'forwarded',
      rcode: decoded ? rcodeOf(decoded) : 'NOERROR',
      answers,
      ...held,
    });
    return client.transport === 'udp' ? fitUdp(query.packet, answer) : answer;
  }

  /** UDP, then TCP if the answer was truncated (TCP only for a TCP client); one deadline for both. */
  private async exchange(query: ParsedQuery, transport: DnsTransport): Promise<Buffer> {
    // Not AbortSignal.any: a long-lived parent signal keeps every child it was combined with (Node 20).
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new DOMException('upstream timed out', 'TimeoutError')),
      this.upstreamTimeoutMs,
    );
    const onShutdown = (): void => deadline.abort(this.shutdown.signal.reason);
    this.shutdown.signal.addEventListener('abort', onShutdown);
    if (this.shutdown.signal.aborted) onShutdown();
    try {
      const accept = (buf: Buffer): boolean => parseResponse(buf, query) !== undefined;
      // A client on TCP has usually just been told TC: ask over TCP at once (as CoreDNS's forward does).
      if (transport === 'tcp')
        return await exchangeTcp(this.options.upstream, query.raw, accept, deadline.signal);
      const udp = await exchangeUdp(this.options.upstream, query.raw, accept, deadline.signal);
      if (!parseResponse(udp, query)?.flag_tc) return udp;
      this.count.tcpRetries++;
      return await exchangeTcp(this.options.upstream, query.raw, accept, deadline.signal);
    } finally {
      clearTimeout(timer);
      this.shutdown.signal.removeEventListener('abort', onShutdown);
    }
  }

  /** Waits for learn, at most holdMs (and not past shutdown). */
  private async hold(answer: LearnedAnswer): Promise<{ heldMs: number; holdTimedOut: boolean }> {
    this.count.held++;
    const start = performance.now();
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const learnt = Promise.resolve()
      .then(() => this.options.learn(answer))
      .then(
        () => 'learnt' as const,
        () => {
          this.count.learnErrors++;
          return 'failed' as const;
        },
      );
    const bound = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.holdMs);
      onAbort = () => resolve('timeout');
      this.shutdown.signal.addEventListener('abort', onAbort);
      if (this.shutdown.signal.aborted) onAbort();
    });
    const outcome = await Promise.race([learnt, bound]);
    clearTimeout(timer);
    if (onAbort) this.shutdown.signal.removeEventListener('abort', onAbort);
    const holdTimedOut = outcome === 'timeout' && !this.shutdown.signal.aborted;
    if (holdTimedOut) this.count.holdTimeouts++;
    return { heldMs: performance.now() - start, holdTimedOut };
  }

  private servfail(query: ParsedQuery): Buffer {
    return respond(query.packet, { rcode: 'SERVFAIL', recursionAvailable: true });
  }

  private emit(event: DnsQueryEvent): void {
    try {
      this.options.onQuery?.(event);
    } catch {
      // an observer's bug must not cost the pod its answer
    }
  }
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`DnsProxy: ${name} must be > 0, got ${value}`);
  return value;
}

function message(err: unknown): string {
  if (err instanceof UpstreamError) return err.kind === 'timeout' ? 'timed out' : err.message;
  return err instanceof Error ? err.message : String(err);
}
