import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DIR_REVISION_FILE, dirSource } from '../../../src/agent/index.js';
import type { DesiredObjects } from '../../../src/agent/index.js';
import { DENY_ALL, NAMESPACE, json } from '../support.js';

describe('dir: source revisions', () => {
  it('each snapshot carries the marker number; bumping it alone yields a new snapshot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pal-dirsrc-'));
    const snapshots: { objects: DesiredObjects; revision: string | undefined }[] = [];
    const source = dirSource(dir, { debounceMs: 20, rescanMs: 60_000 });
    const waitFor = async (n: number): Promise<void> => {
      for (let i = 0; i < 300 && snapshots.length < n; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(snapshots.length >= n, `expected ${n} snapshots, got ${snapshots.length}`);
    };
    try {
      await writeFile(join(dir, 'ns.json'), json(NAMESPACE));
      await writeFile(join(dir, DIR_REVISION_FILE), '1\n');
      source.start({
        snapshot: (objects, revision) => snapshots.push({ objects, revision }),
        health: () => undefined,
        log: () => undefined,
      });
      await waitFor(1);
      assert.equal(snapshots[0]?.revision, '1');
      assert.deepEqual([...(snapshots[0]?.objects.keys() ?? [])], [join(dir, 'ns.json')]);

      await writeFile(join(dir, DIR_REVISION_FILE), '2\n');
      await waitFor(2);
      assert.equal(snapshots[1]?.revision, '2');
      assert.equal(snapshots[1]?.objects.size, 1, 'the marker is not an object');

      await writeFile(join(dir, 'deny.json'), json(DENY_ALL));
      await writeFile(join(dir, DIR_REVISION_FILE), '3\n');
      await waitFor(3);
      const last = snapshots[snapshots.length - 1];
      assert.equal(last?.revision, '3');
      assert.equal(last?.objects.size, 2);
    } finally {
      await source.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
