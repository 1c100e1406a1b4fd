// Needs root, `ip netns` and nft: `palisade demo`, the README's main job, runs to completion.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { labDown } from '../../src/lab/fabric.js';
import { netnsInScope } from '../../src/lab/lab-id.js';
import { listNetns } from '../../src/lab/netns.js';
import { labSkipReason } from '../lab/proof-support.js';
import { CLI, ROOT } from './lab-cli-support.js';

const skip = await labSkipReason();

describe('palisade demo', { skip }, () => {
  const id = `t-${randomBytes(4).toString('hex')}`;
  after(async () => {
    await labDown({ id });
  });

  it('walks the six steps, each probe equal to analyze matrix, the HTTP step answered as analyze says, and removes its lab', async () => {
    const started = Date.now();
    const r = spawnSync(process.execPath, [CLI, 'demo', '--id', id], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 180_000,
    });
    assert.equal(r.status, 0, `demo failed:\n${r.stderr}\n${r.stdout}`);
    for (const step of [
      'no policy',
      'default deny',
      'allow by label',
      'named port',
      'ipBlock with except',
      'an HTTP rule',
    ])
      assert.match(r.stdout, new RegExp(`=== Step \\d/6: ${step} ===`));
    assert.equal(r.stdout.match(/^probe == analyze: yes/gm)?.length, 6, r.stdout);
    // The HTTP step: real requests through the server node's proxy, as analyze computes them, and the
    // flow-log lines naming the rule that decided.
    for (const client of ['client-a', 'client-b']) {
      assert.match(
        r.stdout,
        new RegExp(`demo/${client} -> demo/server:8080 +GET /metrics +forwarded +analyze: forwarded\n`),
      );
      assert.match(
        r.stdout,
        new RegExp(`demo/${client} -> demo/server:8080 +POST /metrics +http:403 +analyze: http:403\n`),
      );
      assert.match(
        r.stdout,
        new RegExp(
          `denied +demo/${client} .*POST /metrics → http:403 +ingress: CiliumNetworkPolicy demo/metrics-get-only rule 0`,
        ),
      );
    }
    assert.doesNotMatch(r.stdout, /MISMATCH/);
    // What each step is meant to show, as the cells that changed.
    assert.match(r.stdout, /TCP\/80 demo\/client-a -> demo\/server: X -> \./);
    assert.match(r.stdout, /TCP\/8080 demo\/client-b -> demo\/server: \. -> X/);
    assert.match(
      r.stdout,
      /changed since the previous step \(1 cell\):\n {2}TCP\/80 other\/client-e -> demo\/server: X -> \./,
    );
    assert.match(r.stderr, /demo: done in/);
    assert.deepEqual(
      (await listNetns()).filter((n) => netnsInScope(n, { id })),
      [],
    );
    assert.ok(Date.now() - started < 120_000);
  });
});
