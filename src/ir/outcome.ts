/**
 * What a fallible library boundary returns (STYLE.md §6): the value, or a typed error whose class and
 * `code` say what went wrong. The safe function returns an Outcome; a throwing variant, where one is
 * wanted, wraps it with `unwrap`.
 */
export type Outcome<T, E extends Error> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

export const success = <T>(value: T): { readonly ok: true; readonly value: T } => ({ ok: true, value });

export const failure = <E extends Error>(error: E): { readonly ok: false; readonly error: E } => ({
  ok: false,
  error,
});

/** The value, or the typed error thrown. */
export function unwrap<T, E extends Error>(outcome: Outcome<T, E>): T {
  if (outcome.ok) return outcome.value;
  throw outcome.error;
}
