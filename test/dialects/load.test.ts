import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadPaths, readSources } from '../../src/dialects/load.js';

const pod = (name: string) => `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}}\n`;

void describe('readSources', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pal-load-'));
    await mkdir(join(dir, 'b', 'deep'), { recursive: true });
    await writeFile(join(dir, 'z.yaml'), pod('z'));
    await writeFile(join(dir, 'a.yml'), pod('a'));
    await writeFile(
      join(dir, 'b', 'c.json'),
      JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'c' } }),
    );
    await writeFile(join(dir, 'b', 'deep', 'd.YAML'), pod('d'));
    await writeFile(join(dir, 'b', 'notes.txt'), 'not a manifest');
    await writeFile(join(dir, 'explicit.txt'), pod('explicit'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void it('walks directories recursively in sorted order, manifests only', async () => {
    const { value, diagnostics } = await readSources([dir]);
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(
      value.map((s) => s.file.slice(dir.length + 1)),
      ['a.yml', join('b', 'c.json'), join('b', 'deep', 'd.YAML'), 'z.yaml'],
    );
  });

  void it('reads a file named explicitly whatever its extension, in the order given', async () => {
    const { value } = await readSources([join(dir, 'z.yaml'), join(dir, 'explicit.txt')]);
    assert.deepEqual(
      value.map((s) => s.text),
      [pod('z'), pod('explicit')],
    );
  });

  void it('turns a missing path into file-unreadable and reads the rest', async () => {
    const missing = join(dir, 'nope.yaml');
    const { value, diagnostics } = await readSources([missing, join(dir, 'a.yml')]);
    assert.deepEqual(
      diagnostics.map((d) => [d.severity, d.code, d.file, d.doc, d.path]),
      [['error', 'file-unreadable', missing, 0, '']],
    );
    assert.equal(value.length, 1);
  });

  void it("reads '-' from stdin once, however often it is named", async () => {
    let calls = 0;
    const readStdin = () => {
      calls++;
      return Promise.resolve(pod('from-stdin'));
    };
    const { value } = await readSources(['-', '-'], readStdin);
    assert.equal(calls, 1);
    assert.deepEqual(
      value.map((s) => s.file),
      ['-', '-'],
    );
  });

  void it('reports a failing stdin as file-unreadable', async () => {
    const { diagnostics } = await readSources(['-'], () => Promise.reject(new Error('closed')));
    assert.deepEqual(
      diagnostics.map((d) => [d.code, d.file]),
      [['file-unreadable', '-']],
    );
  });

  void it('loadPaths reads and parses, with diagnostics of both stages', async () => {
    const { value, diagnostics } = await loadPaths([dir, '-', join(dir, 'gone')], () =>
      Promise.resolve('apiVersion: v1\nkind: Secret\n'),
    );
    assert.deepEqual(
      value.cluster.endpoints.map((e) => e.name),
      ['a', 'c', 'd', 'z'],
    );
    assert.deepEqual(
      diagnostics.map((d) => [d.code, d.file === '-' ? '-' : d.file.slice(dir.length + 1)]),
      [
        ['file-unreadable', 'gone'],
        ['unknown-kind', '-'],
      ],
    );
  });
});

void describe('readSources with a writer in the directory', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pal-load-race-'));
    await writeFile(join(dir, 'a.yaml'), pod('a'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // A dangling link is an entry readdir lists and stat cannot find: the state of a writer's temp file
  // renamed away between the two, held still.
  void it('skips entries that are gone by the time they are looked at', async () => {
    await symlink(join(dir, 'nowhere'), join(dir, 'b.json.123.tmp'));
    await symlink(join(dir, 'nowhere'), join(dir, 'c.yaml'));
    await mkdir(join(dir, 'sub'));
    await symlink(join(dir, 'nowhere'), join(dir, 'sub', 'd.yml'));
    const { value, diagnostics } = await readSources([dir]);
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(
      value.map((s) => s.file.slice(dir.length + 1)),
      ['a.yaml'],
    );
  });

  void it('still reports a missing file named explicitly', async () => {
    const { diagnostics } = await readSources([join(dir, 'c.yaml')]);
    assert.deepEqual(
      diagnostics.map((d) => d.code),
      ['file-unreadable'],
    );
  });

  void it('never reports the directory unreadable while files are written by rename', async () => {
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 2000; i++) {
        const tmp = join(dir, `w.json.${i}.tmp`);
        await writeFile(tmp, JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `w${i}` } }));
        await rename(tmp, join(dir, 'w.json'));
      }
    })();
    try {
      for (let i = 0; i < 100; i++) {
        const { value, diagnostics } = await readSources([dir]);
        assert.deepEqual(diagnostics, [], `scan ${i}`);
        assert.ok(value.some((s) => s.file === join(dir, 'a.yaml')));
      }
    } finally {
      writing = false;
      await writer;
    }
  });
});
