/** Exit codes every verb shares: scripts in CI branch on them. */
export const EXIT_OK = 0;
/** Bad flags, unreadable or invalid input. */
export const EXIT_USAGE = 1;
/** A bug in Palisade, not in the input. */
export const EXIT_INTERNAL = 2;
/**
 * The input was fine and everything ran, but the lab measured a verdict other than the one `analyze matrix`
 * computes (the demo's `probe == analyze: NO`): enforcement and analysis disagree.
 */
export const EXIT_MISMATCH = 3;

/** A failure the user can fix; its message is printed as is, without a stack. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Probe != analyze on `cells` cells; the cells themselves have been printed already. */
export class MismatchError extends Error {
  override readonly name = 'MismatchError';
  constructor(
    readonly cells: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A command the verb ran on the user's behalf (`lab exec`) exited with `code` (not 0): that code becomes
 * the verb's own, and nothing is printed, since the command has said what it had to say.
 */
export class ChildExit extends Error {
  override readonly name = 'ChildExit';
  constructor(readonly code: number) {
    super(`the command exited with ${code}`);
  }
}

/** The exit code of a verb that threw `err`; anything but EXIT_INTERNAL is printed without a stack. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof ChildExit) return err.code;
  if (err instanceof MismatchError) return EXIT_MISMATCH;
  if (err instanceof UsageError) return EXIT_USAGE;
  return EXIT_INTERNAL;
}
