/** Exit codes every verb shares: scripts in CI branch on them. */
export const EXIT_OK = 0;
/** Bad flags, unreadable or invalid input. */
export const EXIT_USAGE = 1;
/** A bug in Palisade, not in the input. */
export const EXIT_INTERNAL = 2;

/** A failure the user can fix; its message is printed as is, without a stack. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
