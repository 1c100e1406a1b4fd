/**
 * Per-flow-key token buckets, so a flood (one client hammering a denied port) costs a few log lines and a
 * map lookup per packet, not a line per packet. Keys live in a Map used as an LRU (re-inserted on use, the
 * oldest evicted past `maxKeys`), so a flood of distinct keys is bounded in memory too; a global bucket
 * caps the total line rate whatever the keys. What is held back is counted, per key, and reported on the
 * key's next written line (`suppressed`); `flush` writes the last held-back event of keys gone quiet, so a
 * flood that stops still ends with a line saying how much it was. Pure: the clock is passed in.
 */

export interface RateLimitOptions {
  /** Lines per second per key, sustained. */
  readonly perKeyRate: number;
  /** Lines a key may write at once before the rate applies. */
  readonly perKeyBurst: number;
  /** Lines per second over all keys. */
  readonly globalRate: number;
  readonly globalBurst: number;
  /** Keys remembered; the least recently seen are forgotten first. */
  readonly maxKeys: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitOptions = {
  perKeyRate: 2,
  perKeyBurst: 10,
  globalRate: 500,
  globalBurst: 1000,
  maxKeys: 10_000,
};

/** An item let through, with how many of its key's items were held back since the key's last one. */
export interface Admitted<T> {
  readonly value: T;
  readonly suppressed: number;
}

interface Bucket<T> {
  tokens: number;
  at: number;
  suppressed: number;
  /** The last held-back item, written by `flush` once the key has tokens again. */
  pending: T | undefined;
}

interface Tokens {
  tokens: number;
  at: number;
}

function refill(b: Tokens, now: number, rate: number, burst: number): void {
  const elapsed = Math.max(0, now - b.at) / 1000;
  b.tokens = Math.min(burst, b.tokens + elapsed * rate);
  b.at = now;
}

export class FlowRateLimiter<T> {
  private readonly buckets = new Map<string, Bucket<T>>();
  private readonly global: Tokens;
  /** Held-back items whose key was evicted before a line could report them. */
  evictedSuppressed = 0;

  constructor(
    private readonly opts: RateLimitOptions = DEFAULT_RATE_LIMIT,
    now = 0,
  ) {
    this.global = { tokens: opts.globalBurst, at: now };
  }

  get size(): number {
    return this.buckets.size;
  }

  /** The item to write now (with the key's held-back count), or undefined when it is held back. */
  admit(key: string, value: T, now: number): Admitted<T> | undefined {
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = { tokens: this.opts.perKeyBurst, at: now, suppressed: 0, pending: undefined };
      this.evict();
    } else {
      this.buckets.delete(key);
    }
    this.buckets.set(key, b);
    refill(b, now, this.opts.perKeyRate, this.opts.perKeyBurst);
    refill(this.global, now, this.opts.globalRate, this.opts.globalBurst);
    if (b.tokens < 1 || this.global.tokens < 1) {
      b.suppressed += 1;
      b.pending = value;
      return undefined;
    }
    b.tokens -= 1;
    this.global.tokens -= 1;
    const suppressed = b.suppressed;
    b.suppressed = 0;
    b.pending = undefined;
    return { value, suppressed };
  }

  /**
   * For keys holding back items and with a token again: their last held-back item, carrying the count of
   * the others (so lines + suppressed counts = events seen).
   */
  flush(now: number): Admitted<T>[] {
    const out: Admitted<T>[] = [];
    refill(this.global, now, this.opts.globalRate, this.opts.globalBurst);
    for (const b of this.buckets.values()) {
      if (b.pending === undefined) continue;
      refill(b, now, this.opts.perKeyRate, this.opts.perKeyBurst);
      if (b.tokens < 1 || this.global.tokens < 1) continue;
      b.tokens -= 1;
      this.global.tokens -= 1;
      // The pending item is one of the held-back ones: it is written, the rest are counted.
      out.push({ value: b.pending, suppressed: b.suppressed - 1 });
      b.suppressed = 0;
      b.pending = undefined;
    }
    return out;
  }

  private evict(): void {
    while (this.buckets.size >= this.opts.maxKeys) {
      const oldest = this.buckets.keys().next();
      if (oldest.done === true) return;
      const b = this.buckets.get(oldest.value);
      if (b !== undefined) this.evictedSuppressed += b.suppressed;
      this.buckets.delete(oldest.value);
    }
  }
}
