/**
 * Drift repair, as root: the agent diffs each sync against the table it last applied instead of reading
 * the kernel back, so a hand edit of the table is invisible to ordinary syncs; the periodic resync must
 * read the kernel and put the table back, with no datastore change at all.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { endpointId } from '../../src/datapath/index.js';
import { canConnect, createTopology, netnsUnavailable, startServers } from '../datapath/support/netns.js';
import { cli, nftTable, startAgent, waitFor } from './agent-support.js';
import { DENY_ALL, NAMESPACE, NODE, allowBToA, json, pod } from './support.js';

const A_IP = '10.77.0.10';
const B_IP = '10.77.0.11';

describe('agent drift repair', { skip: netnsUnavailable() }, () => {
  it('the periodic resync restores a hand-edited table', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'pal-agent-drift-'));
    const topo = await createTopology([
      { name: 'a', ip: A_IP },
      { name: 'b', ip: B_IP },
    ]);
    let agent: ReturnType<typeof startAgent> | undefined;
    try {
      const input = join(tmp, 'in.yaml');
      await writeFile(
        input,
        [NAMESPACE, pod('a', A_IP), pod('b', B_IP), DENY_ALL, allowBToA(80)].map(json).join('\n---\n'),
      );
      const ds = `dir:${join(tmp, 'store')}`;
      assert.equal((await cli(['apply', '-f', input, '--datastore', ds])).code, 0);
      agent = startAgent(NODE, join(tmp, 'run'), ['--datastore', ds, '--netns', topo.node, '--resync', '1']);
      await agent.until('the allow', (s) => s.state === 'ready' && s.lastSync?.counts.policiesOnNode === 2);
      await startServers(topo, [80]);
      const b = topo.pods.get('b')?.netns as string;
      assert.equal(await canConnect(b, A_IP, 80), true, 'the allow lets b reach a');
      const table = nftTable(topo.node);
      const chain = new RegExp(`chain (ing_${endpointId('pal/a')}_\\S+)`).exec(table)?.[1];
      assert.ok(chain, table);

      const before = (await agent.status()).lastChange?.at;
      const flush = spawnSync('ip', [
        'netns',
        'exec',
        topo.node,
        'nft',
        'flush',
        'chain',
        'inet',
        'palisade',
        chain,
      ]);
      assert.equal(flush.status, 0, flush.stderr.toString());

      const repaired = await agent.until(
        'the repair',
        (s) =>
          s.lastChange !== undefined &&
          s.lastChange.at !== before &&
          s.lastChange.touched.chains.includes(chain),
      );
      assert.equal(repaired.lastChange?.ok, true);
      await waitFor('the table as it was', () =>
        Promise.resolve(nftTable(topo.node) === table ? true : undefined),
      );
      assert.equal(await canConnect(b, A_IP, 80), true, 'b reaches a again');
      assert.equal(await canConnect(b, A_IP, 81), false, 'and only on the allowed port');
    } finally {
      await agent?.stop();
      await topo.destroy();
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
