/**
 * The pal-spawn helper and its Node side: every request in flight gets its own exit code, stdout and
 * stderr (input larger than a pipe buffer, output larger than one read, a command that ignores its
 * input, one killed by a signal), a command that cannot start rejects as child_process does, and a
 * helper that dies fails only what it owed, the next request starting a new one.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { buildSpawner } from '../../support/native.js';
import type { Spawner } from '../../../src/cni/kernel/spawner.js';
import { encodeRequest, startSpawner, takeReply } from '../../../src/cni/kernel/spawner.js';

const skip = spawnSync('cc', ['--version']).status === 0 ? undefined : 'no C compiler';

describe('reply framing (pure)', () => {
  it('waits for a whole frame, then splits stdout, stderr and what follows', () => {
    const frame = Buffer.from('7 3 5 4\nhellooops8 0 0 0\n');
    assert.equal(takeReply(frame.subarray(0, 12)), undefined, 'partial body');
    assert.equal(takeReply(Buffer.from('7 3')), undefined, 'partial header');
    const r = takeReply(frame);
    assert.deepEqual(
      r && { id: r.id, status: r.status, stdout: r.stdout, stderr: r.stderr, rest: r.rest.toString() },
      { id: 7, status: 3, stdout: 'hello', stderr: 'oops', rest: '8 0 0 0\n' },
    );
    assert.equal(takeReply(Buffer.from('7 -1 0 6\nnoexec'))?.status, -1);
    assert.throws(() => takeReply(Buffer.from('junk\n')), /malformed reply/);
  });

  it('a request is header, NUL-terminated arguments, then stdin bytes', () => {
    assert.equal(
      encodeRequest(3, ['ip', '-batch', '-'], 'link set lo up\n').toString(),
      '3 3 15\nip\0-batch\0-\0link set lo up\n',
    );
  });
});

describe('pal-spawn', { skip }, () => {
  let spawner: Spawner;
  before(async () => {
    spawner = startSpawner(await buildSpawner());
  });
  after(() => spawner.close());

  it('runs many commands at once, each with its own status, stdout and stderr', async () => {
    const big = 'x'.repeat(300_000);
    const cases = Array.from({ length: 60 }, (_, i) => i);
    const results = await Promise.all([
      spawner.exec(['cat'], { input: big }),
      spawner.exec(['sh', '-c', 'head -c 1 >/dev/null; echo out; echo err >&2; exit 3'], { input: big }),
      spawner.exec(['true'], { input: big }),
      spawner.exec(['sh', '-c', 'kill -9 $$']),
      ...cases.map((i) => spawner.exec(['sh', '-c', `echo ${i}`])),
    ]);
    const [cat, mixed, ignores, killed, ...echoes] = results;
    assert.equal(cat?.code, 0);
    assert.equal(cat?.stdout, big, 'input and output larger than a pipe buffer arrive whole');
    assert.deepEqual(mixed, { code: 3, stdout: 'out\n', stderr: 'err\n' });
    assert.equal(ignores?.code, 0, 'a command that does not read its input is not an error');
    assert.equal(killed?.code, 137, 'killed by SIGKILL: 128 + 9');
    assert.deepEqual(
      echoes.map((r) => r.stdout),
      cases.map((i) => `${i}\n`),
    );
  });

  it('a command that cannot start rejects, naming it', async () => {
    await assert.rejects(spawner.exec(['/nonexistent/pal-nothing']), /pal-nothing.*No such file/);
    assert.equal((await spawner.exec(['true'])).code, 0, 'and the helper goes on');
  });

  it('closing fails nothing in flight, and the next command starts a new helper', async () => {
    const running = spawner.exec(['sh', '-c', 'sleep 0.2; echo done']);
    spawner.close();
    assert.equal((await running).stdout, 'done\n');
    assert.equal((await spawner.exec(['echo', 'again'])).stdout, 'again\n');
  });
});
