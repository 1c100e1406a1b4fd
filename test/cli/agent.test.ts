import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { EXIT_USAGE } from '../../src/cli/exit-codes.js';
import { BACKEND_NAMES, DEFAULT_BACKEND, allBackends } from '../../src/datapath/index.js';

const ROOT = join(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');
// Refusals come before anything starts; should one not, the agent finds nothing here to touch.
const STATE = mkdtempSync(join(tmpdir(), 'pal-agent-cli-'));
after(() => rmSync(STATE, { recursive: true, force: true }));

function agent(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    process.execPath,
    [CLI, 'agent', '--node', 'pal-n1', '--state-dir', STATE, '--datastore', `dir:${STATE}`, ...args],
    { cwd: ROOT, encoding: 'utf8', timeout: 20_000 },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('palisade agent --datapath', () => {
  it('--help names every registered backend and the default', () => {
    const r = spawnSync(process.execPath, [CLI, 'agent', '--help'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const line = r.stdout.replace(/\s+/g, ' ');
    assert.match(line, /--datapath <name>/);
    for (const name of BACKEND_NAMES) assert.ok(line.includes(name), `help mentions ${name}`);
    assert.ok(line.includes(`default: "${DEFAULT_BACKEND}"`), line);
  });

  it('an unknown name is bad input (exit 1) that lists the registered names', () => {
    const r = agent(['--datapath', 'pal-no-such-backend']);
    assert.equal(r.code, EXIT_USAGE, r.stderr);
    assert.match(r.stderr, /--datapath pal-no-such-backend: one of /);
    for (const name of BACKEND_NAMES) assert.ok(r.stderr.includes(name), r.stderr);
  });

  // Strict mode is on unless --no-strict: a backend without strictCut would claim cuts it cannot make.
  const lacking = allBackends().filter((b) => !b.capabilities.strictCut);
  for (const backend of lacking) {
    it(`strict mode with ${backend.name}, which lacks strictCut, is refused (exit 1) naming the capability`, () => {
      const r = agent(['--datapath', backend.name]);
      assert.equal(r.code, EXIT_USAGE, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `--datapath ${backend.name}: strict mode needs strictCut, which the ${backend.name} datapath lacks`,
        ),
      );
      assert.match(r.stderr, /pass --no-strict/);
      for (const able of allBackends().filter((b) => b.capabilities.strictCut))
        assert.ok(r.stderr.includes(able.name), `the hint names ${able.name}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    });
  }
  if (lacking.length === 0)
    it('strict mode with a backend that lacks strictCut is refused', {
      skip: 'every registered backend has strictCut',
    });
});
