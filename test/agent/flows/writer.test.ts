import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, appendFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FlowLogTail, RotatingWriter, flowLogFiles, readLines } from '../../../src/agent/index.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pal-flows-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const line = (i: number): string => JSON.stringify({ i, pad: 'x'.repeat(40) });

describe('RotatingWriter', () => {
  it('keeps every file under the size bound, at most N files, lines in order', async () => {
    await withDir(async (dir) => {
      const path = join(dir, 'sub', 'n1.jsonl');
      const w = new RotatingWriter(path, { maxBytes: 1000, files: 3 });
      for (let i = 0; i < 200; i++) w.write(line(i));
      w.close();
      const names = (await readdir(join(dir, 'sub'))).sort();
      assert.deepEqual(names, ['n1.jsonl', 'n1.jsonl.1', 'n1.jsonl.2']);
      for (const n of names) assert.ok((await stat(join(dir, 'sub', n))).size <= 1000, n);
      assert.ok(w.rotations > 2);
      const files = await flowLogFiles(path);
      assert.deepEqual(files, [`${path}.2`, `${path}.1`, path]);
      const seen: number[] = [];
      for await (const { line: l } of readLines(files))
        if (l !== '') seen.push((JSON.parse(l) as { i: number }).i);
      // The newest lines survive, contiguous and in order, ending with the last one.
      assert.equal(seen[seen.length - 1], 199);
      for (let k = 1; k < seen.length; k++) assert.equal(seen[k], (seen[k - 1] as number) + 1);
      assert.ok(seen.length >= 30 && seen.length < 200, `${seen.length} kept`);
    });
  });

  it('appends to an existing log and counts its size', async () => {
    await withDir(async (dir) => {
      const path = join(dir, 'n1.jsonl');
      await appendFile(path, `${'y'.repeat(950)}\n`);
      const w = new RotatingWriter(path, { maxBytes: 1000, files: 2 });
      w.write(line(1)); // does not fit next to the 951 bytes already there
      w.close();
      assert.equal((await readFile(path, 'utf8')).trim(), line(1));
      assert.match(await readFile(`${path}.1`, 'utf8'), /^y+\n$/);
    });
  });

  it('one file: rotation truncates', async () => {
    await withDir(async (dir) => {
      const path = join(dir, 'n1.jsonl');
      const w = new RotatingWriter(path, { maxBytes: 200, files: 1 });
      for (let i = 0; i < 20; i++) w.write(line(i));
      w.close();
      assert.deepEqual(await readdir(dir), ['n1.jsonl']);
      assert.ok((await stat(path)).size <= 200);
    });
  });
});

describe('FlowLogTail', () => {
  it('follows new lines across a rotation without losing or repeating any', async () => {
    await withDir(async (dir) => {
      const path = join(dir, 'n1.jsonl');
      await appendFile(path, `${line(0)}\n`);
      const got: number[] = [];
      const tail = new FlowLogTail(path, (l) => got.push((JSON.parse(l) as { i: number }).i), 20);
      await tail.start((await stat(path)).size);
      try {
        await appendFile(path, `${line(1)}\n${line(2)}\n`);
        await new Promise((r) => setTimeout(r, 150));
        await appendFile(path, `${line(3)}\n`);
        await rename(path, `${path}.1`); // rotation right after a write the tail may not have read yet
        await appendFile(path, `${line(4)}\n`);
        for (let i = 0; i < 100 && got.length < 4; i++) await new Promise((r) => setTimeout(r, 20));
      } finally {
        await tail.stop();
      }
      assert.deepEqual(got, [1, 2, 3, 4]);
    });
  });
});
