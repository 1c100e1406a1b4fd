/** commander accumulator: `-f a -f b` and `-f a b` both give [a, b]. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
