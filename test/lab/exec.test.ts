// The exit status `palisade lab exec` passes on (src/lab/exec.ts), without root.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { childExitCode } from '../../src/lab/exec.js';

describe('lab exec: exit status of the command', () => {
  const cases: { name: string; code: number | null; signal: NodeJS.Signals | null; want: number }[] = [
    { name: 'success is 0', code: 0, signal: null, want: 0 },
    { name: 'an exit code passes through as is', code: 7, signal: null, want: 7 },
    { name: "ip's own failure (exec failed) passes through", code: 255, signal: null, want: 255 },
    { name: 'SIGINT is 128+2, as a shell says', code: null, signal: 'SIGINT', want: 130 },
    { name: 'SIGKILL is 128+9', code: null, signal: 'SIGKILL', want: 137 },
    { name: 'SIGTERM is 128+15', code: null, signal: 'SIGTERM', want: 143 },
  ];
  for (const c of cases) it(c.name, () => assert.equal(childExitCode(c.code, c.signal), c.want));
});
