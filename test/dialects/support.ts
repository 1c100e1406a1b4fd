import type { Policy } from '../../src/ir/index.js';

/**
 * A loaded policy without `lines` (where its fields are written), to compare what a converter made
 * with an expected IR policy; the lines have tests of their own (parse.test.ts).
 */
export function withoutLines(policy: Policy): Policy {
  const { lines, ...rest } = policy;
  void lines;
  return rest;
}
