import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EXIT_INTERNAL,
  EXIT_MISMATCH,
  EXIT_OK,
  EXIT_USAGE,
  MismatchError,
  UsageError,
  exitCodeOf,
} from '../../src/cli/exit-codes.js';

describe('exit codes', () => {
  it('are distinct: a script can tell bad input, a bug and a measured mismatch apart', () => {
    const codes = [EXIT_OK, EXIT_USAGE, EXIT_INTERNAL, EXIT_MISMATCH];
    assert.equal(new Set(codes).size, codes.length);
  });

  const cases: { name: string; err: unknown; code: number }[] = [
    { name: 'a usage error is bad input', err: new UsageError('--port x'), code: EXIT_USAGE },
    {
      name: 'a subclass of UsageError (lint findings) is still bad input',
      err: new (class LintFailed extends UsageError {})('lint: 1 error'),
      code: EXIT_USAGE,
    },
    {
      name: 'probe != analyze is a mismatch, not bad input',
      err: new MismatchError(2, 'the lab measured 2 cell(s) differently from analyze matrix'),
      code: EXIT_MISMATCH,
    },
    { name: 'any other error is internal', err: new TypeError('x is undefined'), code: EXIT_INTERNAL },
    { name: 'a thrown non-error is internal', err: 'boom', code: EXIT_INTERNAL },
  ];
  for (const c of cases) it(c.name, () => assert.equal(exitCodeOf(c.err), c.code));

  it('a mismatch carries how many cells differ', () => {
    assert.equal(new MismatchError(3, 'x').cells, 3);
  });
});
