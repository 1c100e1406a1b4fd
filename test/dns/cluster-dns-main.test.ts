/**
 * `pal-cluster-dns`: the records file (parsed with every problem reported) and the process itself on
 * loopback — ready line, answers, reload on SIGHUP (a bad file keeps the old records), clean exit.
 */
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { parseClusterDnsFile, parseListen } from '../../src/dns/cluster-dns-file.js';
import { addresses, ask, rcode } from './client.js';

const FILE = {
  options: { ttl: 10, zones: ['example.com'] },
  records: {
    services: [{ namespace: 'kube-system', name: 'kube-dns', clusterIPs: ['10.96.0.10'] }],
    hosts: [{ names: ['api.example.com'], addresses: ['192.0.2.10'] }],
  },
};

describe('cluster DNS records file', () => {
  it('a valid file builds the table it describes', () => {
    const result = parseClusterDnsFile(JSON.stringify(FILE));
    assert.ok(result.ok);
    const found = result.table.lookup('kube-dns.kube-system.svc.cluster.local', 'A');
    assert.deepEqual(found, { kind: 'answer', records: [{ type: 'A', ip: '10.96.0.10', ttl: 10 }] });
    assert.equal(result.table.lookup('nope.example.com', 'A').kind, 'nxdomain');
  });

  const bad: [string, string, string[]][] = [
    ['not JSON', '{', ['']],
    ['unknown key', JSON.stringify({ records: {}, extra: 1 }), ['']],
    [
      'wrong types',
      JSON.stringify({ records: { hosts: [{ names: 'a', addresses: [] }] } }),
      ['records.hosts.0.names'],
    ],
    [
      'bad address, reported by the table builder',
      JSON.stringify({ records: { hosts: [{ names: ['a.example.com'], addresses: ['x'] }] } }),
      ['hosts[0].names[0].ips[0]'],
    ],
  ];
  for (const [what, text, paths] of bad) {
    it(`${what} → problems at ${paths.join(', ') || '(root)'}`, () => {
      const result = parseClusterDnsFile(text);
      assert.equal(result.ok, false);
      assert.deepEqual(result.ok ? [] : result.problems.map((p) => p.path), paths);
    });
  }

  it('listen addresses', () => {
    assert.deepEqual(parseListen('10.96.0.10:53'), { host: '10.96.0.10', port: 53 });
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
    for (const text of ['10.96.0.10', 'localhost:53', '1.2.3.4:70000', '::1:53']) {
      assert.equal(parseListen(text), undefined, text);
    }
  });
});

const MAIN = fileURLToPath(new URL('../../src/dns/cluster-dns-main.js', import.meta.url));

describe('pal-cluster-dns process on loopback', () => {
  let dir = '';
  let file = '';
  let child: ChildProcessWithoutNullStreams;
  let port = 0;
  const lines: string[] = [];
  let waiters: (() => void)[] = [];
  const nextLine = async (match: RegExp): Promise<string> => {
    for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
      const found = lines.find((l) => match.test(l));
      if (found) {
        lines.splice(lines.indexOf(found), 1);
        return found;
      }
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    throw new Error(`no line matching ${match} from pal-cluster-dns`);
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pal-dns-'));
    file = join(dir, 'records.json');
    await writeFile(file, JSON.stringify(FILE));
    child = spawn(process.execPath, [MAIN, '--listen', '127.0.0.1:0', '--records', file, '--lab=test'], {
      stdio: 'pipe',
    });
    const collect = (stream: NodeJS.ReadableStream): void => {
      createInterface({ input: stream }).on('line', (line) => {
        lines.push(line);
        const w = waiters;
        waiters = [];
        for (const resolve of w) resolve();
      });
    };
    collect(child.stdout);
    collect(child.stderr);
    const ready = await nextLine(/^ready /);
    port = Number(/:(\d+)$/.exec(ready)?.[1]);
  });

  after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('answers from its records', async () => {
    assert.deepEqual(addresses((await ask(port, 'api.example.com')).packet), ['192.0.2.10']);
    assert.deepEqual(
      addresses((await ask(port, 'kube-dns.kube-system.svc.cluster.local', 'A', { tcp: true })).packet),
      ['10.96.0.10'],
    );
  });

  it('SIGHUP reloads; a bad file keeps the records in use', async () => {
    await writeFile(
      file,
      JSON.stringify({ records: { hosts: [{ names: ['api.example.com'], addresses: ['192.0.2.99'] }] } }),
    );
    child.kill('SIGHUP');
    await nextLine(/^reloaded$/);
    assert.deepEqual(addresses((await ask(port, 'api.example.com')).packet), ['192.0.2.99']);
    await writeFile(file, '{ broken');
    child.kill('SIGHUP');
    await nextLine(/reload kept the old records/);
    assert.deepEqual(addresses((await ask(port, 'api.example.com')).packet), ['192.0.2.99']);
    assert.equal(rcode((await ask(port, 'www.example.org')).packet), 'REFUSED');
  });

  it('exits 0 when its stdin closes', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.stdin.end();
    assert.equal(await exited, 0);
  });

  it('bad records at start: exit 2 with the problem named', async () => {
    await writeFile(
      file,
      JSON.stringify({ records: { hosts: [{ names: ['a.example.com'], addresses: ['x'] }] } }),
    );
    const bad = spawn(process.execPath, [MAIN, '--listen', '127.0.0.1:0', '--records', file], {
      stdio: 'pipe',
    });
    let stderr = '';
    bad.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => bad.once('exit', (c) => resolve(c)));
    assert.equal(code, 2);
    assert.match(stderr, /hosts\[0\]\.names\[0\]\.ips\[0\]/);
  });
});
