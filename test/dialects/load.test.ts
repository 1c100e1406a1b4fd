import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
