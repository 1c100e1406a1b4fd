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

describe('dir: source rescans', () => {
  it('hands over edits, same-size rewrites and deletions; temp files are not objects', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pal-dirsrc-'));
    const snapshots: DesiredObjects[] = [];
    const healths: boolean[] = [];
    const source = dirSource(dir, { debounceMs: 20, rescanMs: 60_000 });
    const latest = async (what: string, ok: (o: DesiredObjects) => boolean): Promise<DesiredObjects> => {
      for (let i = 0; i < 300; i++) {
        const last = snapshots[snapshots.length - 1];
        if (last !== undefined && ok(last)) return last;
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.fail(`no snapshot with ${what}`);
    };
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.json');
    try {
      await writeFile(a, json({ ...NAMESPACE, metadata: { name: 'aaaa' } }));
      await writeFile(b, json(DENY_ALL));
      source.start({
        snapshot: (objects) => snapshots.push(objects),
        health: (h) => healths.push(h.connected),
        log: () => undefined,
      });
      await latest('both files', (o) => o.size === 2);
      // Same size, written in place: only the stamp's times tell it apart.
      const same = json({ ...NAMESPACE, metadata: { name: 'bbbb' } });
      await writeFile(a, same);
      await latest('the rewrite', (o) => o.get(a) === same);
      await writeFile(join(dir, 'c.json.99.tmp'), json(NAMESPACE));
      await rm(b);
      const after = await latest('the deletion', (o) => !o.has(b));
      assert.deepEqual([...after.keys()], [a]);
      assert.deepEqual(healths, [true]);
    } finally {
      await source.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('dir: source under a steady writer', () => {
  it('keeps handing over snapshots while writes come faster than the debounce', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pal-dirsrc-'));
    let snapshots = 0;
    const source = dirSource(dir, { debounceMs: 50, rescanMs: 60_000 });
    try {
      await writeFile(join(dir, 'ns.json'), json(NAMESPACE));
      source.start({ snapshot: () => (snapshots += 1), health: () => undefined, log: () => undefined });
      for (let i = 0; i < 300 && snapshots === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const first = snapshots;
      // One write every 10 ms, for at most 2 s: never a 50 ms gap for a restarting debounce to fire in.
      for (let i = 0; i < 200 && snapshots === first; i++) {
        await writeFile(join(dir, 'ns.json'), json({ ...NAMESPACE, metadata: { name: `ns-${i}` } }));
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(snapshots > first, 'no snapshot while the writer kept writing');
    } finally {
      await source.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
