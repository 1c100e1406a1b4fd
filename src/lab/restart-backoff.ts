/**
 * When to restart a process that exited, as a kubelet restarts a container (client-go's flowcontrol
 * Backoff): the first restart comes at once (backoffMs(0)), each further exit doubles the wait up to a
 * cap, and an exit long after the previous one (more than twice the cap) starts over, so a process that
 * ran well for a while is not punished for an old crash loop. Pure: the caller passes the clock.
 */
import { backoffMs } from '../agent/sources/source.js';

/** The longest wait between restarts of a crash-looping process. */
export const RESTART_BACKOFF_CAP_MS = 10_000;

export class RestartBackoff {
  readonly capMs: number;
  #attempt = 0;
  #lastExitMs: number | undefined;

  constructor(capMs = RESTART_BACKOFF_CAP_MS) {
    this.capMs = capMs;
  }

  /** The wait before restarting after an exit at `nowMs`. */
  next(nowMs: number): number {
    const fresh = this.#lastExitMs === undefined || nowMs - this.#lastExitMs > 2 * this.capMs;
    this.#attempt = fresh ? 0 : this.#attempt + 1;
    this.#lastExitMs = nowMs;
    return backoffMs(this.#attempt, this.capMs);
  }
}
