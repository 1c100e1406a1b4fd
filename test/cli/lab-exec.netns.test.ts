// Needs root, `ip netns` and nft: `palisade lab exec` against a real lab (its own random id), through the
// built CLI: the command runs in the pod's netns, gets our stdin, and its exit status comes back.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LabStatus } from '../../src/lab/daemon/protocol.js';
import { labDown } from '../../src/lab/fabric.js';
import { labSkipReason } from '../lab/proof-support.js';
import type { Run } from './lab-cli-support.js';
import { CLI, leftovers, ok, palisade } from './lab-cli-support.js';

const skip = await labSkipReason();

const CLUSTER = `
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x}
spec: {nodeName: n1, containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x}
spec: {nodeName: n2, containers: [{name: c, image: i}]}
`;

describe('palisade lab exec (CLI, real lab)', { skip }, () => {
  const id = `pal-exec-${randomBytes(4).toString('hex')}`;
  let dir = '';
  let status: LabStatus | undefined;
  const lab = (...args: string[]): Run => palisade(['lab', ...args, '--id', id], dir, 60_000);
  const exec = (pod: string, ...argv: string[]): Run =>
    palisade(['lab', 'exec', '--id', id, pod, '--', ...argv], dir, 60_000);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pal-lab-exec-'));
    await writeFile(join(dir, 'cluster.yaml'), CLUSTER);
    // A killed test run must not leave its lab running: it goes down once this process is gone.
    ok(lab('up', '-f', 'cluster.yaml', '--watch-pid', String(process.pid)), 'lab up');
    status = JSON.parse(ok(lab('status', '-o', 'json'), 'lab status')) as LabStatus;
  });
  after(async () => {
    try {
      await labDown({ id });
      assert.deepEqual(await leftovers(id), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("runs in the pod's netns: `ip -4 -o addr show` shows the IP lab status reports, and only that pod's", () => {
    const pods = new Map(status?.pods.map((p) => [p.pod, p]));
    const a = pods.get('x/a');
    const b = pods.get('x/b');
    assert.ok(a && b, `pods x/a and x/b in lab status: ${JSON.stringify(status?.pods)}`);
    assert.notEqual(a.ip, b.ip);
    for (const [mine, theirs] of [
      [a, b],
      [b, a],
    ] as const) {
      const out = ok(exec(mine.pod, 'ip', '-4', '-o', 'addr', 'show'), `exec ${mine.pod}`);
      assert.match(out, new RegExp(`\\binet ${mine.ip.replaceAll('.', '\\.')}/32\\b`), out);
      assert.doesNotMatch(out, new RegExp(`\\binet ${theirs.ip.replaceAll('.', '\\.')}/`), out);
    }
  });

  it("passes the command's exit code through: sh -c 'exit 7' is 7, death by SIGTERM is 143", () => {
    const seven = exec('x/a', 'sh', '-c', 'exit 7');
    assert.equal(seven.code, 7, seven.stderr);
    assert.equal(seven.stderr, '', 'nothing of palisade is printed for a command that failed');
    const killed = exec('x/a', 'sh', '-c', 'kill -TERM $$');
    assert.equal(killed.code, 128 + 15, killed.stderr);
  });

  it('the command gets our stdin and writes to our stdout and stderr', () => {
    const r = spawnSync(
      process.execPath,
      [CLI, 'lab', 'exec', '--id', id, 'x/b', '--', 'sh', '-c', 'cat; echo to-stderr >&2'],
      { cwd: dir, encoding: 'utf8', input: 'from stdin\n', timeout: 60_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'from stdin\n');
    assert.equal(r.stderr, 'to-stderr\n');
  });

  it('an unknown pod exits 1 naming it and the pods there are; nothing runs', () => {
    const r = exec('x/nope', 'sh', '-c', 'echo ran');
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`lab ${id} has no pod x/nope; its pods: x/a, x/b`));
  });
});
