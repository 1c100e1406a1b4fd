/**
 * Capped exponential back-off, the one schedule for every retry and restart: datastore sources
 * reconnecting, the agent retrying a failed apply, supervised helper processes restarting.
 */

export interface BackoffOptions {
  /** The first delay. */
  readonly baseMs?: number;
  /** No delay is longer. */
  readonly maxMs?: number;
}

/** Delay before retry number `attempt` (0-based): base, 2×base, 4×base, … up to `maxMs`. */
export function backoffMs(attempt: number, { baseMs = 200, maxMs = 5000 }: BackoffOptions = {}): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 10));
}

/**
 * Restart delays for a supervised process: each quick death doubles the next delay, and a process that
 * ran longer than `healthyMs` before dying earned a fresh start (a crash a day must not wait the cap).
 */
export class RestartBackoff {
  #restarts = 0;

  constructor(private readonly opts: BackoffOptions & { readonly healthyMs: number }) {}

  /** The delay before restarting a process that just died after running `ranMs`. */
  next(ranMs: number): number {
    if (ranMs > this.opts.healthyMs) this.#restarts = 0;
    this.#restarts += 1;
    return backoffMs(this.#restarts, this.opts);
  }

  /** How many restarts in a row so far. */
  get restarts(): number {
    return this.#restarts;
  }
}
