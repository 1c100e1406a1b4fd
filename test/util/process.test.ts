import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommandError, fullArgv, inNetns, run, runChecked } from '../../src/util/process.js';

void describe('run', () => {
  void it('feeds input on stdin and collects exit code, stdout and stderr apart', async () => {
    const r = await run(['sh', '-c', 'cat; echo err >&2; exit 3'], { input: 'in\n' });
    assert.deepEqual(r, { code: 3, stdout: 'in\n', stderr: 'err\n', timedOut: false });
  });

  void it('a command that does not read its input is not an error', async () => {
    const r = await run(['true'], { input: 'x'.repeat(300_000) });
    assert.equal(r.code, 0);
  });

  void it('kills at the deadline and says so', async () => {
    const started = Date.now();
    const r = await run(['sleep', '5'], { timeoutMs: 100 });
    assert.equal(r.timedOut, true);
    assert.notEqual(r.code, 0);
    assert.ok(Date.now() - started < 4000, 'did not wait for the command');
  });

  void it('passes the environment it is given, and only that', async () => {
    const r = await run(['/bin/sh', '-c', 'echo "$PAL_X-${HOME:-none}"'], { env: { PAL_X: 'y' } });
    assert.equal(r.stdout, 'y-none\n');
  });

  void it('tells the pid as soon as the command runs', async () => {
    let pid: number | undefined;
    const r = await run(['sh', '-c', 'echo $$'], { onSpawn: (p) => (pid = p) });
    assert.equal(r.stdout.trim(), String(pid));
  });

  void it('rejects with CommandError naming a command that cannot start', async () => {
    await assert.rejects(run(['/nonexistent/pal-nothing']), (e: unknown) => {
      assert.ok(e instanceof CommandError);
      assert.deepEqual(e.command, ['/nonexistent/pal-nothing']);
      assert.match(e.message, /pal-nothing: .*ENOENT/);
      return true;
    });
    await assert.rejects(run([]), /empty command/);
  });
});

void describe('runChecked', () => {
  void it('resolves for exit 0', async () => {
    assert.equal((await runChecked(['echo', 'ok'])).stdout, 'ok\n');
  });

  void it('rejects a non-zero exit with the code, stderr and the input fed', async () => {
    await assert.rejects(
      runChecked(['sh', '-c', 'echo bad >&2; exit 2'], { input: 'script' }),
      (e: unknown) => {
        assert.ok(e instanceof CommandError);
        assert.equal(e.code, 2);
        assert.equal(e.stderr, 'bad\n');
        assert.equal(e.input, 'script');
        assert.match(e.message, /exited with 2: bad/);
        return true;
      },
    );
  });

  void it('rejects a command killed at its deadline', async () => {
    await assert.rejects(runChecked(['sleep', '5'], { timeoutMs: 100 }), /no result within 100 ms/);
  });
});

void describe('netns prefix', () => {
  void it('runs through ip netns exec when a netns is named', () => {
    assert.deepEqual(inNetns('pal-x', ['nft', 'list']), ['ip', 'netns', 'exec', 'pal-x', 'nft', 'list']);
    assert.deepEqual(fullArgv(['nft'], { netns: 'pal-x' }), ['ip', 'netns', 'exec', 'pal-x', 'nft']);
    assert.deepEqual(fullArgv(['nft'], {}), ['nft']);
  });
});
