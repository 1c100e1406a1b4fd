// `palisade lab exec` argument handling (src/cli/lab-exec.ts), without root: every mistake is a usage error
// (exit 1) that says what is wrong, before anything runs.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ChildExit, EXIT_USAGE, UsageError, exitCodeOf } from '../../src/cli/exit-codes.js';
import { findPod, parseExecArgs } from '../../src/cli/lab-exec.js';
import type { PodStatus } from '../../src/lab/daemon/protocol.js';
import { ROOT, palisade } from './lab-cli-support.js';

const pod = (key: string, netns: string): PodStatus => ({
  pod: key,
  node: 'n1',
  ip: '10.0.0.2',
  hostNetwork: false,
  netns,
  ports: [],
  labels: {},
});

describe('lab exec arguments', () => {
  it('takes NS/POD and the command as given', () => {
    assert.deepEqual(parseExecArgs('x/a', ['sh', '-c', 'exit 7']), {
      pod: 'x/a',
      argv: ['sh', '-c', 'exit 7'],
    });
  });

  const bad: { name: string; pod: string; command: string[]; message: RegExp }[] = [
    { name: 'no command', pod: 'x/a', command: [], message: /exec x\/a: missing CMD/ },
    { name: 'an empty command name', pod: 'x/a', command: [''], message: /missing CMD/ },
    {
      name: 'a pod without namespace',
      pod: 'a',
      command: ['true'],
      message: /exec a: expected NAMESPACE\/POD/,
    },
    {
      name: 'a pod path of three parts',
      pod: 'x/a/b',
      command: ['true'],
      message: /expected NAMESPACE\/POD/,
    },
  ];
  for (const b of bad)
    it(`refuses ${b.name}`, () =>
      assert.throws(
        () => parseExecArgs(b.pod, b.command),
        (e: unknown) => {
          assert.ok(e instanceof UsageError);
          assert.match(e.message, b.message);
          assert.match(e.message, /palisade lab exec NS\/POD -- CMD/);
          return true;
        },
      ));

  it('finds the pod by key, with its netns', () => {
    const pods = [pod('x/a', 'pal-t.pa'), pod('x/b', 'pal-t.pb')];
    assert.equal(findPod('t', pods, 'x/b').netns, 'pal-t.pb');
  });

  it('an unknown pod is a usage error naming it and listing the pods there are', () => {
    const pods = [pod('x/a', 'pal-t.pa'), pod('y/c', 'pal-t.pc')];
    assert.throws(
      () => findPod('t', pods, 'x/zz'),
      (e: unknown) => e instanceof UsageError && e.message === 'lab t has no pod x/zz; its pods: x/a, y/c',
    );
    assert.throws(() => findPod('t', [], 'x/a'), /lab t has no pod x\/a; it has no pods/);
  });

  it("the command's exit code becomes the verb's", () => {
    assert.equal(exitCodeOf(new ChildExit(7)), 7);
    assert.equal(exitCodeOf(new ChildExit(130)), 130);
  });
});

describe('palisade lab exec (the built CLI, no lab needed)', () => {
  // An id no lab has: nothing in this file starts one.
  const id = `pal-none-${randomBytes(4).toString('hex')}`;

  it('missing CMD: exit 1 with the usage, before any lab is asked', () => {
    const r = palisade(['lab', 'exec', '--id', id, 'x/a'], ROOT);
    assert.equal(r.code, EXIT_USAGE, r.stderr);
    assert.match(r.stderr, /exec x\/a: missing CMD \(palisade lab exec NS\/POD -- CMD/);
  });

  it('a bad pod: exit 1', () => {
    const r = palisade(['lab', 'exec', '--id', id, 'a', '--', 'true'], ROOT);
    assert.equal(r.code, EXIT_USAGE, r.stderr);
    assert.match(r.stderr, /expected NAMESPACE\/POD/);
  });

  it('no such lab: exit 1 naming it and how to start one', () => {
    const r = palisade(['lab', 'exec', '--id', id, 'x/a', '--', 'true'], ROOT);
    assert.equal(r.code, EXIT_USAGE, r.stderr);
    assert.match(r.stderr, new RegExp(`no lab "${id}" is running.*palisade lab up --id ${id}`));
  });

  it('options after -- belong to the command, not to palisade', () => {
    const other = `pal-other-${randomBytes(4).toString('hex')}`;
    const r = palisade(['lab', 'exec', '--id', id, 'x/a', '--', 'ip', '--id', other], ROOT);
    assert.equal(r.code, EXIT_USAGE, r.stderr);
    assert.match(r.stderr, new RegExp(`no lab "${id}"`));
    assert.doesNotMatch(r.stderr, new RegExp(other));
  });
});
